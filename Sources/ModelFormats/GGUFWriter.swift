import Foundation

/// Errors writing a GGUF file; each names the file and what was wrong.
public enum GGUFWriteError: Error, CustomStringConvertible, Equatable {
    case exists(path: String)
    case badTensor(name: String, reason: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .exists(path): return "\(path) already exists (pass --force to replace it)"
        case let .badTensor(name, reason): return "tensor '\(name)': \(reason)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}

/// Builds a GGUF v3 file (ggml's docs/gguf.md) as `GGUFFile` reads it: header, metadata key/values in insertion
/// order, tensor infos with dimensions innermost first, the data section aligned to `general.alignment` (32), each
/// tensor's data padded to the alignment.
public struct GGUFWriter {
    /// Metadata in the order it will be written.
    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    /// Tensors in the order they will be written.
    public private(set) var tensors: [(name: String, dimensions: [Int], type: GGMLType, bytes: [UInt8])] = []

    public init() {}

    /// Sets `key`, replacing an earlier value in place (so the key keeps its position).
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    /// Removes `key` if present.
    public mutating func remove(_ key: String) { metadata.removeAll { $0.key == key } }

    /// Adds a tensor of PyTorch `shape` (row-major, last dimension fastest) from `values`, converted to `type`.
    public mutating func addTensor(_ name: String, shape: [Int], values: [Float], type: GGMLType) throws {
        guard GGMLQuantizer.canQuantize(type) else { throw GGUFWriteError.badTensor(name: name, reason: "cannot write type \(type)") }
        guard !shape.isEmpty, shape.count <= 4, shape.allSatisfy({ $0 > 0 }) else {
            throw GGUFWriteError.badTensor(name: name, reason: "shape \(shape) is not 1 to 4 positive dimensions")
        }
        guard shape.reduce(1, *) == values.count else {
            throw GGUFWriteError.badTensor(name: name, reason: "\(values.count) values for shape \(shape)")
        }
        guard shape.last! % type.blockSize == 0 else {
            throw GGUFWriteError.badTensor(name: name, reason: "row length \(shape.last!) is not a multiple of the \(type) block size \(type.blockSize)")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw GGUFWriteError.badTensor(name: name, reason: "value \(values[bad]) at index \(bad) is not finite")
        }
        try addTensor(name, dimensions: shape.reversed(), type: type, bytes: GGMLQuantizer.quantize(values, as: type))
    }

    /// Adds a tensor whose data is already in `type`'s layout (e.g. copied from another GGUF file).
    public mutating func addTensor(_ name: String, dimensions: [Int], type: GGMLType, bytes: [UInt8]) throws {
        guard !tensors.contains(where: { $0.name == name }) else { throw GGUFWriteError.badTensor(name: name, reason: "added twice") }
        let elements = dimensions.reduce(1, *)
        guard elements % type.blockSize == 0, bytes.count == elements / type.blockSize * type.typeSize else {
            throw GGUFWriteError.badTensor(name: name, reason: "\(bytes.count) bytes do not hold \(elements) \(type) elements")
        }
        tensors.append((name, dimensions, type, bytes))
    }

    /// The alignment written (`general.alignment` when set, else 32).
    public var alignment: Int { metadata.first { $0.key == "general.alignment" }?.value.int ?? GGUFFile.defaultAlignment }

    /// The whole file.
    public func data() throws -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        func pad() { out.append(contentsOf: [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment)) }
        u32(GGUFFile.magic)
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, value) in metadata {
            string(key)
            u32(Self.typeID(value))
            try Self.encode(value, key: key, into: &out)
        }
        var offset = 0
        for t in tensors {
            string(t.name)
            u32(UInt32(t.dimensions.count))
            t.dimensions.forEach { u64(UInt64($0)) }
            u32(t.type.rawValue)
            u64(UInt64(offset))
            offset += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        pad()
        for t in tensors {
            out.append(contentsOf: t.bytes)
            pad()
        }
        return out
    }

    /// Writes the file to a temporary name beside `url`, then renames it into place, so a reader never sees half a
    /// file. An existing `url` is refused unless `overwrite`.
    public func write(to url: URL, overwrite: Bool = false) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: url.path) && !overwrite { throw GGUFWriteError.exists(path: url.path) }
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data().write(to: temp)
        } catch let e as GGUFWriteError {
            throw e
        } catch {
            try? fm.removeItem(at: temp)
            throw GGUFWriteError.io(path: temp.path, reason: "cannot write: \(error.localizedDescription)")
        }
        guard rename(temp.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(at: temp)
            throw GGUFWriteError.io(path: url.path, reason: "cannot rename \(temp.lastPathComponent) into place: \(reason)")
        }
    }

    // gguf_type: UINT8 0, INT8 1, UINT16 2, INT16 3, UINT32 4, INT32 5, FLOAT32 6, BOOL 7, STRING 8, ARRAY 9,
    // UINT64 10, INT64 11, FLOAT64 12.
    static func typeID(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    static func encode(_ v: GGUFValue, key: String, into out: inout Data) throws {
        func put<T: FixedWidthInteger>(_ x: T) { withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) } }
        switch v {
        case let .uint8(x): put(x)
        case let .int8(x): put(x)
        case let .uint16(x): put(x)
        case let .int16(x): put(x)
        case let .uint32(x): put(x)
        case let .int32(x): put(x)
        case let .uint64(x): put(x)
        case let .int64(x): put(x)
        case let .float32(x): put(x.bitPattern)
        case let .float64(x): put(x.bitPattern)
        case let .bool(x): put(UInt8(x ? 1 : 0))
        case let .string(s): put(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8))
        case let .array(elements):
            // An empty array still needs an element type; llama.cpp reads none of its elements.
            let type = elements.first.map(typeID) ?? 5
            guard elements.allSatisfy({ typeID($0) == type }) else {
                throw GGUFWriteError.badTensor(name: key, reason: "metadata array mixes element types")
            }
            put(type)
            put(UInt64(elements.count))
            for e in elements { try encode(e, key: key, into: &out) }
        }
    }
}
