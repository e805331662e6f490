import Foundation

/// Errors with the template line they come from; `raise_exception` messages come through as `.raised`.
public enum TemplateError: Error, CustomStringConvertible, Equatable {
    case syntax(String, line: Int)
    case runtime(String, line: Int)
    case raised(String)

    public var description: String {
        switch self {
        case .syntax(let m, let l): return "template syntax error, line \(l): \(m)"
        case .runtime(let m, let l): return "template error, line \(l): \(m)"
        case .raised(let m): return "template raised: \(m)"
        }
    }
}

/// Statement tree.
indirect enum Node {
    case text(String)
    case output(Expr, line: Int)
    case forLoop(targets: [String], iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node], line: Int)
    case conditional([(Expr, [Node])], otherwise: [Node], line: Int)
    case set(target: String, attribute: String?, value: Expr, line: Int)
    case setBlock(target: String, body: [Node])
    case macro(name: String, parameters: [(String, Expr?)], body: [Node])
    case breakLoop, continueLoop
}

/// Parses the lexer's pieces into nodes.
struct TemplateParser {
    var pieces: [Lexer.Piece]
    var index = 0

    mutating func parse() throws -> [Node] {
        let (nodes, end) = try parseBlock(until: [])
        if let end { throw TemplateError.syntax("unexpected {% \(end.0) %}", line: end.1) }
        return nodes
    }

    /// Nodes up to one of the `until` keywords; returns the keyword (and its tag's remaining source).
    mutating func parseBlock(until: Set<String>) throws -> ([Node], (String, Int, String)?) {
        var nodes: [Node] = []
        while index < pieces.count {
            let piece = pieces[index]
            index += 1
            switch piece {
            case .text(let t): nodes.append(.text(t))
            case .output(let src, let line):
                var p = try ExpressionParser(src, line: line)
                let e = try p.parseExpression()
                guard p.atEnd else { throw TemplateError.syntax("unexpected \(p.current) in {{ \(src) }}", line: line) }
                nodes.append(.output(e, line: line))
            case .statement(let src, let line):
                let keyword = String(src.prefix { $0.isLetter || $0 == "_" })
                let rest = String(src.dropFirst(keyword.count)).trimmingCharacters(in: .whitespaces)
                if until.contains(keyword) { return (nodes, (keyword, line, rest)) }
                nodes.append(try parseStatement(keyword, rest, line: line))
            }
        }
        if !until.isEmpty { throw TemplateError.syntax("missing {% \(until.sorted().joined(separator: " / ")) %}", line: 0) }
        return (nodes, nil)
    }

    mutating func parseStatement(_ keyword: String, _ rest: String, line: Int) throws -> Node {
        switch keyword {
        case "for":
            var p = try ExpressionParser(rest, line: line)
            var targets = [try p.expectName()]
            while p.accept(",") { targets.append(try p.expectName()) }
            try p.expect("in")
            let iterable = try p.parseExpression(allowConditional: false)
            let filter = p.accept("if") ? try p.parseExpression(allowConditional: false) : nil
            _ = p.accept("recursive")
            let (body, end) = try parseBlock(until: ["else", "endfor"])
            var otherwise: [Node] = []
            if end?.0 == "else" { (otherwise, _) = try parseBlock(until: ["endfor"]) }
            return .forLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
        case "if":
            var branches: [(Expr, [Node])] = []
            var condition = try Self.expression(rest, line: line)
            while true {
                let (body, end) = try parseBlock(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                guard let end else { break }
                if end.0 == "elif" { condition = try Self.expression(end.2, line: end.1); continue }
                if end.0 == "else" {
                    let (otherwise, _) = try parseBlock(until: ["endif"])
                    return .conditional(branches, otherwise: otherwise, line: line)
                }
                break
            }
            return .conditional(branches, otherwise: [], line: line)
        case "set":
            guard let eq = rest.firstIndex(of: "=") else {
                let (body, _) = try parseBlock(until: ["endset"])
                return .setBlock(target: rest, body: body)
            }
            let lhs = rest[..<eq].trimmingCharacters(in: .whitespaces)
            let value = try Self.expression(String(rest[rest.index(after: eq)...]), line: line)
            let parts = lhs.split(separator: ".").map(String.init)
            return .set(target: parts[0], attribute: parts.count > 1 ? parts[1] : nil, value: value, line: line)
        case "macro":
            var p = try ExpressionParser(rest, line: line)
            let name = try p.expectName()
            try p.expect("(")
            var parameters: [(String, Expr?)] = []
            while !p.accept(")") {
                let n = try p.expectName()
                parameters.append((n, p.accept("=") ? try p.parseExpression() : nil))
                _ = p.accept(",")
            }
            let (body, _) = try parseBlock(until: ["endmacro"])
            return .macro(name: name, parameters: parameters, body: body)
        case "break": return .breakLoop
        case "continue": return .continueLoop
        case "generation", "endgeneration": return .text("")  // transformers' assistant-mask markers: no output
        default: throw TemplateError.syntax("unknown statement '\(keyword)'", line: line)
        }
    }

    static func expression(_ src: String, line: Int) throws -> Expr {
        var p = try ExpressionParser(src, line: line)
        let e = try p.parseExpression()
        guard p.atEnd else { throw TemplateError.syntax("unexpected \(p.current) in '\(src)'", line: line) }
        return e
    }
}
