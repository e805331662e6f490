import ModelFormats

/// A dataset row filter such as `status == "ok" and similarity < 0.9`, parsed once and evaluated per row.
///
/// Grammar (lowest precedence first):
///
///     expr       := and ("or" and)*
///     and        := unary ("and" unary)*
///     unary      := "not" unary | comparison
///     comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") operand)?
///     operand    := string | number | true | false | null | field.path | "[" operand, … "]" | "(" expr ")"
///
/// A missing field is `null`. Comparisons between a number and a string are false rather than errors, so a row
/// with an unexpected type is filtered out, not fatal; `<`/`>` compare numbers with numbers and strings with strings.
public struct FilterExpression: CustomStringConvertible, Sendable {
    indirect enum Node: Sendable {
        case literal(JSONValue)
        case field(String)
        case list([Node])
        case not(Node)
        case and(Node, Node)
        case or(Node, Node)
        case compare(String, Node, Node)
    }

    public let source: String
    let root: Node

    public init(_ source: String) throws {
        self.source = source
        var parser = Parser(tokens: try Self.lex(source), source: source)
        root = try parser.expression()
        if let extra = parser.peek { throw FilterError(source: source, column: extra.column, reason: "unexpected '\(extra.text)'") }
    }

    public var description: String { source }

    /// Whether `row` passes.
    public func matches(_ row: JSONValue) -> Bool { Self.truthy(evaluate(root, row)) }

