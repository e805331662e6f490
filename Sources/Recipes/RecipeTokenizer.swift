import Foundation
import Tokenizers
import Training

extension Recipe {
    /// The tokenizer named by `tokenizer:` — a tokenizer.json, a directory holding one, or a GGUF vocabulary JSON —
    /// or nil when the recipe leaves the tokenizer to the model.
    public func explicitTokenizer() throws -> (any Tokenizer)? {
        guard let tokenizer else { return nil }
        var url = tokenizer.hasPrefix("/") ? URL(fileURLWithPath: tokenizer) : directory.appendingPathComponent(tokenizer)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw RecipeError(file: file.path, line: 0, column: 0, path: "tokenizer", message: "\(url.path) does not exist")
        }
        if isDirectory.boolValue { url.appendPathComponent("tokenizer.json") }
        if url.lastPathComponent == "tokenizer.json" { return try TokenizerLoader.load(tokenizerJSON: url) }
        return try BPETokenizer(ggufVocabularyJSON: url)
    }
}
