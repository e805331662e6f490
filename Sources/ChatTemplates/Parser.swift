/// Parses the lexer's pieces into statement nodes; each tag body is tokenized and read by ExpressionParser.
struct TemplateParser {
    private var pieces: [TemplateLexer.Piece]
    private var index = 0
    /// Blocks open around the current position (see `TemplateLimits.maximumNesting`).
    private var depth = 0

    init(source: String) throws { pieces = try TemplateLexer.pieces(source) }

    mutating func parse() throws -> [Node] {
        let (nodes, end) = try parseBlock(until: [])
        if let end { throw TemplateError.syntax("unexpected '\(end.keyword)'", at: end.parser.location) }
        return nodes
    }

    /// A tag that ended a block: its keyword and a parser positioned after it.
    private typealias BlockEnd = (keyword: String, parser: ExpressionParser)

    /// Nodes up to a statement whose keyword is in `until`.
    private mutating func parseBlock(until: Set<String>) throws -> ([Node], BlockEnd?) {
        var nodes: [Node] = []
        var lastLocation = SourceLocation(line: 1, column: 1)
        depth += 1
        defer { depth -= 1 }
        if depth > TemplateLimits.maximumNesting, index > 0, case .statement(_, let location) = pieces[index - 1] {
            throw TemplateError.syntax("blocks nested more than \(TemplateLimits.maximumNesting) deep", at: location)
        }
        while index < pieces.count {
            let piece = pieces[index]
            index += 1
            switch piece {
            case .text(let t):
                nodes.append(.text(t))
            case .output(let body, let location):
                lastLocation = location
                var p = try ExpressionParser(body, at: location)
                let e = try p.parseExpression()
                try p.expectEnd()
                nodes.append(.output(e, location))
            case .statement(let body, let location):
                lastLocation = location
                var p = try ExpressionParser(body, at: location)
                let keywordLocation = p.location
                let keyword = try p.expectName()
                if until.contains(keyword) { return (nodes, (keyword, p)) }
                nodes.append(try parseStatement(keyword, &p, at: keywordLocation))
            }
        }
        if !until.isEmpty {
            let expected = until.sorted().map { "'\($0)'" }.joined(separator: " or ")
            throw TemplateError.syntax("unexpected end of template, expected \(expected)", at: lastLocation)
        }
        return (nodes, nil)
    }

    private mutating func parseStatement(_ keyword: String, _ p: inout ExpressionParser, at location: SourceLocation) throws -> Node {
        switch keyword {
        case "for":
            var targets = [try p.expectName()]
            while p.accept(",") { targets.append(try p.expectName()) }
            try p.expect("in")
            let iterable = try p.parseExpression(allowConditional: false)
            let filter = p.accept("if") ? try p.parseExpression() : nil
            if p.accept("recursive") { throw TemplateError.syntax("recursive loops are not supported", at: location) }
            try p.expectEnd()
            let (body, end) = try parseBlock(until: ["else", "endfor"])
            var otherwise: [Node] = []
            if end?.keyword == "else" { otherwise = try parseBlock(until: ["endfor"]).0 }
            return .forLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, location)
        case "if":
            var branches: [(condition: Expr, body: [Node])] = []
            var condition = try p.parseExpression()
            try p.expectEnd()
            while true {
                let (body, end) = try parseBlock(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                guard var end else { break }
                switch end.keyword {
                case "elif":
                    condition = try end.parser.parseExpression()
                    try end.parser.expectEnd()
                case "else":
                    let otherwise = try parseBlock(until: ["endif"]).0
                    return .conditional(branches, otherwise: otherwise, location)
                default:
                    return .conditional(branches, otherwise: [], location)
                }
            }
            return .conditional(branches, otherwise: [], location)
        case "set":
            var targets = [try p.expectName()]
            var attribute: String? = nil
            if p.accept(".") { attribute = try p.expectName() }
            while attribute == nil, p.accept(",") { targets.append(try p.expectName()) }
            if p.atEnd {
                guard targets.count == 1, attribute == nil else { throw TemplateError.syntax("a block set takes one name", at: location) }
                let body = try parseBlock(until: ["endset"]).0
                return .setBlock(target: targets[0], body: body)
            }
            try p.expect("=")
            let value = try p.parseTuple()
            try p.expectEnd()
            return .set(targets: targets, attribute: attribute, value: value, location)
        case "macro":
            let name = try p.expectName()
            try p.expect("(")
            var parameters: [(name: String, defaultValue: Expr?)] = []
            while !p.accept(")") {
                let parameter = try p.expectName()
                parameters.append((parameter, p.accept("=") ? try p.parseExpression() : nil))
                if !p.accept(",") { try p.expect(")"); break }
            }
            try p.expectEnd()
            let body = try parseBlock(until: ["endmacro"]).0
            return .macro(name: name, parameters: parameters, body: body)
        case "break":
            try p.expectEnd()
            return .breakLoop
        case "continue":
            try p.expectEnd()
            return .continueLoop
        case "generation", "endgeneration":
            // transformers' markers for assistant-token masks: they print nothing.
            return .text("")
        default:
            throw TemplateError.syntax("unknown statement '\(keyword)'", at: location)
        }
    }
}

