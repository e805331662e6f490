import Foundation

/// Where one tensor lives in a safetensors file, as its header describes it.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// The tensor's name (a Hugging Face parameter path such as `model.layers.0.self_attn.q_proj.weight`).
    public let name: String
    public let dtype: DType
    /// The shape in PyTorch order (last dimension fastest). Empty for a scalar.
    public let shape: [Int]
    /// Byte range relative to the start of the data section (the `data_offsets` of the header).
    public let dataOffsets: Range<Int>

    /// Number of elements (the product of `shape`; 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped safetensors file (https://github.com/huggingface/safetensors): an 8-byte little-endian header
/// length, a JSON header, then the raw little-endian tensor data.
///
/// The whole header is validated on open, so every later accessor can only fail on a wrong name or conversion:
/// offsets lie inside the file, tensors do not overlap, and each tensor's byte length matches its shape and dtype.
public final class SafetensorsFile: @unchecked Sendable {
    /// The Python reader refuses headers over 100 MB; a larger length means a corrupt or non-safetensors file.
    public static let maximumHeaderLength: UInt64 = 100_000_000

    /// The file that was opened.
    public let url: URL
    /// The free-form string map stored under `__metadata__` (empty when absent).
    public let metadata: [String: String]
    /// Tensor names in the order their data appears in the file.
    public let tensorNames: [String]
    /// Header entries by tensor name.
    public let tensors: [String: SafetensorsTensorInfo]

    private let map: MemoryMap
    private let dataStart: Int

    /// Maps and validates the safetensors file at `url`.
    public init(url: URL) throws {
        self.url = url
        map = try MemoryMap(url: url)
        let path = url.path
        let bytes = map.bytes
        guard bytes.count >= 8 else { throw SafetensorsError.truncated(path: path, size: bytes.count) }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= Self.maximumHeaderLength, headerLength <= UInt64(bytes.count - 8) else {
            throw SafetensorsError.headerTooLarge(path: path, headerLength: headerLength, fileSize: bytes.count)
        }
        dataStart = 8 + Int(headerLength)
        let header = Data(bytes[8..<dataStart])
        let parsed = try Self.parseHeader(header, path: path, dataSize: bytes.count - dataStart)
        metadata = parsed.metadata
        tensors = parsed.tensors
        tensorNames = parsed.order
    }

    /// True when the file holds a tensor called `name`.
    public func contains(_ name: String) -> Bool { tensors[name] != nil }

