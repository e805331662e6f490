import Foundation

/// Jinja2's built-in filters and tests (the ones chat templates use), plus transformers' `tojson`.
enum Filters {
    typealias Keywords = [(String, Value)]

    static func apply(_ name: String, _ v: Value, _ args: [Value], _ keywords: Keywords, at location: SourceLocation) throws -> Value {
        /// The argument given by position `index` or by keyword `key`.
        func argument(_ index: Int, _ key: String) -> Value? {
            index < args.count ? args[index] : keywords.first { $0.0 == key }?.1
        }
        func fail(_ message: String) -> TemplateError { .runtime(message, at: location) }
        func items() throws -> [Value] {
            guard let items = v.iterated else { throw fail("'\(v.typeName)' object is not iterable") }
            return items
        }
        switch name {
        case "trim":
            return .string(Methods.strip(v.rendered, argument(0, "chars"), leading: true, trailing: true))
        case "length", "count":
            if case .string(let s) = v { return .int(s.count) }
            if case .namespace = v { throw fail("object of type 'Namespace' has no len()") }
            return .int(try items().count)
        case "upper": return .string(v.rendered.uppercased())
        case "lower": return .string(v.rendered.lowercased())
        case "title":
            // Jinja2 capitalizes each piece split at runs of `-`, whitespace and opening brackets.
            var out = "", atWordStart = true
            for c in v.rendered {
                if c == "-" || c.isWhitespace || "({[<".contains(c) { out.append(c); atWordStart = true; continue }
                out += atWordStart ? c.uppercased() : c.lowercased()
                atWordStart = false
            }
            return .string(out)
        case "capitalize":
            let s = v.rendered
            return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "default", "d":
            let fallback = argument(0, "default_value") ?? .string("")
            if case .undefined = v { return fallback }
            if argument(1, "boolean")?.isTruthy == true && !v.isTruthy { return fallback }
            return v
        case "join":
            let separator = argument(0, "d")?.rendered ?? ""
            var list = try items()
            if let attribute = argument(1, "attribute")?.rendered { list = list.map { $0[attribute] } }
            return .string(list.map(\.rendered).joined(separator: separator))
        case "first": return try items().first ?? .undefined
        case "last": return try items().last ?? .undefined
        case "list": return .array(try items())
        case "reverse":
            if case .string(let s) = v { return .string(String(s.reversed())) }
            return .array(try items().reversed())
        case "replace":
            guard args.count >= 2 else { throw fail("replace needs the old and new strings") }
            return .string(Methods.replace(v.rendered, args[0].rendered, args[1].rendered, count: argument(2, "count")))
        case "tojson":
            let indent: Int? = { if case .int(let n)? = argument(0, "indent") { return n }; return nil }()
            var value = v
            if argument(3, "sort_keys")?.isTruthy == true { value = sortedKeys(v) }
            do { return .string(try JSONText.encode(value, indent: indent)) }
            catch { throw fail("Object of type \(v.typeName) is not JSON serializable") }
        case "string": return .string(v.rendered)
        case "int":
            let fallback = argument(0, "default") ?? .int(0)
            // Python's int() truncates toward zero into an unbounded integer; ours are 64-bit, so a value past
            // Int.max (1e300) is an error rather than an Int(_:) trap.
            func truncated(_ d: Double) throws -> Value {
                guard let i = Int(exactly: d.rounded(.towardZero)) else { throw fail("int(\(d)) does not fit 64 bits") }
                return .int(i)
            }
            switch v {
            case .int: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return d.isFinite ? try truncated(d) : fallback
            case .string(let s):
                let t = s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
                if let n = Int(t) { return .int(n) }
                if let d = Double(t), d.isFinite { return try truncated(d) }
                return fallback
            default: return fallback
            }
        case "float":
            let fallback = argument(0, "default") ?? .double(0)
            switch v {
            case .int(let n): return .double(Double(n))
            case .double: return v
            case .bool(let b): return .double(b ? 1 : 0)
            case .string(let s): return Double(s.trimmingCharacters(in: .whitespaces)).map { .double($0) } ?? fallback
            default: return fallback
            }
        case "abs":
            switch v {
            case .int(let n):
                guard n != .min else { throw fail("integer overflow in abs() (template integers are 64-bit)") }
                return .int(abs(n))
            case .double(let d): return .double(abs(d))
            case .bool(let b): return .int(b ? 1 : 0)
            default: throw fail("bad operand type for abs(): '\(v.typeName)'")
            }
        case "round":
            guard let x = Operators.number(v) else { throw fail("cannot round '\(v.typeName)'") }
            let precision: Int = { if case .int(let n)? = argument(0, "precision") { return n }; return 0 }()
            let scale = pow(10.0, Double(precision))
            let rule: FloatingPointRoundingRule
            switch argument(1, "method")?.rendered ?? "common" {
            case "ceil": rule = .up
            case "floor": rule = .down
            default: rule = .toNearestOrEven  // Python's round()
            }
            return .double((x * scale).rounded(rule) / scale)
        case "items":
            switch v {
            case .dictionary(let d): return .array(d.map { .array([.string($0.0), $0.1]) })
            case .undefined: return .array([])
            default: throw fail("can only get item pairs from a mapping")
            }
        case "safe": return v
        case "escape", "e", "forceescape":
            return .string(v.rendered.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&#34;")
                .replacingOccurrences(of: "'", with: "&#39;"))
        case "unique":
            let caseSensitive = argument(0, "case_sensitive")?.isTruthy ?? false
            let attribute = argument(1, "attribute")?.rendered
            var seen: [Value] = [], out: [Value] = []
            for item in try items() {
                let key = comparisonKey(attribute.map { item[$0] } ?? item, caseSensitive: caseSensitive)
                if !seen.contains(key) { seen.append(key); out.append(item) }
            }
            return .array(out)
        case "sort":
            let reverse = argument(0, "reverse")?.isTruthy ?? false
            let caseSensitive = argument(1, "case_sensitive")?.isTruthy ?? false
            let attribute = argument(2, "attribute")?.rendered
            let keyed = try items().map { item in (comparisonKey(attribute.map { item[$0] } ?? item, caseSensitive: caseSensitive), item) }
            var failure: TemplateError?
            let sorted = keyed.sorted { a, b in
                do { return try Operators.lessThan(reverse ? b.0 : a.0, reverse ? a.0 : b.0) }
                catch { failure = fail("cannot sort: \(error)"); return false }
            }
            if let failure { throw failure }
            return .array(sorted.map(\.1))
        case "selectattr", "rejectattr", "select", "reject":
            let byAttribute = name.hasSuffix("attr")
            var rest = args[...]
            let attribute = byAttribute ? rest.popFirst()?.rendered : nil
            if byAttribute && attribute == nil { throw fail("\(name) needs an attribute name") }
            let testName = rest.popFirst()?.rendered
            let keepMatches = name.hasPrefix("select")
            return .array(try items().filter { item in
                let subject = attribute.map { item[$0] } ?? item
                let passes = try testName.map { try test($0, subject, Array(rest), at: location) } ?? subject.isTruthy
                return passes == keepMatches
            })
        case "map":
            if let attribute = keywords.first(where: { $0.0 == "attribute" })?.1.rendered {
                let fallback = keywords.first { $0.0 == "default" }?.1
                return .array(try items().map { item in
                    let value = item[attribute]
                    if case .undefined = value, let fallback { return fallback }
                    return value
                })
            }
            guard let filterName = args.first?.rendered else { throw fail("map needs a filter name or attribute=") }
            return .array(try items().map { try apply(filterName, $0, Array(args.dropFirst()), keywords, at: location) })
        case "indent":
            let width: Int = { if case .int(let n)? = argument(0, "width") { return n }; return 4 }()
            let first = argument(1, "first")?.isTruthy ?? false, blank = argument(2, "blank")?.isTruthy ?? false
            let pad = String(repeating: " ", count: width)
            let lines = v.rendered.components(separatedBy: "\n")
            return .string(lines.enumerated().map { i, line in
                (i == 0 && !first) || (line.isEmpty && !blank) ? line : pad + line
            }.joined(separator: "\n"))
        case "sum":
            var total: Value = argument(1, "start") ?? .int(0)
            for item in try items() { total = try Operators.binary("+", total, item, at: location) }
            return total
        case "min", "max":
            let list = try items()
            guard var best = list.first else { return .undefined }
            for item in list.dropFirst() where try name == "min" ? Operators.lessThan(item, best) : Operators.lessThan(best, item) {
                best = item
            }
            return best
        case "wordcount":
            return .int(v.rendered.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "_" }).count)
        default:
            throw fail("no filter named '\(name)'")
        }
    }

    /// Jinja2's `sort` and `unique` compare strings case-insensitively unless asked not to.
    private static func comparisonKey(_ v: Value, caseSensitive: Bool) -> Value {
        if !caseSensitive, case .string(let s) = v { return .string(s.lowercased()) }
        return v
    }

    private static func sortedKeys(_ v: Value) -> Value {
        switch v {
        case .dictionary(let d): return .dictionary(d.sorted { $0.0 < $1.0 }.map { ($0.0, sortedKeys($0.1)) })
        case .array(let a): return .array(a.map(sortedKeys))
        default: return v
        }
    }

    static func test(_ name: String, _ v: Value, _ args: [Value], at location: SourceLocation) throws -> Bool {
        let other = args.first ?? .undefined
        switch name {
        case "defined": if case .undefined = v { return false }; return true
        case "undefined": if case .undefined = v { return true }; return false
        case "none": if case .none = v { return true }; return false
        case "string": if case .string = v { return true }; return false
        case "number": switch v { case .int, .double, .bool: return true; default: return false }
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "mapping": if case .dictionary = v { return true }; return false
        // Jinja2 asks Python whether the value supports iteration / len and indexing; Undefined does.
        case "iterable", "sequence": switch v { case .array, .string, .dictionary, .undefined: return true; default: return false }
        case "callable": return false
        case "odd", "even":
            guard case .int(let n) = v else { throw TemplateError.runtime("'\(name)' needs an integer", at: location) }
            return (n % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard case .int(let n) = v, case .int(let d) = other, d != 0 else {
                throw TemplateError.runtime("'divisibleby' needs integers", at: location)
            }
            return n % d == 0
        case "equalto", "eq", "==", "sameas": return v == other
        case "ne", "!=": return v != other
        case "lt", "<": return try Operators.lessThan(v, other)
        case "le", "<=": return try !Operators.lessThan(other, v)
        case "gt", ">": return try Operators.lessThan(other, v)
        case "ge", ">=": return try !Operators.lessThan(v, other)
        case "in": return try Operators.contains(other, v, at: location)
        case "lower": return v.rendered == v.rendered.lowercased()
        case "upper": return v.rendered == v.rendered.uppercased()
        default: throw TemplateError.runtime("no test named '\(name)'", at: location)
        }
    }
}
