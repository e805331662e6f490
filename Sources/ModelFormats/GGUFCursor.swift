/// A bounds-checked little-endian reader over the mapped GGUF header. Every read checks the remaining length
/// first and throws `GGUFError.truncated` naming what was being read, so a corrupt file can never read past the
/// mapping.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    private mutating func advance(_ count: Int, _ context: @autoclosure () -> String) throws -> Int {
        guard count >= 0, count <= remaining else {
            throw GGUFError.truncated(path: path, offset: offset, needed: count, context: context())
        }
        defer { offset += count }
        return offset
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ context: @autoclosure () -> String) throws -> T {
        let start = try advance(MemoryLayout<T>.size, context())
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: T.self))
    }

    /// A GGUF string: a UInt64 byte count, then UTF-8 bytes (not NUL-terminated).
    mutating func readString(_ context: @autoclosure () -> String) throws -> String {
        let length = try read(UInt64.self, context())
        guard length <= UInt64(remaining) else {
            throw GGUFError.truncated(path: path, offset: offset, needed: Int(clamping: length), context: context())
        }
        let start = try advance(Int(length), context())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Int(length))])
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw GGUFError.invalidString(path: path, context: context(), offset: start)
        }
        return string
    }

    /// One metadata value of GGUF value type `type` (the `gguf_type` enum); `key` is only for error messages.
    /// Arrays of arrays are read recursively; real files nest at most one level, and a file of nested array headers
    /// (12 bytes each) must not recurse until the stack overflows.
    static let maximumArrayNesting = 8

    mutating func readValue(type: UInt32, key: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try read(UInt8.self, "value of '\(key)'"))
        case 1: return .int8(try read(Int8.self, "value of '\(key)'"))
        case 2: return .uint16(try read(UInt16.self, "value of '\(key)'"))
        case 3: return .int16(try read(Int16.self, "value of '\(key)'"))
        case 4: return .uint32(try read(UInt32.self, "value of '\(key)'"))
        case 5: return .int32(try read(Int32.self, "value of '\(key)'"))
        case 6: return .float32(Float(bitPattern: try read(UInt32.self, "value of '\(key)'")))
        case 7: return .bool(try read(UInt8.self, "value of '\(key)'") != 0)
        case 8: return .string(try readString("string value of '\(key)'"))
        case 9:
            guard depth < Self.maximumArrayNesting else {
                throw GGUFError.arraysNestedTooDeep(path: path, key: key, offset: offset, limit: Self.maximumArrayNesting)
            }
            let elementType = try read(UInt32.self, "array element type of '\(key)'")
            let count = try read(UInt64.self, "array length of '\(key)'")
            // Every element takes at least one byte, so a count beyond the remaining bytes is corruption; checking
            // it here stops a hostile length from triggering a huge allocation.
            guard count <= UInt64(remaining) else {
                throw GGUFError.truncated(path: path, offset: offset, needed: Int(clamping: count),
                                          context: "array '\(key)' of \(count) elements")
            }
            var elements = [GGUFValue]()
            elements.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                elements.append(try readValue(type: elementType, key: key, depth: depth + 1))
            }
            return .array(elements)
        case 10: return .uint64(try read(UInt64.self, "value of '\(key)'"))
        case 11: return .int64(try read(Int64.self, "value of '\(key)'"))
        case 12: return .float64(Double(bitPattern: try read(UInt64.self, "value of '\(key)'")))
        default:
            throw GGUFError.invalidValueType(path: path, key: key, type: type, offset: offset)
        }
    }
}
