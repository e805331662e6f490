import Foundation

/// Expression syntax tree.
indirect enum Expr {
    case literal(Value)
    case name(String)
    case list([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String)
    case subscriptAccess(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, [Expr], [(String, Expr)])
    case filter(Expr, String, [Expr], [(String, Expr)])
    case test(Expr, String, [Expr], negated: Bool)
    case unary(String, Expr)
    case binary(String, Expr, Expr)
    case conditional(Expr, Expr, Expr?)  // then, condition, else
}

/// Tokens of an expression.
enum Token: Equatable {
    case name(String), string(String), int(Int), double(Double), op(String), end
}

struct ExpressionTokenizer {
    static func tokens(_ src: String, line: Int) throws -> [Token] {
        let s = Array(src)
        var out: [Token] = []
        var i = 0
        while i < s.count {
            let c = s[i]
            if c.isWhitespace { i += 1; continue }
            if c.isLetter || c == "_" {
                var j = i
                while j < s.count, s[j].isLetter || s[j].isNumber || s[j] == "_" { j += 1 }
                out.append(.name(String(s[i..<j]))); i = j; continue
            }
            if c.isNumber {
                var j = i
                while j < s.count, s[j].isNumber || s[j] == "_" { j += 1 }
                if j + 1 < s.count, s[j] == ".", s[j + 1].isNumber {
                    j += 1
                    while j < s.count, s[j].isNumber { j += 1 }
                    out.append(.double(Double(String(s[i..<j]))!))
                } else { out.append(.int(Int(String(s[i..<j]).replacingOccurrences(of: "_", with: ""))!)) }
                i = j; continue
            }
            if c == "'" || c == "\"" {
                var j = i + 1
                var value = ""
                while j < s.count, s[j] != c {
                    if s[j] == "\\", j + 1 < s.count {
                        j += 1
                        switch s[j] {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        case "r": value.append("\r")
                        case "\\": value.append("\\")
                        case "'": value.append("'")
                        case "\"": value.append("\"")
                        default: value.append("\\"); value.append(s[j])
                        }
                    } else { value.append(s[j]) }
                    j += 1
                }
                guard j < s.count else { throw TemplateError.syntax("unterminated string", line: line) }
                out.append(.string(value)); i = j + 1; continue
            }
            let two = i + 1 < s.count ? String(s[i...i + 1]) : ""
            if ["==", "!=", "<=", ">=", "//", "**"].contains(two) { out.append(.op(two)); i += 2; continue }
            if "+-*/%<>()[]{}.,:|~=".contains(c) { out.append(.op(String(c))); i += 1; continue }
            throw TemplateError.syntax("unexpected character '\(c)'", line: line)
        }
        out.append(.end)
        return out
    }
}

/// Recursive-descent parser with Jinja's precedence: conditional < or < and < not < comparison/in/is < ~ < +,-
/// < *,/,//,% < unary < power < postfix (attribute, subscript, call, filter).
struct ExpressionParser {
    var tokens: [Token]
    var position = 0
    let line: Int

    init(_ src: String, line: Int) throws {
        tokens = try ExpressionTokenizer.tokens(src, line: line)
        self.line = line
    }

    var current: Token { tokens[position] }
    mutating func advance() -> Token { defer { position += 1 }; return tokens[position] }
    func error(_ m: String) -> TemplateError { .syntax(m, line: line) }

    mutating func accept(_ op: String) -> Bool {
        if current == .op(op) || current == .name(op) { position += 1; return true }
        return false
    }

    mutating func expect(_ op: String) throws {
        guard accept(op) else { throw error("expected '\(op)', found \(current)") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let n) = advance() else { throw error("expected a name") }
        return n
    }

    var atEnd: Bool { current == .end }

    mutating func parseExpression(allowConditional: Bool = true) throws -> Expr {
        let value = try parseOr()
        if allowConditional, accept("if") {
            let condition = try parseOr()
            let otherwise = accept("else") ? try parseExpression() : nil
            return .conditional(value, condition, otherwise)
        }
        return value
    }

    mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        while accept("or") { left = .binary("or", left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        while accept("and") { left = .binary("and", left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws -> Expr {
        if accept("not") { return .unary("not", try parseNot()) }
        return try parseComparison()
    }

    mutating func parseComparison() throws -> Expr {
        var left = try parseConcat()
        while true {
            if case .op(let o) = current, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                position += 1
                left = .binary(o, left, try parseConcat())
            } else if accept("in") {
                left = .binary("in", left, try parseConcat())
            } else if current == .name("not"), tokens[position + 1] == .name("in") {
                position += 2
                left = .unary("not", .binary("in", left, try parseConcat()))
            } else if accept("is") {
                let negated = accept("not")
                let name = try expectName()
                var args: [Expr] = []
                if accept("(") {
                    while !accept(")") { args.append(try parseExpression()); _ = accept(",") }
                } else if case .string = current { args.append(try parsePrimary()) }
                else if case .int = current { args.append(try parsePrimary()) }
                left = .test(left, name, args, negated: negated)
            } else { return left }
        }
    }

    mutating func parseConcat() throws -> Expr {
        var left = try parseAdditive()
        while accept("~") { left = .binary("~", left, try parseAdditive()) }
        return left
    }

    mutating func parseAdditive() throws -> Expr {
        var left = try parseMultiplicative()
        while case .op(let o) = current, o == "+" || o == "-" {
            position += 1
            left = .binary(o, left, try parseMultiplicative())
        }
        return left
    }

    mutating func parseMultiplicative() throws -> Expr {
        var left = try parseUnary()
        while case .op(let o) = current, ["*", "/", "//", "%"].contains(o) {
            position += 1
            left = .binary(o, left, try parseUnary())
        }
        return left
    }

    mutating func parseUnary() throws -> Expr {
        if accept("-") { return .unary("-", try parseUnary()) }
        if accept("+") { return try parseUnary() }
        return try parsePostfix(try parsePrimary())
    }

    mutating func parsePostfix(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            if accept(".") {
                e = .attribute(e, try expectName())
            } else if accept("[") {
                var parts: [Expr?] = [nil]
                var isSlice = false
                while !accept("]") {
                    if accept(":") { isSlice = true; parts.append(nil); continue }
                    parts[parts.count - 1] = try parseExpression()
                }
                if isSlice {
                    while parts.count < 3 { parts.append(nil) }
                    e = .slice(e, parts[0], parts[1], parts[2])
                } else {
                    guard let index = parts[0] else { throw error("empty subscript") }
                    e = .subscriptAccess(e, index)
                }
            } else if accept("(") {
                let (args, kwargs) = try parseArguments()
                e = .call(e, args, kwargs)
            } else if accept("|") {
                let name = try expectName()
                var (args, kwargs): ([Expr], [(String, Expr)]) = ([], [])
                if accept("(") { (args, kwargs) = try parseArguments() }
                e = .filter(e, name, args, kwargs)
            } else { return e }
        }
    }

    /// After "(": positional and keyword arguments up to ")".
    mutating func parseArguments() throws -> ([Expr], [(String, Expr)]) {
        var args: [Expr] = [], kwargs: [(String, Expr)] = []
        while !accept(")") {
            if case .name(let n) = current, tokens[position + 1] == .op("=") {
                position += 2
                kwargs.append((n, try parseExpression()))
            } else { args.append(try parseExpression()) }
            if !accept(",") { try expect(")"); break }
        }
        return (args, kwargs)
    }

    mutating func parsePrimary() throws -> Expr {
        switch advance() {
        case .string(var s):
            while case .string(let more) = current { s += more; position += 1 }  // adjacent literals concatenate
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let e = try parseExpression()
            if accept(",") {  // a tuple: treated as a list
                var items = [e]
                while !accept(")") { items.append(try parseExpression()); _ = accept(",") }
                return .list(items)
            }
            try expect(")")
            return e
        case .op("["):
            var items: [Expr] = []
            while !accept("]") { items.append(try parseExpression()); if !accept(",") { try expect("]"); break } }
            return .list(items)
        case .op("{"):
            var pairs: [(Expr, Expr)] = []
            while !accept("}") {
                let k = try parseExpression()
                try expect(":")
                pairs.append((k, try parseExpression()))
                if !accept(",") { try expect("}"); break }
            }
            return .dict(pairs)
        case let t: throw error("unexpected \(t)")
        }
    }
}
