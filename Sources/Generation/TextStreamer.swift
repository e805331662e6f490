import Tokenizers

/// Turns a growing list of generated ids into text pieces as soon as they are whole characters.
///
/// Byte-level BPE splits a multi-byte character (é, 日, 🙂) over several tokens; decoding a prefix that ends inside
/// one yields U+FFFD. Such a tail is held back until the next token completes it, or until `finish()`.
public struct TextStreamer {
    public let tokenizer: any Tokenizer
    public let skipSpecialTokens: Bool
    private(set) var ids: [Int] = []
    /// Text already handed out.
    private(set) var emitted = ""

    public init(tokenizer: any Tokenizer, skipSpecialTokens: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one token; returns the new text it completes ("" while a character is still incomplete).
    public mutating func append(_ id: Int) -> String {
        ids.append(id)
        let text = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        guard !text.hasSuffix("\u{FFFD}") else { return "" }
        return take(text)
    }

    /// Whatever is left, incomplete characters included (as U+FFFD, like Hugging Face's decode).
    public mutating func finish() -> String {
        take(tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens))
    }

    /// The part of `text` not handed out yet. Decoding is prefix-stable for byte-level BPE, and comparing bytes
    /// (not Characters) keeps a combining mark that joins the previous character from being lost.
    private mutating func take(_ text: String) -> String {
        let done = emitted.utf8.count
        guard text.utf8.count > done, text.utf8.starts(with: emitted.utf8) else { return "" }
        let piece = String(decoding: text.utf8.dropFirst(done), as: UTF8.self)
        emitted = text
        return piece
    }
}
