import Foundation

/// Jinja's operators, filters, tests and the Python string/dict methods chat templates call.
enum Builtins {
    static func slice<T>(_ a: [T], _ lo: Int?, _ hi: Int?, _ step: Int) -> [T] {
        let n = a.count
        func clamp(_ i: Int, _ low: Int, _ high: Int) -> Int { Swift.max(low, Swift.min(high, i < 0 ? i + n : i)) }
        var result: [T] = []
        if step > 0 {
            var i = lo.map { clamp($0, 0, n) } ?? 0
            let end = hi.map { clamp($0, 0, n) } ?? n
            while i < end { result.append(a[i]); i += step }
        } else if step < 0 {
            var i = lo.map { clamp($0, -1, n - 1) } ?? n - 1
            let end = hi.map { clamp($0, -1, n - 1) } ?? -1
            while i > end { result.append(a[i]); i += step }
        }
        return result
    }

    static func number(_ v: Value) -> Double? {
        switch v {
        case .int(let n): return Double(n)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    static func binary(_ op: String, _ a: Value, _ b: Value, line: Int) throws -> Value {
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "~": return .string(a.rendered + b.rendered)
        case "in":
            switch b {
            case .string(let s): return .bool(s.contains(a.rendered))
            case .array(let xs): return .bool(xs.contains(a))
            case .dictionary(let d): return .bool(d.contains { $0.0 == a.rendered })
            case .namespace(let n): return .bool(n.values[a.rendered] != nil)
            default: return .bool(false)
            }
        default: break
        }
        if case .string(let x) = a, case .string(let y) = b {
            switch op {
            case "+": return .string(x + y)
            case "<": return .bool(x < y)
            case ">": return .bool(x > y)
            case "<=": return .bool(x <= y)
            case ">=": return .bool(x >= y)
            default: break
            }
        }
        if case .array(let x) = a, case .array(let y) = b, op == "+" { return .array(x + y) }
        if case .string(let s) = a, case .int(let n) = b, op == "*" { return .string(String(repeating: s, count: Swift.max(0, n))) }
        guard let x = number(a), let y = number(b) else {
            throw TemplateError.runtime("unsupported operands for \(op): \(a.pythonRepr) and \(b.pythonRepr)", line: line)
        }
        let integers: Bool = { if case .double = a { return false }; if case .double = b { return false }; return true }()
        func wrap(_ d: Double) -> Value { integers ? .int(Int(d)) : .double(d) }
        switch op {
        case "+": return wrap(x + y)
        case "-": return wrap(x - y)
        case "*": return wrap(x * y)
        case "/": return .double(x / y)
        case "//": return wrap((x / y).rounded(.down))
        case "%": return wrap(x - y * (x / y).rounded(.down))
        case "<": return .bool(x < y)
        case ">": return .bool(x > y)
        case "<=": return .bool(x <= y)
        case ">=": return .bool(x >= y)
        default: throw TemplateError.runtime("unknown operator \(op)", line: line)
        }
    }

    static func test(_ name: String, _ v: Value, _ args: [Value], line: Int) throws -> Bool {
        switch name {
        case "defined": if case .undefined = v { return false }; return true
        case "undefined": if case .undefined = v { return true }; return false
        case "none": if case .none = v { return true }; return false
        case "string": if case .string = v { return true }; return false
        case "number": if case .int = v { return true }; if case .double = v { return true }; return false
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": return v == .bool(true)
        case "false": return v == .bool(false)
        case "mapping": if case .dictionary = v { return true }; if case .namespace = v { return true }; return false
        case "sequence", "iterable":
            switch v { case .array, .string, .dictionary: return true; default: return false }
        case "odd": if case .int(let n) = v { return n % 2 != 0 }; return false
        case "even": if case .int(let n) = v { return n % 2 == 0 }; return false
        case "equalto", "eq", "sameas": return v == (args.first ?? .undefined)
        default: throw TemplateError.runtime("unknown test '\(name)'", line: line)
        }
    }

    static func filter(_ name: String, _ v: Value, _ args: [Value], _ kwargs: [(String, Value)], line: Int) throws -> Value {
        func kw(_ k: String) -> Value? { kwargs.first { $0.0 == k }?.1 }
        switch name {
        case "trim": return .string(v.rendered.trimmingCharacters(in: .whitespacesAndNewlines))
        case "length", "count":
            if case .string(let s) = v { return .int(s.count) }
            return .int(v.iterated?.count ?? 0)
        case "upper": return .string(v.rendered.uppercased())
        case "lower": return .string(v.rendered.lowercased())
        case "title": return .string(v.rendered.capitalized)
        case "capitalize": let s = v.rendered; return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "default", "d":
            let useOnFalsy = (args.count > 1 && args[1].isTruthy) || (kw("boolean")?.isTruthy ?? false)
            if case .undefined = v { return args.first ?? .string("") }
            if useOnFalsy && !v.isTruthy { return args.first ?? .string("") }
            return v
        case "join":
            let sep = args.first?.rendered ?? kw("d")?.rendered ?? ""
            let attr = kw("attribute")?.rendered
            return .string((v.iterated ?? []).map { item in attr.map { item[$0].rendered } ?? item.rendered }.joined(separator: sep))
        case "first": return v.iterated?.first ?? .undefined
        case "last": return v.iterated?.last ?? .undefined
        case "list": return .array(v.iterated ?? [])
        case "reverse":
            if case .string(let s) = v { return .string(String(s.reversed())) }
            return .array((v.iterated ?? []).reversed())
        case "replace":
            guard args.count >= 2 else { throw TemplateError.runtime("replace needs two arguments", line: line) }
            return .string(v.rendered.replacingOccurrences(of: args[0].rendered, with: args[1].rendered))
        case "tojson":
            let indent: Int? = { if case .int(let n)? = kw("indent") ?? args.first { return n }; return nil }()
            return .string(JSONText.encode(v, indent: indent, level: 0))
        case "string": return .string(v.rendered)
        case "int": return .int(Int(number(v) ?? Double(v.rendered.trimmingCharacters(in: .whitespaces)) ?? 0))
        case "float": return .double(number(v) ?? Double(v.rendered) ?? 0)
        case "abs": if case .int(let n) = v { return .int(abs(n)) }; return .double(abs(number(v) ?? 0))
        case "round":
            let digits: Int = { if case .int(let n)? = args.first { return n }; return 0 }()
            let p = pow(10.0, Double(digits))
            return .double(((number(v) ?? 0) * p).rounded() / p)
        case "items":
            guard case .dictionary(let d) = v else { return .array([]) }
            return .array(d.map { .array([.string($0.0), $0.1]) })
        case "safe", "escape", "e", "forceescape":
            if name == "safe" { return v }
            return .string(v.rendered.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&#34;").replacingOccurrences(of: "'", with: "&#39;"))
        case "unique":
            var out: [Value] = []
            for x in v.iterated ?? [] where !out.contains(x) { out.append(x) }
            return .array(out)
        case "sort":
            let attr = kw("attribute")?.rendered
            let items = v.iterated ?? []
            return .array(items.sorted { a, b in
                let (x, y) = attr.map { (a[$0], b[$0]) } ?? (a, b)
                if let p = number(x), let q = number(y) { return p < q }
                return x.rendered < y.rendered
            })
        case "selectattr", "rejectattr":
            guard let attr = args.first?.rendered else { throw TemplateError.runtime("\(name) needs an attribute", line: line) }
            let keep = try (v.iterated ?? []).filter { item in
                let value = item[attr]
                let ok = args.count > 1 ? try test(args[1].rendered, value, Array(args.dropFirst(2)), line: line) : value.isTruthy
                return name == "selectattr" ? ok : !ok
            }
            return .array(keep)
        case "map":
            if let attr = kw("attribute")?.rendered { return .array((v.iterated ?? []).map { $0[attr] }) }
            guard let f = args.first?.rendered else { return v }
            return .array(try (v.iterated ?? []).map { try filter(f, $0, Array(args.dropFirst()), [], line: line) })
        case "indent":
            let width: Int = { if case .int(let n)? = args.first { return n }; return 4 }()
            let pad = String(repeating: " ", count: width)
            return .string(v.rendered.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                .map { $0.offset == 0 || $0.element.isEmpty ? String($0.element) : pad + $0.element }.joined(separator: "\n"))
        default: throw TemplateError.runtime("unknown filter '\(name)'", line: line)
        }
    }

    static func method(_ name: String, on v: Value, _ args: [Value], _ kwargs: [(String, Value)], line: Int) throws -> Value {
        if case .string(let s) = v {
            let chars = args.first.map { CharacterSet(charactersIn: $0.rendered) } ?? .whitespacesAndNewlines
            switch name {
            case "strip": return .string(s.trimmingCharacters(in: chars))
            case "lstrip": return .string(String(s.drop { $0.unicodeScalars.allSatisfy(chars.contains) }))
            case "rstrip": return .string(String(s.reversed().drop { $0.unicodeScalars.allSatisfy(chars.contains) }.reversed()))
            case "upper": return .string(s.uppercased())
            case "lower": return .string(s.lowercased())
            case "title": return .string(s.capitalized)
            case "capitalize": return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
            case "startswith": return .bool(args.contains { s.hasPrefix($0.rendered) } || args.contains { a in a.iterated?.contains { s.hasPrefix($0.rendered) } ?? false })
            case "endswith": return .bool(args.contains { s.hasSuffix($0.rendered) })
            case "replace":
                guard args.count >= 2 else { throw TemplateError.runtime("replace needs two arguments", line: line) }
                return .string(s.replacingOccurrences(of: args[0].rendered, with: args[1].rendered))
            case "split":
                if let sep = args.first?.rendered { return .array(s.components(separatedBy: sep).map { .string($0) }) }
                return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
            case "format":
                var out = s
                for a in args { if let r = out.range(of: "{}") { out.replaceSubrange(r, with: a.rendered) } }
                return .string(out)
            default: break
            }
        }
        if case .dictionary(let d) = v {
            switch name {
            case "items": return .array(d.map { .array([.string($0.0), $0.1]) })
            case "keys": return .array(d.map { .string($0.0) })
            case "values": return .array(d.map(\.1))
            case "get":
                let r = v[args.first?.rendered ?? ""]
                if case .undefined = r { return args.count > 1 ? args[1] : .none }
                return r
            default: break
            }
        }
        throw TemplateError.runtime("unknown method '\(name)' on \(v.pythonRepr)", line: line)
    }

    /// strftime → DateFormatter pattern for the codes templates use.
    static func dateFormat(fromStrftime f: String) -> String {
        let map: [Character: String] = ["Y": "yyyy", "m": "MM", "d": "dd", "B": "MMMM", "b": "MMM", "H": "HH", "M": "mm", "S": "ss", "A": "EEEE", "a": "EEE", "y": "yy"]
        var out = ""
        var chars = Array(f)[...]
        while let c = chars.popFirst() {
            if c == "%", let code = chars.popFirst() { out += map[code] ?? String(code) }
            else if c.isLetter { out += "'\(c)'" } else { out.append(c) }
        }
        return out
    }
}

/// tojson as transformers defines it: json.dumps(x, ensure_ascii=False, indent=indent) (", " and ": " separators).
enum JSONText {
    static func encode(_ v: Value, indent: Int?, level: Int) -> String {
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
        case .double(let d): return d == d.rounded() && abs(d) < 1e16 ? String(format: "%.1f", d) : String(d)
        case .bool(let b): return b ? "true" : "false"
        case .none, .undefined: return "null"
        case .array(let a): return wrap(a.map { encode($0, indent: indent, level: level + 1) }, "[", "]")
        case .dictionary(let d): return wrap(d.map { string($0.0) + ": " + encode($0.1, indent: indent, level: level + 1) }, "{", "}")
        case .namespace(let n): return encode(.dictionary(n.values.sorted { $0.key < $1.key }), indent: indent, level: level)
        }
    }

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