/// Recursive descent over one tag's tokens with Jinja2's precedence (loosest first): conditional, or, and, not,
/// comparison and `in`, `+ -`, `~`, `* / // %`, `**`, unary `- +`, then postfix: attribute, subscript, call,
/// filter `|` and test `is` (so `a + b is string` tests only b, as in Jinja2).
struct ExpressionParser {
    private var tokens: [Token]
    private var position = 0
    /// Recursion depth of parseExpression/parseUnary (see `TemplateLimits.maximumNesting`).
    private var depth = 0
    /// Operators, calls, filters and tests applied in this tag so far. Chains like `a+a+a+…` are parsed in loops
    /// but evaluated (and released) recursively, one stack frame per link, so their length is bounded too.
    private var links = 0

    private mutating func chained(_ e: Expr) throws -> Expr {
        links += 1
        guard links <= TemplateLimits.maximumLinks else {
            throw error("more than \(TemplateLimits.maximumLinks) operators, calls and filters in one tag")
        }
        return e
    }

    init(_ source: String, at start: SourceLocation) throws {
        tokens = try ExpressionLexer.tokens(source, at: start)
    }

    var current: Token.Kind { tokens[position].kind }
    var location: SourceLocation { tokens[position].location }
    var atEnd: Bool { current == .end }
    private var next: Token.Kind { tokens[Swift.min(position + 1, tokens.count - 1)].kind }

    private func error(_ message: String) -> TemplateError { .syntax(message, at: location) }

    private func describe(_ kind: Token.Kind) -> String {
        switch kind {
        case .name(let n): return "'\(n)'"
        case .string(let s): return "string '\(s)'"
        case .int(let n): return "\(n)"
        case .double(let d): return "\(d)"
        case .op(let o): return "'\(o)'"
        case .end: return "end of tag"
        }
    }

    mutating func accept(_ word: String) -> Bool {
        if current == .op(word) || current == .name(word) { position += 1; return true }
        return false
    }

    mutating func expect(_ word: String) throws {
        guard accept(word) else { throw error("expected '\(word)', found \(describe(current))") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let n) = current else { throw error("expected a name, found \(describe(current))") }
        position += 1
        return n
    }

    func expectEnd() throws {
        guard atEnd else { throw error("unexpected \(describe(current))") }
    }

    /// `a, b` without brackets (as on the right of `set`) is a tuple, which we hold as a list.
    mutating func parseTuple() throws -> Expr {
        let first = try parseExpression()
        guard current == .op(",") else { return first }
        var items = [first]
        while accept(",") && !atEnd { items.append(try parseExpression()) }
        return .list(items)
    }

    mutating func parseExpression(allowConditional: Bool = true) throws -> Expr {
        depth += 1
        defer { depth -= 1 }
        guard depth <= TemplateLimits.maximumNesting else {
            throw error("expression nested more than \(TemplateLimits.maximumNesting) deep")
        }
        var value = try parseOr()
        while allowConditional, accept("if") {
            let condition = try parseOr()
            let otherwise = accept("else") ? try parseExpression() : nil
            value = try chained(.conditional(then: value, condition: condition, otherwise: otherwise))
        }
        return value
    }

