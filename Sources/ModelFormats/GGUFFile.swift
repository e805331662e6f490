import Foundation

/// Where one tensor lives in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// Dimensions in GGUF order: `dimensions[0]` (ggml's ne0) varies fastest, i.e. it is the row length.
    public let dimensions: [Int]
    /// Byte offset of the data, relative to the start of the file's data section.
    public let offset: Int
    /// Byte length of the data.
    public let byteCount: Int

    /// The shape in PyTorch order (`dimensions` reversed): a `[4096, 11008]` GGUF matrix is `[11008, 4096]`.
    public var shape: [Int] { dimensions.reversed() }
    /// Number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }
    /// Elements per row (ne0; the last PyTorch dimension).
    public var rowLength: Int { dimensions.first ?? 1 }
    /// Number of rows (the product of all dimensions but the first).
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }
    /// Bytes per row: rows always hold whole blocks, because ne0 is a multiple of the block size.
    public var rowByteCount: Int { rowLength / type.blockSize * type.typeSize }
}

/// A memory-mapped GGUF file (llama.cpp's model format, versions 2 and 3): metadata key/values, tensor infos,
/// then aligned tensor data that may be quantized.
///
/// Everything in the header is read through a bounds-checked cursor and every tensor's data range is checked
/// against the file size when opening, so a truncated or corrupt file fails with an error naming the file, the
/// key or tensor, and the offset, never with a crash.
public final class GGUFFile: @unchecked Sendable {
    /// "GGUF" read as a little-endian UInt32.
    public static let magic: UInt32 = 0x4655_4747
    /// The alignment of the data section and of each tensor when `general.alignment` is absent.
    public static let defaultAlignment = 32

    public let url: URL
    /// The format version (2 or 3).
    public let version: UInt32
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensorInfos: [GGUFTensorInfo]
    /// The data alignment in force (`general.alignment`, else 32).
    public let alignment: Int
    /// Absolute byte offset of the data section in the file.
    public let dataOffset: Int

    private let map: MemoryMap
    private let tensorIndex: [String: Int]

