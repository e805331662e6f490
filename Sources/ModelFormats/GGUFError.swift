/// Everything that can be wrong with a GGUF file. Each case names the file and the key or tensor involved, and
/// the byte offset where reading went wrong, so a corrupt download can be told from an unsupported model.
public enum GGUFError: Error, CustomStringConvertible, Equatable {
    case badMagic(path: String, found: UInt32)
    case unsupportedVersion(path: String, version: UInt32)
    case truncated(path: String, offset: Int, needed: Int, context: String)
    case invalidValueType(path: String, key: String, type: UInt32, offset: Int)
    case arraysNestedTooDeep(path: String, key: String, offset: Int, limit: Int)
    case invalidString(path: String, context: String, offset: Int)
    case duplicateKey(path: String, key: String)
    case invalidAlignment(path: String, alignment: Int)
    case unknownTensorType(path: String, tensor: String, type: UInt32)
    case invalidTensor(path: String, tensor: String, reason: String)
    case tensorDataOutOfBounds(path: String, tensor: String, offset: Int, size: Int, fileSize: Int)
    case tensorNotFound(path: String, tensor: String)
    case unsupportedType(path: String, tensor: String, type: GGMLType)
    case rowOutOfRange(path: String, tensor: String, row: Int, rows: Int)

    public var description: String {
        switch self {
        case let .badMagic(path, found):
            let hex = String(found, radix: 16)
            return "\(path): not a GGUF file (magic 0x\(hex), expected 0x46554747 \"GGUF\")"
        case let .unsupportedVersion(path, version):
            return "\(path): GGUF version \(version) is not supported (only 2 and 3, little-endian)"
        case let .truncated(path, offset, needed, context):
            return "\(path): truncated: \(context) needs \(needed) bytes at offset \(offset), past the end of the file"
        case let .invalidValueType(path, key, type, offset):
            return "\(path): key '\(key)': unknown value type \(type) for the value at offset \(offset)"
        case let .arraysNestedTooDeep(path, key, offset, limit):
            return "\(path): key '\(key)': arrays nested more than \(limit) deep at offset \(offset) (a corrupt file)"
        case let .invalidString(path, context, offset):
            return "\(path): \(context): invalid UTF-8 string at offset \(offset)"
        case let .duplicateKey(path, key):
            return "\(path): duplicate metadata key '\(key)'"
        case let .invalidAlignment(path, alignment):
            return "\(path): general.alignment \(alignment) is not a positive power of two"
        case let .unknownTensorType(path, tensor, type):
            return "\(path): tensor '\(tensor)': unknown GGML type id \(type)"
        case let .invalidTensor(path, tensor, reason):
            return "\(path): tensor '\(tensor)': \(reason)"
        case let .tensorDataOutOfBounds(path, tensor, offset, size, fileSize):
            return "\(path): tensor '\(tensor)': data at offset \(offset) (\(size) bytes) extends past the end of "
                + "the \(fileSize)-byte file"
        case let .tensorNotFound(path, tensor):
            return "\(path): no tensor named '\(tensor)'"
        case let .unsupportedType(path, tensor, type):
            return "\(path): tensor '\(tensor)': GGML type \(type) is not supported for dequantization"
        case let .rowOutOfRange(path, tensor, row, rows):
            return "\(path): tensor '\(tensor)': row \(row) is out of range (0..<\(rows))"
        }
    }
}
