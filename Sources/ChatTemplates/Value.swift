import Foundation

/// A Jinja value. Dictionaries keep insertion order (tojson and `items()` iterate in it, as Python dicts do).
public indirect enum Value: Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([Value])
    case dictionary([(String, Value)])
    case none
    case undefined
    /// A `namespace()` object: mutable attributes shared by reference.
    case namespace(NamespaceBox)

    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.dictionary(let x), .dictionary(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.none, .none), (.undefined, .undefined): return true
        case (.namespace(let x), .namespace(let y)): return x === y
        default: return false
        }
    }

    /// Builds a value from Swift values (String, Int, Double, Bool, arrays, [String: Any], nil).
    public init(_ any: Any?) {
        switch any {
        case nil: self = .none
        case let v as Value: self = v
        case let s as String: self = .string(s)
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .int(i)
        case let d as Double: self = .double(d)
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

    /// What `{{ value }}` prints (Python's str()).
    public var rendered: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e16 ? String(format: "%.1f", d) : String(d)
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        case .undefined: return ""
        case .array(let a): return "[" + a.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .dictionary(let d): return "{" + d.map { "'\($0.0)': \($0.1.pythonRepr)" }.joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
        }
    }

    var pythonRepr: String {
        if case .string(let s) = self { return "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'" }
        return rendered
    }

    subscript(key: String) -> Value {
        switch self {
        case .dictionary(let d): return d.first { $0.0 == key }?.1 ?? .undefined
        case .namespace(let n): return n.values[key] ?? .undefined
        default: return .undefined
        }
    }

    /// Elements when iterated (a dict iterates its keys, a string its characters).
    var iterated: [Value]? {
        switch self {
        case .array(let a): return a
        case .dictionary(let d): return d.map { .string($0.0) }
        case .string(let s): return s.map { .string(String($0)) }
        case .undefined, .none: return []
        default: return nil
        }
    }
}

/// The mutable storage behind `namespace()`.
public final class NamespaceBox {
    var values: [String: Value]
    init(_ values: [String: Value]) { self.values = values }
}
