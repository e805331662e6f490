/// Splits template source into text and tags, applying Jinja2's whitespace rules as transformers configures them:
/// `-` inside a delimiter strips all whitespace on that side; trim_blocks drops the first newline after a block or
/// comment tag; lstrip_blocks drops spaces and tabs before a block or comment tag that starts its line (`+` opts
/// out). As Jinja2 does by default, `\r\n` and `\r` become `\n` and one trailing newline of the source is dropped.
struct TemplateLexer {
    enum Piece {
        case text(String)
        /// `{{ … }}`: the body and where it starts.
        case output(String, SourceLocation)
        /// `{% … %}`: the body and where it starts.
        case statement(String, SourceLocation)
    }

    static func normalized(_ source: String) -> String {
        var s = source.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if s.hasSuffix("\n") { s.removeLast() }
        return s
    }

    static func pieces(_ source: String) throws -> [Piece] {
        let s = Array(normalized(source))
        var pieces: [Piece] = []
        var text = ""
        var i = 0
        var line = 1, lineStart = 0
        func location(_ index: Int) -> SourceLocation { SourceLocation(line: line, column: index - lineStart + 1) }
        /// Advances `line` over s[from..<to].
        func countLines(_ from: Int, _ to: Int) {
            for k in from..<to where s[k] == "\n" { line += 1; lineStart = k + 1 }
        }
        func flushText() { if !text.isEmpty { pieces.append(.text(text)); text = "" } }

        while i < s.count {
            guard s[i] == "{", i + 1 < s.count, "{%#".contains(s[i + 1]) else {
                text.append(s[i])
                countLines(i, i + 1)
                i += 1
                continue
            }
            let kind = s[i + 1]
            let closer: Character = kind == "{" ? "}" : kind
            let tagStart = location(i)
            var bodyStart = i + 2
            let stripBefore = bodyStart < s.count && s[bodyStart] == "-"
            let keepBefore = bodyStart < s.count && s[bodyStart] == "+"
            if stripBefore || keepBefore { bodyStart += 1 }

            // The closing delimiter, skipping string literals inside expressions.
            var k = bodyStart
            var quote: Character? = nil
            while k + 1 < s.count {
                if let q = quote {
                    if s[k] == "\\" { k += 2; continue }
                    if s[k] == q { quote = nil }
                } else if kind != "#" && (s[k] == "'" || s[k] == "\"") {
                    quote = s[k]
                } else if s[k] == closer && s[k + 1] == "}" {
                    break
                }
                k += 1
            }
            guard k + 1 < s.count else {
                throw TemplateError.syntax(kind == "#" ? "unclosed comment" : "unclosed tag '{\(kind)'", at: tagStart)
            }
            var bodyEnd = k
            let stripAfter = bodyEnd > bodyStart && s[bodyEnd - 1] == "-"
            if stripAfter { bodyEnd -= 1 }

            if stripBefore {
                while let last = text.last, last.isWhitespace { text.removeLast() }
            } else if kind != "{" && !keepBefore {
                // lstrip_blocks: only when nothing but spaces/tabs precede the tag on its line.
                var n = 0
                while i - n - 1 >= 0, s[i - n - 1] == " " || s[i - n - 1] == "\t" { n += 1 }
                if i - n == 0 || s[i - n - 1] == "\n" {
                    while n > 0, let last = text.last, last == " " || last == "\t" { text.removeLast(); n -= 1 }
                }
            }
            flushText()

            countLines(i, bodyStart)
            let bodyLocation = location(bodyStart)
            let body = String(s[bodyStart..<bodyEnd])
            if kind == "{" { pieces.append(.output(body, bodyLocation)) }
            if kind == "%" { pieces.append(.statement(body, bodyLocation)) }
            countLines(bodyStart, k + 2)
            i = k + 2

            if stripAfter {
                let from = i
                while i < s.count, s[i].isWhitespace { i += 1 }
                countLines(from, i)
            } else if kind != "{", i < s.count, s[i] == "\n" {
                // trim_blocks
                countLines(i, i + 1)
                i += 1
            }
        }
        flushText()
        return pieces
    }
}

/// A token of an expression, with where it starts.
struct Token {
    enum Kind: Equatable {
        case name(String), string(String), int(Int), double(Double), op(String), end
    }
    var kind: Kind
    var location: SourceLocation
}

