import Foundation

/// Python semantics of Jinja2's operators, slicing and the comparisons `sort` uses.
enum Operators {
    static func number(_ v: Value) -> Double? {
        switch v {
        case .int(let n): return Double(n)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    private static func integer(_ v: Value) -> Int? {
        switch v {
        case .int(let n): return n
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// Python's `<` for the types templates compare.
    static func lessThan(_ a: Value, _ b: Value) throws -> Bool {
        if case .string(let x) = a, case .string(let y) = b {
            // Python compares strings by code point.
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars)
        }
        if let x = number(a), let y = number(b) { return x < y }
        if case .array(let x) = a, case .array(let y) = b {
            for (p, q) in zip(x, y) where p != q { return try lessThan(p, q) }
            return x.count < y.count
        }
        throw ComparisonError(left: a.typeName, right: b.typeName)
    }

    struct ComparisonError: Error, CustomStringConvertible {
        var left: String, right: String
        var description: String { "'<' not supported between instances of '\(left)' and '\(right)'" }
    }

    /// `needle in haystack`.
    static func contains(_ haystack: Value, _ needle: Value, at location: SourceLocation) throws -> Bool {
        switch haystack {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw TemplateError.runtime("'in <string>' requires string as left operand, not \(needle.typeName)", at: location)
            }
            return n.isEmpty || s.contains(n)
        case .array(let xs): return xs.contains(needle)
        case .dictionary(let d):
            guard case .string(let key) = needle else { return false }
            return d.contains { $0.0 == key }
        case .undefined, .none, .namespace, .int, .double, .bool:
            throw TemplateError.runtime("argument of type '\(haystack.typeName)' is not iterable", at: location)
        }
    }

    static func binary(_ op: String, _ a: Value, _ b: Value, at location: SourceLocation) throws -> Value {
        func fail() -> TemplateError {
            if case .undefined = a { return .runtime("undefined value used in '\(op)'", at: location) }
            if case .undefined = b { return .runtime("undefined value used in '\(op)'", at: location) }
            return .runtime("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'", at: location)
        }
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "~": return .string(a.rendered + b.rendered)
        case "in": return .bool(try contains(b, a, at: location))
        case "<", ">", "<=", ">=":
            do {
                switch op {
                case "<": return .bool(try lessThan(a, b))
                case ">": return .bool(try lessThan(b, a))
                case "<=": return .bool(try !lessThan(b, a))
                default: return .bool(try !lessThan(a, b))
                }
            } catch let error as ComparisonError {
                throw TemplateError.runtime(error.description, at: location)
            }
        default: break
        }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)): return .string(x + y)
        case ("+", .array(let x), .array(let y)): return .array(x + y)
        case ("*", .string(let s), _) where integer(b) != nil:
            let count = try repetitionCount(integer(b)!, unit: s.utf8.count, at: location)
            return .string(String(repeating: s, count: count))
        case ("*", .array(let xs), _) where integer(b) != nil:
            let count = try repetitionCount(integer(b)!, unit: xs.count, at: location)
            return .array(Array([[Value]](repeating: xs, count: count).joined()))
        default: break
        }
        if let x = integer(a), let y = integer(b) {
            switch op {
            // Python's integers are unbounded; ours are 64-bit, so overflow is an error rather than a trap.
            case "+": return .int(try checked(x.addingReportingOverflow(y), op, at: location))
            case "-": return .int(try checked(x.subtractingReportingOverflow(y), op, at: location))
            case "*": return .int(try checked(x.multipliedReportingOverflow(by: y), op, at: location))
            case "/":
                guard y != 0 else { throw TemplateError.runtime("division by zero", at: location) }
                return .double(Double(x) / Double(y))
            case "//", "%":
                guard y != 0 else { throw TemplateError.runtime("integer division or modulo by zero", at: location) }
                // Python floors toward negative infinity.
                // Int.min // -1 is the one quotient that does not fit; Int.min % -1 is 0.
                if y == -1 { return op == "//" ? .int(try checked(0.subtractingReportingOverflow(x), op, at: location)) : .int(0) }
                var q = x / y
                if (x % y != 0) && ((x < 0) != (y < 0)) { q -= 1 }
                return .int(op == "//" ? q : x - q * y)
            case "**":
                if y >= 0 { return .int(try power(x, y, at: location)) }
                return .double(pow(Double(x), Double(y)))
            default: break
            }
        }
        guard let x = number(a), let y = number(b) else { throw fail() }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/", "//", "%":
            guard y != 0 else { throw TemplateError.runtime("float division by zero", at: location) }
            if op == "/" { return .double(x / y) }
            let q = (x / y).rounded(.down)
            return .double(op == "//" ? q : x - q * y)
        case "**": return .double(pow(x, y))
        default: throw fail()
        }
    }

    /// Python's `sequence[start:stop:step]`.
    static func slice<T>(_ a: [T], _ start: Int?, _ stop: Int?, _ step: Int) -> [T] {
        let n = a.count
        func clamp(_ i: Int, _ low: Int, _ high: Int) -> Int { Swift.max(low, Swift.min(high, i < 0 ? i + n : i)) }
        var result: [T] = []
        if step > 0 {
            var i = start.map { clamp($0, 0, n) } ?? 0
            let end = stop.map { clamp($0, 0, n) } ?? n
            while i < end { result.append(a[i]); i += step }
        } else {
            var i = start.map { clamp($0, -1, n - 1) } ?? n - 1
            let end = stop.map { clamp($0, -1, n - 1) } ?? -1
            while i > end { result.append(a[i]); i += step }
        }
        return result
    }
}

