/// One GGUF metadata value, in the type the file stored it as. (Not `indirect`: arrays already box their
/// elements, and boxing every scalar would cost an allocation per token in a 50k-entry vocabulary.)
///
/// The accessors convert leniently between numeric widths (an `int` is available from any integer case that fits)
/// because writers differ in the width they pick for the same key (`uint32` vs `int32` for a context length).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    /// An array; its elements all have one type (which may itself be `array`).
    case array([GGUFValue])

    /// The value as `Int` when it is an integer that fits.
    public var int: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// The value as `Double` when it is a float or an integer.
    public var double: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return int.map(Double.init)
        }
    }

    /// The value as `Float` when it is a float or an integer.
    public var float: Float? {
        if case let .float32(v) = self { return v }
        return double.map(Float.init)
    }

    /// The value when it is a bool.
    public var bool: Bool? {
        if case let .bool(v) = self { return v }
        return nil
    }

    /// The value when it is a string.
    public var string: String? {
        if case let .string(v) = self { return v }
        return nil
    }

    /// The elements when the value is an array.
    public var array: [GGUFValue]? {
        if case let .array(v) = self { return v }
        return nil
    }

    /// The elements when the value is an array of strings (e.g. `tokenizer.ggml.tokens`).
    public var strings: [String]? { mapElements(\.string) }

    /// The elements when the value is an array of integers (e.g. `tokenizer.ggml.token_type`).
    public var ints: [Int]? { mapElements(\.int) }

    /// The elements when the value is an array of numbers (e.g. `tokenizer.ggml.scores`).
    public var floats: [Float]? { mapElements(\.float) }

    /// The elements when the value is an array of bools.
    public var bools: [Bool]? { mapElements(\.bool) }

    private func mapElements<T>(_ transform: (GGUFValue) -> T?) -> [T]? {
        guard case let .array(elements) = self else { return nil }
        var result = [T]()
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let value = transform(element) else { return nil }
            result.append(value)
        }
        return result
    }
}