/// Tokenizes the body of a `{{ }}` or `{% %}` tag.
struct ExpressionLexer {
    static let twoCharacterOperators: Set<String> = ["==", "!=", "<=", ">=", "//", "**"]
    static let oneCharacterOperators = "+-*/%<>()[]{}.,:|~="

    static func tokens(_ source: String, at start: SourceLocation) throws -> [Token] {
        let s = Array(source)
        var out: [Token] = []
        var i = 0
        var line = start.line, column = start.column
        func advance(to j: Int) {
            while i < j {
                if s[i] == "\n" { line += 1; column = 1 } else { column += 1 }
                i += 1
            }
        }
        while i < s.count {
            let c = s[i]
            let here = SourceLocation(line: line, column: column)
            if c.isWhitespace { advance(to: i + 1); continue }
            if c.isLetter || c == "_" {
                var j = i
                while j < s.count, s[j].isLetter || s[j].isNumber || s[j] == "_" { j += 1 }
                out.append(Token(kind: .name(String(s[i..<j])), location: here))
                advance(to: j)
                continue
            }
            if c.isNumber {
                var j = i
                while j < s.count, s[j].isNumber || s[j] == "_" { j += 1 }
                var isFloat = false
                if j + 1 < s.count, s[j] == ".", s[j + 1].isNumber {
                    isFloat = true
                    j += 1
                    while j < s.count, s[j].isNumber || s[j] == "_" { j += 1 }
                }
                if j < s.count, s[j] == "e" || s[j] == "E" {
                    var e = j + 1
                    if e < s.count, s[e] == "+" || s[e] == "-" { e += 1 }
                    if e < s.count, s[e].isNumber {
                        isFloat = true
                        j = e
                        while j < s.count, s[j].isNumber { j += 1 }
                    }
                }
                let digits = String(s[i..<j]).replacingOccurrences(of: "_", with: "")
                if isFloat, let d = Double(digits) { out.append(Token(kind: .double(d), location: here)) }
                else if let n = Int(digits) { out.append(Token(kind: .int(n), location: here)) }
                else { throw TemplateError.syntax("bad number '\(digits)'", at: here) }
                advance(to: j)
                continue
            }
            if c == "'" || c == "\"" {
                var j = i + 1
                var raw = ""
                while j < s.count, s[j] != c {
                    if s[j] == "\\", j + 1 < s.count { raw.append(s[j]); j += 1 }
                    raw.append(s[j])
                    j += 1
                }
                guard j < s.count else { throw TemplateError.syntax("unterminated string", at: here) }
                out.append(Token(kind: .string(unescape(raw)), location: here))
                advance(to: j + 1)
                continue
            }
            let two = i + 1 < s.count ? String(s[i...i + 1]) : ""
            if twoCharacterOperators.contains(two) {
                out.append(Token(kind: .op(two), location: here))
                advance(to: i + 2)
                continue
            }
            if oneCharacterOperators.contains(c) {
                out.append(Token(kind: .op(String(c)), location: here))
                advance(to: i + 1)
                continue
            }
            throw TemplateError.syntax("unexpected character '\(c)'", at: here)
        }
        out.append(Token(kind: .end, location: SourceLocation(line: line, column: column)))
        return out
    }

    /// Python's "unicode-escape" decoding, which Jinja2 applies to string literals; unknown escapes stay as written.
    static func unescape(_ raw: String) -> String {
        let s = Array(raw.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        func hex(_ count: Int) -> Unicode.Scalar? {
            guard i + 1 + count <= s.count else { return nil }
            let digits = String(String.UnicodeScalarView(s[(i + 1)...(i + count)]))
            guard let v = UInt32(digits, radix: 16), let u = Unicode.Scalar(v) else { return nil }
            return u
        }
        while i < s.count {
            guard s[i] == "\\", i + 1 < s.count else { out.append(s[i]); i += 1; continue }
            i += 1
            let simple: [Unicode.Scalar: Unicode.Scalar] = ["n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", "\"": "\"",
                                                            "a": "\u{07}", "b": "\u{08}", "f": "\u{0C}", "v": "\u{0B}", "0": "\u{00}"]
            if let u = simple[s[i]] { out.append(u); i += 1; continue }
            if s[i] == "\n" { i += 1; continue }  // line continuation
            let width = s[i] == "x" ? 2 : s[i] == "u" ? 4 : s[i] == "U" ? 8 : 0
            if width > 0, let u = hex(width) { out.append(u); i += 1 + width; continue }
            out.append("\\")
            out.append(s[i])
            i += 1
        }
        return String(out)
    }
}
