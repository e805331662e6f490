/// Everything that can be wrong with a safetensors file, checkpoint or write request. Each case names the file
/// (and the tensor, where there is one) so a user can tell which of many shards is broken.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case truncated(path: String, size: Int)
    case headerTooLarge(path: String, headerLength: UInt64, fileSize: Int)
    case invalidHeader(path: String, reason: String)
    case invalidTensorEntry(path: String, tensor: String, reason: String)
    case unknownDType(path: String, tensor: String, dtype: String)
    case offsetsOutOfBounds(path: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case overlappingTensors(path: String, first: String, second: String)
    case sizeMismatch(path: String, tensor: String, expectedBytes: Int, actualBytes: Int)
    case tensorNotFound(path: String, tensor: String)
    case unsupportedConversion(path: String, tensor: String, dtype: DType, to: String)
    case valueOutOfRange(path: String, tensor: String, index: Int)
    case noCheckpoint(directory: String)
    case invalidIndex(path: String, reason: String)
    case missingShard(path: String, shard: String, tensor: String)
    case invalidTensorForWriting(tensor: String, reason: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .truncated(path, size):
            return "\(path): not a safetensors file: \(size) bytes is too short for the 8-byte header length"
        case let .headerTooLarge(path, length, size):
            return "\(path): header length \(length) is implausible (file is \(size) bytes, limit 100000000)"
        case let .invalidHeader(path, reason):
            return "\(path): invalid safetensors header: \(reason)"
        case let .invalidTensorEntry(path, tensor, reason):
            return "\(path): tensor '\(tensor)': invalid header entry: \(reason)"
        case let .unknownDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)': unknown dtype '\(dtype)'"
        case let .offsetsOutOfBounds(path, tensor, begin, end, dataSize):
            return "\(path): tensor '\(tensor)': data offsets [\(begin), \(end)) lie outside the \(dataSize)-byte "
                + "data section"
        case let .overlappingTensors(path, first, second):
            return "\(path): tensors '\(first)' and '\(second)' overlap"
        case let .sizeMismatch(path, tensor, expected, actual):
            return "\(path): tensor '\(tensor)': shape × dtype needs \(expected) bytes but its offsets span \(actual)"
        case let .tensorNotFound(path, tensor):
            return "\(path): no tensor named '\(tensor)'"
        case let .unsupportedConversion(path, tensor, dtype, to):
            return "\(path): tensor '\(tensor)': cannot convert \(dtype.rawValue) to \(to)"
        case let .valueOutOfRange(path, tensor, index):
            return "\(path): tensor '\(tensor)': element \(index) does not fit in Int"
        case let .noCheckpoint(directory):
            return "\(directory): neither model.safetensors nor model.safetensors.index.json exists"
        case let .invalidIndex(path, reason):
            return "\(path): invalid checkpoint index: \(reason)"
        case let .missingShard(path, shard, tensor):
            return "\(path): shard '\(shard)' (holding tensor '\(tensor)') does not exist"
        case let .invalidTensorForWriting(tensor, reason):
            return "cannot write tensor '\(tensor)': \(reason)"
        case let .writeFailed(path, reason):
            return "\(path): write failed: \(reason)"
        }
    }
}