    /// The header entry of tensor `name`.
    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = tensors[name] else { throw SafetensorsError.tensorNotFound(path: url.path, tensor: name) }
        return info
    }

    /// The element type of tensor `name`.
    public func dtype(_ name: String) throws -> DType { try info(name).dtype }

    /// The shape of tensor `name`, PyTorch order.
    public func shape(_ name: String) throws -> [Int] { try info(name).shape }

    /// The raw little-endian bytes of tensor `name`, pointing into the mapping: valid while this object lives.
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let range = try info(name).dataOffsets
        return UnsafeRawBufferPointer(rebasing: map.bytes[(dataStart + range.lowerBound)..<(dataStart + range.upperBound)])
    }

    /// Tensor `name` as `Float`s in row-major order, widened exactly from F16/BF16 or narrowed (rounded to
    /// nearest) from F64.
    public func floats(_ name: String) throws -> [Float] {
        let info = try info(name)
        guard info.dtype.isFloatingPoint else {
            throw SafetensorsError.unsupportedConversion(path: url.path, tensor: name, dtype: info.dtype,
                                                         to: "[Float]")
        }
        let count = info.elementCount
        guard count > 0, let base = try bytes(name).baseAddress else { return [] }
        switch info.dtype {
        case .F32:
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                for i in 0..<count {
                    out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i,
                                                                                        as: UInt32.self)))
                }
                initialized = count
            }
        case .F16:
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                HalfPrecision.convertF16(base, to: out.baseAddress!, count: count)
                initialized = count
            }
        case .BF16:
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                HalfPrecision.convertBF16(base, to: out.baseAddress!, count: count)
                initialized = count
            }
        case .F64:
            return (0..<count).map {
                Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * $0,
                                                                                 as: UInt64.self))))
            }
        default:
            throw SafetensorsError.unsupportedConversion(path: url.path, tensor: name, dtype: info.dtype,
                                                         to: "[Float]")
        }
    }

    /// Tensor `name` as `Int`s in row-major order, from any integer or BOOL dtype.
    public func integers(_ name: String) throws -> [Int] {
        let info = try info(name)
        guard !info.dtype.isFloatingPoint else {
            throw SafetensorsError.unsupportedConversion(path: url.path, tensor: name, dtype: info.dtype,
                                                         to: "[Int]")
        }
        let count = info.elementCount
        guard count > 0, let base = try bytes(name).baseAddress else { return [] }
        func load<T: FixedWidthInteger>(_: T.Type) -> [Int] {
            (0..<count).map { Int(T(littleEndian: base.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size,
                                                                      as: T.self))) }
        }
        switch info.dtype {
        case .I64: return load(Int64.self)
        case .I32: return load(Int32.self)
        case .I16: return load(Int16.self)
        case .I8: return load(Int8.self)
        case .U32: return load(UInt32.self)
        case .U16: return load(UInt16.self)
        case .U8, .BOOL: return load(UInt8.self)
        case .U64:
            var result = [Int]()
            result.reserveCapacity(count)
            for i in 0..<count {
                let value = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                guard let exact = Int(exactly: value) else {
                    throw SafetensorsError.valueOutOfRange(path: url.path, tensor: name, index: i)
                }
                result.append(exact)
            }
            return result
        case .F64, .F32, .F16, .BF16:
            throw SafetensorsError.unsupportedConversion(path: url.path, tensor: name, dtype: info.dtype,
                                                         to: "[Int]")
        }
    }

    // MARK: - Header validation

    private struct Header {
        var metadata: [String: String] = [:]
        var tensors: [String: SafetensorsTensorInfo] = [:]
        var order: [String] = []
    }

    private static func parseHeader(_ json: Data, path: String, dataSize: Int) throws -> Header {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json)
        } catch {
            throw SafetensorsError.invalidHeader(path: path, reason: "malformed JSON (\(error.localizedDescription))")
        }
        guard let entries = object as? [String: Any] else {
            throw SafetensorsError.invalidHeader(path: path, reason: "the header is not a JSON object")
        }
        var header = Header()
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let map = value as? [String: String] else {
                    throw SafetensorsError.invalidHeader(path: path, reason: "__metadata__ is not a string→string map")
                }
                header.metadata = map
                continue
            }
            header.tensors[name] = try parseEntry(name: name, value: value, path: path, dataSize: dataSize)
        }
        // File order is data order; zero-sized tensors share an offset, so the name breaks ties deterministically.
        let sorted = header.tensors.values.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name)
                < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name)
        }
        for (previous, next) in zip(sorted, sorted.dropFirst())
        where !previous.dataOffsets.isEmpty && previous.dataOffsets.upperBound > next.dataOffsets.lowerBound {
            throw SafetensorsError.overlappingTensors(path: path, first: previous.name, second: next.name)
        }
        header.order = sorted.map(\.name)
        return header
    }

    private static func parseEntry(name: String, value: Any, path: String,
                                   dataSize: Int) throws -> SafetensorsTensorInfo {
        func invalid(_ reason: String) -> SafetensorsError {
            .invalidTensorEntry(path: path, tensor: name, reason: reason)
        }
        guard let entry = value as? [String: Any] else { throw invalid("not a JSON object") }
        guard let dtypeName = entry["dtype"] as? String else { throw invalid("missing or non-string dtype") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw SafetensorsError.unknownDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard let shape = nonNegativeIntegers(entry["shape"]) else {
            throw invalid("shape must be an array of non-negative integers")
        }
        guard let offsets = nonNegativeIntegers(entry["data_offsets"]), offsets.count == 2 else {
            throw invalid("data_offsets must be two non-negative integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end, end <= dataSize else {
            throw SafetensorsError.offsetsOutOfBounds(path: path, tensor: name, begin: begin, end: end,
                                                      dataSize: dataSize)
        }
        var expected = dtype.byteSize
        for dimension in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw invalid("shape \(shape) overflows") }
            expected = product
        }
        guard expected == end - begin else {
            throw SafetensorsError.sizeMismatch(path: path, tensor: name, expectedBytes: expected,
                                                actualBytes: end - begin)
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// JSON numbers arrive as NSNumber; only whole, non-negative values that fit in Int are accepted.
    private static func nonNegativeIntegers(_ value: Any?) -> [Int]? {
        guard let numbers = value as? [NSNumber] else { return nil }
        var result = [Int]()
        for number in numbers {
            let integer = number.int64Value
            guard integer >= 0, Double(integer) == number.doubleValue else { return nil }
            result.append(Int(integer))
        }
        return result
    }
}