/// The Python str and dict methods templates call (`content.strip()`, `message.get('x')`, …).
enum Methods {
    static func call(_ name: String, on v: Value, _ args: [Value], _ keywords: [(String, Value)],
                     at location: SourceLocation) throws -> Value {
        func argument(_ index: Int, _ key: String) -> Value? {
            index < args.count ? args[index] : keywords.first { $0.0 == key }?.1
        }
        func fail(_ message: String) -> TemplateError { .runtime(message, at: location) }
        switch v {
        case .string(let s):
            switch name {
            case "strip": return .string(strip(s, argument(0, "chars"), leading: true, trailing: true))
            case "lstrip": return .string(strip(s, argument(0, "chars"), leading: true, trailing: false))
            case "rstrip": return .string(strip(s, argument(0, "chars"), leading: false, trailing: true))
            case "upper": return .string(s.uppercased())
            case "lower": return .string(s.lowercased())
            case "title": return .string(title(s))
            case "capitalize": return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
            case "startswith", "endswith":
                guard let a = args.first else { throw fail("\(name) needs an argument") }
                let candidates = a.iterated.map { a.isString ? [a] : $0 } ?? [a]
                return .bool(candidates.contains { c in name == "startswith" ? s.hasPrefix(c.rendered) : s.hasSuffix(c.rendered) })
            case "replace":
                guard args.count >= 2 else { throw fail("replace needs the old and new strings") }
                return .string(replace(s, args[0].rendered, args[1].rendered, count: argument(2, "count")))
            case "split", "rsplit":
                let maxSplit: Int = { if case .int(let n)? = argument(1, "maxsplit") { return n }; return -1 }()
                if let separator = argument(0, "sep"), separator != .none {
                    let sep = separator.rendered
                    guard !sep.isEmpty else { throw fail("empty separator") }
                    var parts = s.components(separatedBy: sep)
                    if maxSplit >= 0 && parts.count > maxSplit + 1 {
                        if name == "split" {
                            parts = Array(parts[..<maxSplit]) + [parts[maxSplit...].joined(separator: sep)]
                        } else {
                            let cut = parts.count - maxSplit
                            parts = [parts[..<cut].joined(separator: sep)] + Array(parts[cut...])
                        }
                    }
                    return .array(parts.map { .string($0) })
                }
                return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
            case "splitlines": return .array(s.split(separator: "\n", omittingEmptySubsequences: false).map { .string(String($0)) })
            case "find":
                guard let n = args.first?.rendered, let r = s.range(of: n) else { return .int(-1) }
                return .int(s.distance(from: s.startIndex, to: r.lowerBound))
            case "count": return .int(s.components(separatedBy: args.first?.rendered ?? "").count - 1)
            case "isdigit": return .bool(!s.isEmpty && s.allSatisfy(\.isNumber))
            case "isspace": return .bool(!s.isEmpty && s.allSatisfy(\.isWhitespace))
            case "join": return .string((args.first?.iterated ?? []).map(\.rendered).joined(separator: s))
            default: break
            }
        case .dictionary(let d):
            switch name {
            case "items": return .array(d.map { .array([.string($0.0), $0.1]) })
            case "keys": return .array(d.map { .string($0.0) })
            case "values": return .array(d.map(\.1))
            case "get":
                let found = v[args.first?.rendered ?? ""]
                if case .undefined = found { return argument(1, "default") ?? .none }
                return found
            default: break
            }
        case .undefined:
            throw fail("undefined value has no method '\(name)'")
        default: break
        }
        throw fail("'\(v.typeName)' object has no attribute '\(name)'")
    }

