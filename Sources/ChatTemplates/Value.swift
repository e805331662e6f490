import Foundation

/// A value a template works with. Dictionaries keep insertion order, as Python dicts do (`tojson` and `items()`
/// follow it). `undefined` is Jinja2's default Undefined: it prints as "", is falsy and iterates as empty, but
/// reading an attribute of it or doing arithmetic with it is an error.
public indirect enum Value: Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([Value])
    case dictionary([(String, Value)])
    case none
    case undefined
    /// A `namespace()` made while rendering: attributes shared by reference. Templates create these; callers need not.
    case namespace(Namespace)

    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        case (.bool(let x), .bool(let y)): return x == y
        // Python: True == 1 and False == 0.
        case (.bool(let x), .int(let y)), (.int(let y), .bool(let x)): return (x ? 1 : 0) == y
        case (.array(let x), .array(let y)): return x == y
        case (.dictionary(let x), .dictionary(let y)):
            return x.count == y.count && x.allSatisfy { pair in y.contains { $0.0 == pair.0 && $0.1 == pair.1 } }
        case (.none, .none), (.undefined, .undefined): return true
        case (.namespace(let x), .namespace(let y)): return x === y
        default: return false
        }
    }

    /// Converts Swift values: String, Bool, Int, Double (and other integer/float types), arrays, `[String: Any]`
    /// (keys sorted, since Swift dictionaries have no order), `KeyValuePairs`-like `[(String, Any)]`, Value, nil/NSNull.
    public init(_ any: Any?) {
        switch any {
        case nil, is NSNull: self = .none
        case let v as Value: self = v
        case let n as NSNumber where type(of: any!) is NSNumber.Type:
            // From JSONSerialization: the Objective-C type code tells a bool from an integer from a double.
            switch String(cString: n.objCType) {
            case "c", "B": self = .bool(n.boolValue)
            case "d", "f": self = .double(n.doubleValue)
            default: self = .int(n.intValue)
            }
        case let s as String: self = .string(s)
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .int(i)
        case let i as any BinaryInteger: self = .int(Int(i))
        case let d as Double: self = .double(d)
        case let f as Float: self = .double(Double(f))
        case let pairs as [(String, Any?)]: self = .dictionary(pairs.map { ($0.0, Value($0.1)) })
        case let a as [Any?]: self = .array(a.map(Value.init))
        case let d as [String: Any?]: self = .dictionary(d.keys.sorted().map { ($0, Value(d[$0]!)) })
        default: self = .string("\(any!)")
        }
    }

    /// Python truthiness.
    public var isTruthy: Bool {
        switch self {
        case .string(let s): return !s.isEmpty
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .bool(let b): return b
        case .array(let a): return !a.isEmpty
        case .dictionary(let d): return !d.isEmpty
        case .none, .undefined: return false
        case .namespace: return true
        }
    }

    /// What `{{ value }}` prints: Python's str().
    public var rendered: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        case .undefined: return ""
        case .array(let a): return "[" + a.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .dictionary(let d): return "{" + d.map { Value.string($0.0).pythonRepr + ": " + $0.1.pythonRepr }.joined(separator: ", ") + "}"
        case .namespace(let n): return "<Namespace " + Value.dictionary(n.sortedPairs).rendered + ">"
        }
    }

    /// Python's repr(), which str() uses for the items of a list or dict.
    var pythonRepr: String {
        guard case .string(let s) = self else { return rendered }
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(u) == quote { out += "\\" + String(quote) }
                else if u.value < 0x20 || u.value == 0x7F { out += String(format: "\\x%02x", u.value) }
                else { out.unicodeScalars.append(u) }
            }
        }
        return out + String(quote)
    }

    /// Jinja2's name for the type in messages ("dict object has no attribute …").
    var typeName: String {
        switch self {
        case .string: return "str"
        case .int: return "int"
        case .double: return "float"
        case .bool: return "bool"
        case .array: return "list"
        case .dictionary: return "dict"
        case .none: return "NoneType"
        case .undefined: return "Undefined"
        case .namespace: return "Namespace"
        }
    }

    /// `value[key]` / `value.key` for mappings; undefined when absent.
    subscript(key: String) -> Value {
        switch self {
        case .dictionary(let d): return d.first { $0.0 == key }?.1 ?? .undefined
        case .namespace(let n): return n.values[key] ?? .undefined
        default: return .undefined
        }
    }

    /// Elements when iterated (a dict iterates its keys, a string its characters); nil when not iterable.
    var iterated: [Value]? {
        switch self {
        case .array(let a): return a
        case .dictionary(let d): return d.map { .string($0.0) }
        case .string(let s): return s.map { .string(String($0)) }
        case .undefined: return []
        default: return nil
        }
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
                 ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral,
                 ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    /// Keeps the literal's order.
    public init(dictionaryLiteral elements: (String, Value)...) { self = .dictionary(elements) }
    public init(nilLiteral: ()) { self = .none }
}

/// The mutable storage behind `namespace()`.
public final class Namespace {
    var values: [String: Value]
    /// Insertion order, for printing and tojson.
    var order: [String]

    init(_ pairs: [(String, Value)]) {
        values = [:]
        order = []
        for (k, v) in pairs { set(k, v) }
    }

    func set(_ key: String, _ value: Value) {
        if values[key] == nil { order.append(key) }
        values[key] = value
    }

    var sortedPairs: [(String, Value)] { order.map { ($0, values[$0]!) } }
}

/// tojson as transformers defines it: json.dumps(x, ensure_ascii=False, indent=indent), whose separators are
/// ", " and ": " (or "," and ": " with an indent).
enum JSONText {
    static func encode(_ v: Value, indent: Int?, level: Int = 0) throws -> String {
        let pad = indent.map { String(repeating: " ", count: $0 * (level + 1)) }
        let closePad = indent.map { String(repeating: " ", count: $0 * level) }
        func wrap(_ items: [String], _ open: String, _ close: String) -> String {
            if items.isEmpty { return open + close }
            guard let pad, let closePad else { return open + items.joined(separator: ", ") + close }
            return open + "\n" + items.map { pad + $0 }.joined(separator: ",\n") + "\n" + closePad + close
        }
        switch v {
        case .string(let s): return string(s)
        case .int(let n): return String(n)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
            return String(d)
        case .bool(let b): return b ? "true" : "false"
        case .none: return "null"
        case .undefined: throw JSONError.undefined
        case .array(let a): return wrap(try a.map { try encode($0, indent: indent, level: level + 1) }, "[", "]")
        case .dictionary(let d):
            return wrap(try d.map { string($0.0) + ": " + (try encode($0.1, indent: indent, level: level + 1)) }, "{", "}")
        case .namespace: throw JSONError.namespace
        }
    }

    enum JSONError: Error { case undefined, namespace }

    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
