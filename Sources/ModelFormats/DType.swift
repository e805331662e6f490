/// The element types of a safetensors file, spelled as in its header.
public enum DType: String, CaseIterable, Sendable {
    case F64, F32, F16, BF16
    case I64, I32, I16, I8
    case U64, U32, U16, U8
    case BOOL

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .F64, .I64, .U64: return 8
        case .F32, .I32, .U32: return 4
        case .F16, .BF16, .I16, .U16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }

    /// True for the floating-point types that `floats(_:)` converts.
    public var isFloatingPoint: Bool {
        switch self {
        case .F64, .F32, .F16, .BF16: return true
        default: return false
        }
    }

    /// The position of this type in the Rust `safetensors` `Dtype` enum. The Python writer lays tensors out by
    /// this rank, largest first (so every tensor stays aligned to its element size), then by name; our writer
    /// must do the same to produce identical files.
    var pythonWriterRank: Int {
        switch self {
        case .BOOL: return 0
        case .U8: return 4
        case .I8: return 5
        case .I16: return 9
        case .U16: return 10
        case .F16: return 11
        case .BF16: return 12
        case .I32: return 13
        case .U32: return 14
        case .F32: return 15
        case .F64: return 17
        case .I64: return 18
        case .U64: return 19
        }
    }
}