    /// Maps and validates the GGUF file at `url`.
    public init(url: URL) throws {
        self.url = url
        map = try MemoryMap(url: url)
        let path = url.path
        var cursor = GGUFCursor(bytes: map.bytes, path: path)

        let magic = try cursor.read(UInt32.self, "magic")
        guard magic == Self.magic else { throw GGUFError.badMagic(path: path, found: magic) }
        version = try cursor.read(UInt32.self, "version")
        // Version 1 used 32-bit counts; a byte-swapped version means a big-endian file.
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(path: path, version: version) }
        let tensorCount = try cursor.read(UInt64.self, "tensor count")
        let keyCount = try cursor.read(UInt64.self, "metadata key count")

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        guard keyCount <= UInt64(cursor.remaining) else {
            throw GGUFError.truncated(path: path, offset: cursor.offset, needed: Int(clamping: keyCount),
                                      context: "\(keyCount) metadata entries")
        }
        for index in 0..<Int(keyCount) {
            let key = try cursor.readString("key of metadata entry \(index)")
            let type = try cursor.read(UInt32.self, "value type of '\(key)'")
            let value = try cursor.readValue(type: type, key: key)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw GGUFError.duplicateKey(path: path, key: key)
            }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        let alignment = metadata["general.alignment"]?.int ?? Self.defaultAlignment
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw GGUFError.invalidAlignment(path: path, alignment: alignment)
        }
        self.alignment = alignment

        guard tensorCount <= UInt64(cursor.remaining) else {
            throw GGUFError.truncated(path: path, offset: cursor.offset, needed: Int(clamping: tensorCount),
                                      context: "\(tensorCount) tensor infos")
        }
        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        infos.reserveCapacity(Int(tensorCount))
        for position in 0..<Int(tensorCount) {
            let info = try Self.readTensorInfo(&cursor, position: position, alignment: alignment)
            guard index.updateValue(infos.count, forKey: info.name) == nil else {
                throw GGUFError.invalidTensor(path: path, tensor: info.name, reason: "duplicate tensor name")
            }
            infos.append(info)
        }
        // The data section starts at the next multiple of the alignment after the header, even past the end of
        // a file that has no tensors.
        dataOffset = (cursor.offset + alignment - 1) / alignment * alignment
        for info in infos {
            let (end, overflow) = (dataOffset + info.offset).addingReportingOverflow(info.byteCount)
            guard !overflow, end <= map.bytes.count else {
                throw GGUFError.tensorDataOutOfBounds(path: path, tensor: info.name, offset: dataOffset + info.offset,
                                                      size: info.byteCount, fileSize: map.bytes.count)
            }
        }
        tensorInfos = infos
        tensorIndex = index
    }

    private static func readTensorInfo(_ cursor: inout GGUFCursor, position: Int,
                                       alignment: Int) throws -> GGUFTensorInfo {
        let path = cursor.path
        let name = try cursor.readString("name of tensor \(position)")
        let dimensionCount = try cursor.read(UInt32.self, "dimension count of '\(name)'")
        // ggml tensors have at most 4 dimensions (GGML_MAX_DIMS).
        guard dimensionCount <= 4 else {
            throw GGUFError.invalidTensor(path: path, tensor: name, reason: "\(dimensionCount) dimensions (max 4)")
        }
        var dimensions: [Int] = []
        var elements = 1
        for axis in 0..<Int(dimensionCount) {
            let size = try cursor.read(UInt64.self, "dimension \(axis) of '\(name)'")
            guard size <= UInt64(Int32.max) * 64, case let (product, false) = elements.multipliedReportingOverflow(
                by: Int(size)) else {
                throw GGUFError.invalidTensor(path: path, tensor: name, reason: "dimension \(axis) = \(size) is too large")
            }
            elements = product
            dimensions.append(Int(size))
        }
        let typeID = try cursor.read(UInt32.self, "type of '\(name)'")
        guard let type = GGMLType(rawValue: typeID) else {
            throw GGUFError.unknownTensorType(path: path, tensor: name, type: typeID)
        }
        let offset = try cursor.read(UInt64.self, "data offset of '\(name)'")
        guard offset <= UInt64(Int.max / 2) else {
            throw GGUFError.tensorDataOutOfBounds(path: path, tensor: name, offset: Int(clamping: offset), size: 0,
                                                  fileSize: cursor.bytes.count)
        }
        guard Int(offset) % alignment == 0 else {
            throw GGUFError.invalidTensor(path: path, tensor: name,
                                          reason: "data offset \(offset) is not a multiple of the alignment \(alignment)")
        }
        let rowLength = dimensions.first ?? 1
        guard rowLength % type.blockSize == 0 else {
            throw GGUFError.invalidTensor(path: path, tensor: name, reason: "row length \(rowLength) is not a "
                                          + "multiple of the \(type) block size \(type.blockSize)")
        }
        let byteCount = elements / type.blockSize * type.typeSize
        return GGUFTensorInfo(name: name, type: type, dimensions: dimensions, offset: Int(offset),
                              byteCount: byteCount)
    }

    // MARK: - Tensors

    /// Tensor names in file order.
    public var tensorNames: [String] { tensorInfos.map(\.name) }

    /// True when the file holds a tensor called `name`.
    public func contains(_ name: String) -> Bool { tensorIndex[name] != nil }

    /// The info of tensor `name`.
    public func info(_ name: String) throws -> GGUFTensorInfo {
        guard let position = tensorIndex[name] else { throw GGUFError.tensorNotFound(path: url.path, tensor: name) }
        return tensorInfos[position]
    }

    /// The raw (possibly quantized) bytes of tensor `name`, pointing into the mapping: valid while this object
    /// lives. Row r occupies bytes `r * rowByteCount ..< (r + 1) * rowByteCount`.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(name)
        let start = dataOffset + info.offset
        return UnsafeRawBufferPointer(rebasing: map.bytes[start..<(start + info.byteCount)])
    }

    /// Tensor `name` dequantized to `Float`s in row-major PyTorch order (see `GGUFTensorInfo.shape`).
    public func floats(_ name: String) throws -> [Float] {
        let info = try dequantizableInfo(name)
        let count = info.elementCount
        guard count > 0 else { return [] }
        let source = try rawBytes(name).baseAddress!
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            GGMLDequantizer.dequantize(info.type, from: source, count: count, into: out.baseAddress!)
            initialized = count
        }
    }

    /// Tensor `name` dequantized into `destination` (elementCount floats), without an intermediate array.
    public func dequantize(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        let info = try dequantizableInfo(name)
        guard info.elementCount > 0 else { return }
        GGMLDequantizer.dequantize(info.type, from: try rawBytes(name).baseAddress!, count: info.elementCount, into: destination)
    }

    /// Dequantizes row `row` of tensor `name` (`rowLength` floats) into `destination`, without touching the rest
    /// of the tensor — so matrices can stay quantized in memory and be expanded one row at a time.
    public func dequantizeRow(_ name: String, row: Int, into destination: UnsafeMutablePointer<Float>) throws {
        let info = try dequantizableInfo(name)
        guard row >= 0, row < info.rowCount else {
            throw GGUFError.rowOutOfRange(path: url.path, tensor: name, row: row, rows: info.rowCount)
        }
        guard info.rowLength > 0 else { return }
        let source = try rawBytes(name).baseAddress! + row * info.rowByteCount
        GGMLDequantizer.dequantize(info.type, from: source, count: info.rowLength, into: destination)
    }

    private func dequantizableInfo(_ name: String) throws -> GGUFTensorInfo {
        let info = try info(name)
        guard info.type.isDequantizable else {
            throw GGUFError.unsupportedType(path: url.path, tensor: name, type: info.type)
        }
        return info
    }

    // MARK: - Metadata

    /// `general.architecture` (e.g. "llama"), the prefix of the model's hyperparameter keys.
    public var architecture: String? { metadata["general.architecture"]?.string }

    /// The metadata value for `key`.
    public subscript(key: String) -> GGUFValue? { metadata[key] }
}
