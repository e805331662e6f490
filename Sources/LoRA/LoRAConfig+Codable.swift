import Foundation

/// `Codable` with PEFT's snake_case keys, so a LoRAConfig can sit inside any Codable document (JSON or YAML).
/// Both directions go through the same key table as adapter_config.json, so validation and the preserved unknown
/// keys behave identically however the config arrives.
extension LoRAConfig: Codable {
    public init(from decoder: Decoder) throws {
        let value = try JSONValue(from: decoder)
        guard case .object = value, let object = value.foundationObject as? [String: Any] else {
            throw LoRAConfigError(key: "", message: "expected an object of LoRA settings", source: decoder.codingPath.pathString)
        }
        try self.init(json: object, source: decoder.codingPath.isEmpty ? "lora config" : decoder.codingPath.pathString)
    }

    public func encode(to encoder: Encoder) throws {
        try JSONValue(foundation: jsonObject()).encode(to: encoder)
    }
}

/// A JSON value for carrying arbitrary keys through Codable.
enum JSONValue: Codable {
    case null, bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// The JSONSerialization form (NSNumber booleans are distinguishable from numbers by their objCType "c").
    var foundationObject: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return NSNumber(value: b)
        case .int(let i): return NSNumber(value: i)
        case .double(let d): return NSNumber(value: d)
        case .string(let s): return s
        case .array(let a): return a.map(\.foundationObject)
        case .object(let o): return o.mapValues(\.foundationObject)
        }
    }

    init(foundation v: Any) {
        switch v {
        case is NSNull: self = .null
        // Every number and boolean, native or from JSONSerialization, arrives as an NSNumber; on Linux an NSNumber 1
        // also casts to Bool, so the kind must come from objCType ("c" = boolean, "d"/"f" = floating point).
        case let n as NSNumber:
            switch String(cString: n.objCType) {
            case "c": self = .bool(n.boolValue)
            case "d", "f": self = .double(n.doubleValue)
            default: self = .int(n.intValue)
            }
        case let s as String: self = .string(s)
        case let a as [Any]: self = .array(a.map(JSONValue.init(foundation:)))
        case let o as [String: Any]: self = .object(o.mapValues(JSONValue.init(foundation:)))
        default: self = .string("\(v)")
        }
    }
}

private extension Array where Element == CodingKey {
    var pathString: String { map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
}
