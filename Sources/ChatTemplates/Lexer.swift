/// Splits a template into text and tags, applying Jinja's whitespace control: `-` strips on that side, and
/// transformers' environment settings trim_blocks (drop the newline after a block tag) and lstrip_blocks (drop
/// spaces and tabs before a block tag at the start of a line).
struct Lexer {
    enum Piece {
        case text(String)
        /// `{{ … }}` source and its position.
        case output(String, line: Int)
        /// `{% … %}` source.
        case statement(String, line: Int)
    }

    static func pieces(_ source: String, trimBlocks: Bool = true, lstripBlocks: Bool = true) throws -> [Piece] {
        let s = Array(source)
        var pieces: [Piece] = []
        var text = ""
        var i = 0, line = 1
        var trimNextNewline = false
        func flushText() { if !text.isEmpty { pieces.append(.text(text)); text = "" } }
        while i < s.count {
            if s[i] == "{", i + 1 < s.count, "{%#".contains(s[i + 1]) {
                let kind = s[i + 1]
                let close: Character = kind == "{" ? "}" : (kind == "%" ? "%" : "#")
                var j = i + 2
                let stripLeft = j < s.count && s[j] == "-"
                let keepLeft = j < s.count && s[j] == "+"
                if stripLeft || keepLeft { j += 1 }
                // Find the closing delimiter outside string literals.
                var k = j
                var quote: Character? = nil
                while k + 1 < s.count {
                    if let q = quote { if s[k] == "\\" { k += 2; continue }; if s[k] == q { quote = nil } }
                    else if kind != "#" && (s[k] == "'" || s[k] == "\"") { quote = s[k] }
                    else if s[k] == close && s[k + 1] == "}" { break }
                    k += 1
                }
                guard k + 1 < s.count else { throw TemplateError.syntax("unclosed tag", line: line) }
                var bodyEnd = k
                let stripRight = bodyEnd > j && s[bodyEnd - 1] == "-"
                if stripRight { bodyEnd -= 1 }
                let body = String(s[j..<bodyEnd]).trimmingCharacters(in: .whitespacesAndNewlines)
                if stripLeft {
                    while let last = text.last, last.isWhitespace { text.removeLast() }
                } else if kind != "{" && lstripBlocks && !keepLeft {
                    // Only when the tag is the first non-blank thing on its source line.
                    var n = 0
                    while i - n - 1 >= 0, s[i - n - 1] == " " || s[i - n - 1] == "\t" { n += 1 }
                    if i - n == 0 || s[i - n - 1] == "\n" {
                        while n > 0, let last = text.last, last == " " || last == "\t" { text.removeLast(); n -= 1 }
                    }
                }
                flushText()
                if kind == "{" { pieces.append(.output(body, line: line)) }
                else if kind == "%" { pieces.append(.statement(body, line: line)) }
                line += s[i...k + 1].filter { $0 == "\n" }.count
                i = k + 2
                if stripRight {
                    while i < s.count, s[i].isWhitespace { if s[i] == "\n" { line += 1 }; i += 1 }
                } else if kind != "{" && trimBlocks {
                    trimNextNewline = true
                }
                if trimNextNewline {
                    trimNextNewline = false
                    if i < s.count, s[i] == "\n" { i += 1; line += 1 }
                    else if i + 1 < s.count, s[i] == "\r", s[i + 1] == "\n" { i += 2; line += 1 }
                }
                continue
            }
            if s[i] == "\n" { line += 1 }
            text.append(s[i])
            i += 1
        }
        flushText()
        return pieces
    }
}

import Foundation
