import CICU
import Foundation

/// A compiled ICU regular expression used to split UTF-16 text into pre-tokens.
///
/// ICU is used rather than `NSRegularExpression` or Swift `Regex` because it has the same Unicode property classes
/// (`\p{L}`, `\p{N}`), case-insensitive groups and look-ahead as the Oniguruma engine behind the Rust `tokenizers`
/// crate. An ICU matcher holds its input text, so uses are serialized with a lock; splitting is a small share of the
/// encode time next to BPE merging.
final class ICURegex: @unchecked Sendable {
    let pattern: String
    private let regex: OpaquePointer
    private let lock = NSLock()

    init(_ pattern: String) throws {
        self.pattern = pattern
        let units = Array(ICURegex.translateToICU(pattern).utf16)
        var status: Int32 = 0
        var errorOffset: Int32 = 0
        guard let regex = lorakit_uregex_open(units, Int32(units.count), &status, &errorOffset),
              status <= 0 else {
            throw TokenizerError.invalidRegex(pattern, offset: Int(errorOffset), status: Int(status))
        }
        self.regex = regex
    }

    deinit { lorakit_uregex_close(regex) }

    /// Oniguruma's `\s` is the Unicode White_Space property; ICU's `\s` is `[\t\n\f\r\p{Z}]`, which misses U+000B
    /// and U+0085. Spelling it as the property makes both engines split the same text the same way.
    static func translateToICU(_ pattern: String) -> String {
        pattern.replacingOccurrences(of: #"\s"#, with: #"\p{White_Space}"#)
            .replacingOccurrences(of: #"\S"#, with: #"\P{White_Space}"#)
    }

    /// Calls `body` with the UTF-16 range of every match in `text`, in order.
    func forEachMatch(in text: UnsafeBufferPointer<UInt16>, _ body: (Range<Int>) -> Void) {
        guard let base = text.baseAddress, !text.isEmpty else { return }
        lock.lock()
        defer { lock.unlock() }
        var status: Int32 = 0
        lorakit_uregex_setText(regex, base, Int32(text.count), &status)
        while lorakit_uregex_findNext(regex, &status) != 0, status <= 0 {
            let start = Int(lorakit_uregex_start(regex, &status))
            let end = Int(lorakit_uregex_end(regex, &status))
            body(start..<end)
        }
        // Drop the matcher's pointer to `text`, which is only valid during this call.
        lorakit_uregex_setText(regex, [UInt16](), 0, &status)
    }

    /// `Split(pattern, behavior: "isolated")`: every match is a piece and so is every stretch between matches.
    func splitIsolated(_ text: UnsafeBufferPointer<UInt16>) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var last = 0
        forEachMatch(in: text) { match in
            if match.lowerBound > last { pieces.append(last..<match.lowerBound) }
            if !match.isEmpty { pieces.append(match) }
            last = max(last, match.upperBound)
        }
        if last < text.count { pieces.append(last..<text.count) }
        return pieces
    }
}