    private mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        while accept("or") { left = try chained(.binary("or", left, try parseAnd())) }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        while accept("and") { left = try chained(.binary("and", left, try parseNot())) }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        if accept("not") { return try chained(.unary("not", try parseNot())) }
        return try parseComparison()
    }

    private mutating func parseComparison() throws -> Expr {
        var left = try parseAdditive()
        while true {
            if case .op(let o) = current, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                position += 1
                left = try chained(.binary(o, left, try parseAdditive()))
            } else if accept("in") {
                left = try chained(.binary("in", left, try parseAdditive()))
            } else if current == .name("not"), next == .name("in") {
                position += 2
                left = try chained(.unary("not", .binary("in", left, try parseAdditive())))
            } else {
                return left
            }
        }
    }

    private mutating func parseAdditive() throws -> Expr {
        var left = try parseConcat()
        while case .op(let o) = current, o == "+" || o == "-" {
            position += 1
            left = try chained(.binary(o, left, try parseConcat()))
        }
        return left
    }

    private mutating func parseConcat() throws -> Expr {
        var left = try parseMultiplicative()
        while accept("~") { left = try chained(.binary("~", left, try parseMultiplicative())) }
        return left
    }

    private mutating func parseMultiplicative() throws -> Expr {
        var left = try parsePower()
        while case .op(let o) = current, ["*", "/", "//", "%"].contains(o) {
            position += 1
            left = try chained(.binary(o, left, try parsePower()))
        }
        return left
    }

    private mutating func parsePower() throws -> Expr {
        var left = try parseUnary()
        while accept("**") { left = try chained(.binary("**", left, try parseUnary())) }
        return left
    }

    private mutating func parseUnary(withFilters: Bool = true) throws -> Expr {
        // `- - - … x` and `not not … x` recurse here without passing through parseExpression.
        depth += 1
        defer { depth -= 1 }
        guard depth <= TemplateLimits.maximumNesting else {
            throw error("expression nested more than \(TemplateLimits.maximumNesting) deep")
        }
        var e: Expr
        if accept("-") { e = .unary("-", try parseUnary(withFilters: false)) }
        else if accept("+") { e = try parseUnary(withFilters: false) }
        else { e = try parsePostfix(try parsePrimary()) }
        return withFilters ? try parseFiltersAndTests(e) : e
    }

    private mutating func parsePostfix(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            if accept(".") {
                if case .int(let n) = current { position += 1; e = try chained(.subscriptAccess(e, .literal(.int(n)))) }
                else { e = try chained(.attribute(e, try expectName())) }
            } else if accept("[") {
                e = try chained(try parseSubscript(e))
            } else if accept("(") {
                let (arguments, keywords) = try parseArguments()
                e = try chained(.call(e, arguments: arguments, keywords: keywords))
            } else {
                return e
            }
        }
    }

    /// After "[": an index or a slice `start:stop:step`.
    private mutating func parseSubscript(_ base: Expr) throws -> Expr {
        var parts: [Expr?] = [nil]
        while !accept("]") {
            if accept(":") { parts.append(nil); continue }
            guard parts[parts.count - 1] == nil else { throw error("expected ']', found \(describe(current))") }
            parts[parts.count - 1] = try parseExpression()
        }
        if parts.count == 1 {
            guard let index = parts[0] else { throw error("empty subscript") }
            return .subscriptAccess(base, index)
        }
        guard parts.count <= 3 else { throw error("too many ':' in slice") }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, start: parts[0], stop: parts[1], step: parts[2])
    }

    private mutating func parseFiltersAndTests(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            if accept("|") {
                let name = try expectName()
                var (arguments, keywords): ([Expr], [(String, Expr)]) = ([], [])
                if accept("(") { (arguments, keywords) = try parseArguments() }
                e = try chained(.filter(e, name: name, arguments: arguments, keywords: keywords))
            } else if accept("is") {
                let negated = accept("not")
                let name = try expectName()
                var arguments: [Expr] = []
                if accept("(") {
                    arguments = try parseArguments().0
                } else if startsTestArgument {
                    arguments = [try parsePostfix(try parsePrimary())]
                }
                e = try chained(.test(e, name: name, arguments: arguments, negated: negated))
            } else if accept("(") {
                let (arguments, keywords) = try parseArguments()
                e = try chained(.call(e, arguments: arguments, keywords: keywords))
            } else {
                return e
            }
        }
    }

    /// Whether a test like `is divisibleby 3` or `is sameas none` has a bare argument (Jinja2's rule).
    private var startsTestArgument: Bool {
        switch current {
        case .string, .int, .double: return true
        case .name(let n): return !["else", "or", "and", "is", "in", "not", "if"].contains(n)
        case .op(let o): return o == "[" || o == "{" || o == "-"
        case .end: return false
        }
    }

    /// After "(": positional and keyword arguments up to ")".
    private mutating func parseArguments() throws -> ([Expr], [(String, Expr)]) {
        var arguments: [Expr] = [], keywords: [(String, Expr)] = []
        while !accept(")") {
            if case .name(let n) = current, next == .op("=") {
                position += 2
                keywords.append((n, try parseExpression()))
            } else {
                arguments.append(try parseExpression())
            }
            if !accept(",") { try expect(")"); break }
        }
        return (arguments, keywords)
    }

    private mutating func parsePrimary() throws -> Expr {
        let token = current
        position += 1
        switch token {
        case .string(var s):
            // Adjacent literals concatenate, as in Python.
            while case .string(let more) = current { s += more; position += 1 }
            return .literal(.string(s))
        case .int(let n): return .literal(.int(n))
        case .double(let d): return .literal(.double(d))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            if accept(")") { return .list([]) }
            let e = try parseExpression()
            if accept(",") {
                var items = [e]
                while !accept(")") {
                    items.append(try parseExpression())
                    if !accept(",") { try expect(")"); break }
                }
                return .list(items)
            }
            try expect(")")
            return e
        case .op("["):
            var items: [Expr] = []
            while !accept("]") {
                items.append(try parseExpression())
                if !accept(",") { try expect("]"); break }
            }
            return .list(items)
        case .op("{"):
            var pairs: [(key: Expr, value: Expr)] = []
            while !accept("}") {
                let key = try parseExpression()
                try expect(":")
                pairs.append((key, try parseExpression()))
                if !accept(",") { try expect("}"); break }
            }
            return .dict(pairs)
        default:
            position -= 1
            throw error("unexpected \(describe(token))")
        }
    }
}
