import Foundation

/// A text tokenizer: text in, token ids out, and back.
///
/// Every implementation is a pipeline in the Hugging Face `tokenizers` order — added tokens split out of the raw
/// text, normalizer, pre-tokenizer, model (BPE or WordPiece), post-processor — and reproduces the ids of the
/// Python library exactly.
public protocol Tokenizer: Sendable {
    /// The ids of `text`; `addSpecialTokens` adds what the post-processor adds (BOS, `[CLS]` … `[SEP]`).
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]
    /// The text of `ids`; bytes that are not valid UTF-8 become U+FFFD, as in Hugging Face.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// The id of a token as it is spelled in the vocabulary (byte-level spelling for BPE, e.g. `Ġthe`).
    func id(forToken token: String) -> Int?
    /// The vocabulary spelling of a token id.
    func token(forID id: Int) -> String?
    /// Number of ids the tokenizer can produce: the model's vocabulary plus added tokens outside it.
    var vocabularySize: Int { get }
    /// Ids of the tokens marked special (skipped by `decode(_:skipSpecialTokens: true)`).
    var specialTokenIDs: Set<Int> { get }
    var bosTokenID: Int? { get }
    var eosTokenID: Int? { get }
    var padTokenID: Int? { get }
    var unkTokenID: Int? { get }
}

extension Tokenizer {
    /// The ids of `text` with the post-processor's special tokens.
    public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }
    /// The text of `ids`, special tokens included.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: false) }
}

/// Why a tokenizer could not be built. Each case names the file or field at fault.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A file could not be read or is not JSON.
    case unreadableFile(String, reason: String)
    /// A required field is absent; the path is dotted, e.g. `model.vocab`.
    case missingField(String)
    /// A field holds a value of the wrong kind or out of range.
    case invalidField(String, reason: String)
    /// A `type` the library does not implement, e.g. `model.type = "Unigram"`.
    case unsupported(String, type: String)
    /// A pre-tokenizer regex that ICU rejects.
    case invalidRegex(String, offset: Int, status: Int)

    public var description: String {
        switch self {
        case let .unreadableFile(file, reason): return "cannot read tokenizer file \(file): \(reason)"
        case let .missingField(field): return "tokenizer definition has no field `\(field)`"
        case let .invalidField(field, reason): return "tokenizer field `\(field)` is invalid: \(reason)"
        case let .unsupported(field, type): return "tokenizer field `\(field)` has unsupported type \"\(type)\""
        case let .invalidRegex(pattern, offset, status):
            return "ICU rejects regex at offset \(offset) (status \(status)): \(pattern)"
        }
    }
}