    func evaluate(_ node: Node, _ row: JSONValue) -> JSONValue {
        switch node {
        case .literal(let v): return v
        case .field(let path): return row.value(atPath: path) ?? .null
        case .list(let items): return .array(items.map { evaluate($0, row) })
        case .not(let a): return .bool(!Self.truthy(evaluate(a, row)))
        case .and(let a, let b): return .bool(Self.truthy(evaluate(a, row)) && Self.truthy(evaluate(b, row)))
        case .or(let a, let b): return .bool(Self.truthy(evaluate(a, row)) || Self.truthy(evaluate(b, row)))
        case .compare(let op, let a, let b):
            let (x, y) = (evaluate(a, row), evaluate(b, row))
            switch op {
            case "==": return .bool(Self.equal(x, y))
            case "!=": return .bool(!Self.equal(x, y))
            case "in": return .bool(Self.contains(y, x))
            case "not in": return .bool(!Self.contains(y, x))
            default:
                let ordered: Bool?
                if let p = x.numberValue, let q = y.numberValue {
                    ordered = op == "<" ? p < q : op == "<=" ? p <= q : op == ">" ? p > q : p >= q
                } else if let p = x.stringValue, let q = y.stringValue {
                    ordered = op == "<" ? p < q : op == "<=" ? p <= q : op == ">" ? p > q : p >= q
                } else { ordered = nil }
                return .bool(ordered ?? false)
            }
        }
    }

    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let p = a.numberValue, let q = b.numberValue { return p == q }
        return a == b
    }

    /// `x in y`: membership in an array, substring of a string, key of an object.
    static func contains(_ container: JSONValue, _ x: JSONValue) -> Bool {
        switch container {
        case .array(let items): return items.contains { equal($0, x) }
        case .string(let s): return x.stringValue.map { s.contains($0) } ?? false
        case .object(let o): return x.stringValue.map { o[$0] != nil } ?? false
        default: return false
        }
    }

    static func truthy(_ v: JSONValue) -> Bool {
        switch v {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        }
    }

    struct Token { var text: String; var kind: Kind; var column: Int; enum Kind { case symbol, word, string, number } }

    static func lex(_ s: String) throws -> [Token] {
        let chars = Array(s)
        var tokens: [Token] = []
        var i = 0
        while i < chars.count {
            let c = chars[i], column = i + 1
            if c.isWhitespace { i += 1; continue }
            if c == "\"" || c == "'" {
                var text = "", j = i + 1
                while j < chars.count && chars[j] != c {
                    if chars[j] == "\\" && j + 1 < chars.count {
                        j += 1
                        text.append(chars[j] == "n" ? "\n" : chars[j] == "t" ? "\t" : chars[j])
                    } else { text.append(chars[j]) }
                    j += 1
                }
                guard j < chars.count else { throw FilterError(source: s, column: column, reason: "unterminated string") }
                tokens.append(Token(text: text, kind: .string, column: column))
                i = j + 1
            } else if c.isNumber || (c == "-" && i + 1 < chars.count && chars[i + 1].isNumber) {
                var j = i + 1
                while j < chars.count && (chars[j].isNumber || chars[j] == "." || chars[j] == "e" || chars[j] == "E"
                                          || ((chars[j] == "-" || chars[j] == "+") && (chars[j - 1] == "e" || chars[j - 1] == "E"))) { j += 1 }
                tokens.append(Token(text: String(chars[i..<j]), kind: .number, column: column))
                i = j
            } else if c.isLetter || c == "_" {
                var j = i + 1
                while j < chars.count && (chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || chars[j] == ".") { j += 1 }
                tokens.append(Token(text: String(chars[i..<j]), kind: .word, column: column))
                i = j
            } else {
                let two = i + 1 < chars.count ? String(chars[i...i + 1]) : ""
                if ["==", "!=", "<=", ">="].contains(two) {
                    tokens.append(Token(text: two, kind: .symbol, column: column)); i += 2
                } else if "<>()[],".contains(c) {
                    tokens.append(Token(text: String(c), kind: .symbol, column: column)); i += 1
                } else if c == "=" {
                    throw FilterError(source: s, column: column, reason: "'=' is not an operator; use '=='")
                } else {
                    throw FilterError(source: s, column: column, reason: "unexpected character '\(c)'")
                }
            }
        }
        return tokens
    }

    struct Parser {
        var tokens: [Token]
        var source: String
        var index = 0
        var peek: Token? { index < tokens.count ? tokens[index] : nil }

        mutating func take(_ text: String) -> Bool {
            if let t = peek, t.text == text, t.kind == .symbol || t.kind == .word { index += 1; return true }
            return false
        }

        func fail(_ expected: String) -> FilterError {
            FilterError(source: source, column: peek?.column ?? source.count + 1,
                        reason: "expected \(expected), found \(peek.map { "'\($0.text)'" } ?? "the end")")
        }

        mutating func expression() throws -> Node {
            var node = try conjunction()
            while take("or") { node = .or(node, try conjunction()) }
            return node
        }

        mutating func conjunction() throws -> Node {
            var node = try unary()
            while take("and") { node = .and(node, try unary()) }
            return node
        }

        mutating func unary() throws -> Node {
            if take("not") { return .not(try unary()) }
            let left = try operand()
            for op in ["==", "!=", "<=", ">=", "<", ">", "in"] where take(op) { return .compare(op, left, try operand()) }
            if let t = peek, t.text == "not", index + 1 < tokens.count, tokens[index + 1].text == "in" {
                index += 2
                return .compare("not in", left, try operand())
            }
            return left
        }

        mutating func operand() throws -> Node {
            guard let t = peek else { throw fail("a value or a field name") }
            switch t.kind {
            case .string: index += 1; return .literal(.string(t.text))
            case .number:
                index += 1
                if let i = Int64(t.text) { return .literal(.int(i)) }
                guard let d = Double(t.text) else { throw FilterError(source: source, column: t.column, reason: "bad number '\(t.text)'") }
                return .literal(.double(d))
            case .word:
                if ["and", "or", "not", "in"].contains(t.text) { throw fail("a value or a field name") }
                index += 1
                switch t.text {
                case "true": return .literal(.bool(true))
                case "false": return .literal(.bool(false))
                case "null": return .literal(.null)
                default: return .field(t.text)
                }
            case .symbol:
                if take("(") {
                    let inner = try expression()
                    guard take(")") else { throw fail("')'") }
                    return inner
                }
                if take("[") {
                    var items: [Node] = []
                    if !take("]") {
                        repeat { items.append(try operand()) } while take(",")
                        guard take("]") else { throw fail("',' or ']'") }
                    }
                    return .list(items)
                }
                throw fail("a value or a field name")
            }
        }
    }
}

/// A filter that does not parse, with the column where it went wrong.
public struct FilterError: Error, CustomStringConvertible, Equatable {
    public var source: String
    public var column: Int
    public var reason: String
    public var description: String { "filter \"\(source)\", column \(column): \(reason)" }
}