    /// Python's str.strip family: whitespace, or the characters given.
    static func strip(_ s: String, _ characters: Value?, leading: Bool, trailing: Bool) -> String {
        let set: (Character) -> Bool
        if let characters, characters != .none { let chars = Set(characters.rendered); set = { chars.contains($0) } }
        else { set = { $0.isWhitespace } }
        var sub = Substring(s)
        if leading { sub = sub.drop(while: set) }
        if trailing { while let last = sub.last, set(last) { sub.removeLast() } }
        return String(sub)
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Value?) -> String {
        guard case .int(let limit)? = count, limit >= 0 else { return s.replacingOccurrences(of: old, with: new) }
        var out = s, done = 0, searchFrom = out.startIndex
        while done < limit, let r = out.range(of: old, range: searchFrom..<out.endIndex), !old.isEmpty {
            out.replaceSubrange(r, with: new)
            searchFrom = out.index(r.lowerBound, offsetBy: new.count)
            done += 1
        }
        return out
    }

    /// Python's str.title: a cased character after an uncased one starts a word.
    static func title(_ s: String) -> String {
        var out = "", previousCased = false
        for c in s {
            out += previousCased ? c.lowercased() : c.uppercased()
            previousCased = c.isCased
        }
        return out
    }
}

extension Value {
    var isString: Bool { if case .string = self { return true }; return false }
}

/// Bounds on what one template operation may build: a chat template renders a few kilobytes, so a product that
/// passes these is a hostile or broken template, reported instead of allocated.
enum TemplateLimits {
    /// Elements (array repetition, range()) or UTF-8 bytes (string repetition) one operation may produce. Jinja2's
    /// sandbox caps range() at 100,000 items (MAX_RANGE) for the same reason.
    static let maximumProduct = 1 << 24
    /// Loop iterations in one render (a chat template loops over the messages, a few thousand at most).
    static let maximumIterations = 1_000_000
    /// Macro calls in progress at once. Rendering recurses on the thread's stack, which may be a 512 KiB
    /// secondary-thread stack.
    static let maximumMacroDepth = 64
    /// Nesting of blocks ({% if %}, {% for %}, …) and of brackets/operators in one expression: the parser is
    /// recursive descent, so an input of 100k '(' must stop with an error before the stack does.
    static let maximumNesting = 64
    /// Operators, calls and filters in one {{ }} or {% %} tag (see ExpressionParser.chained).
    static let maximumLinks = 512
}

private func checked(_ result: (partialValue: Int, overflow: Bool), _ op: String, at location: SourceLocation) throws -> Int {
    guard !result.overflow else {
        throw TemplateError.runtime("integer overflow in '\(op)' (template integers are 64-bit)", at: location)
    }
    return result.partialValue
}

/// x ** y for y ≥ 0 by squaring, so a huge exponent is not a huge loop; overflow is an error.
private func power(_ x: Int, _ y: Int, at location: SourceLocation) throws -> Int {
    var result = 1, base = x, exponent = y
    while exponent > 0 {
        if exponent & 1 == 1 { result = try checked(result.multipliedReportingOverflow(by: base), "**", at: location) }
        exponent >>= 1
        if exponent > 0 { base = try checked(base.multipliedReportingOverflow(by: base), "**", at: location) }
    }
    return result
}

/// The count for `sequence * n`, refused when the result would exceed `TemplateLimits.maximumProduct`.
private func repetitionCount(_ n: Int, unit: Int, at location: SourceLocation) throws -> Int {
    let count = Swift.max(0, n)
    let (size, overflow) = count.multipliedReportingOverflow(by: Swift.max(unit, 1))
    guard !overflow, size <= TemplateLimits.maximumProduct else {
        throw TemplateError.runtime("repeating a sequence \(n) times would build more than "
                                    + "\(TemplateLimits.maximumProduct) items", at: location)
    }
    return count
}
