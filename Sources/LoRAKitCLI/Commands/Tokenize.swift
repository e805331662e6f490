import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit tokenize`: token ids as JSON arrays, one per input.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print token ids (a JSON array per input).")

    @Option(help: "Model directory, .gguf file or alias.") var model: String
    @Option(help: "Text to encode.") var text: String?
    @Option(help: "A JSONL file of {\"text\": ...} lines; one array per line.") var jsonl: String?
    @Flag(help: "Add the tokenizer's special tokens (BOS, [CLS]/[SEP]).") var special = false

    func validate() throws {
        guard (text == nil) != (jsonl == nil) else { throw ValidationError("give exactly one of --text or --jsonl") }
    }

    func run() throws {
        let tokenizer = try ModelAssets(reference: model).makeTokenizer()
        func show(_ s: String) { print("[" + tokenizer.encode(s, addSpecialTokens: special).map(String.init).joined(separator: ",") + "]") }
        if let text { show(text); return }
        let url = URL(fileURLWithPath: jsonl!)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw JSONLInputError(message: "\(url.path): cannot read the file") }
        guard let content = String(data: data, encoding: .utf8) else { throw JSONLInputError(message: "\(url.path): not UTF-8 text") }
        for (i, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = object["text"] as? String else {
                throw JSONLInputError(message: "\(url.path):\(i + 1): expected a JSON object with a string \"text\"")
            }
            show(s)
        }
    }
}

/// A bad --jsonl input, named by file and line (not a usage error, so no usage text is printed).
struct JSONLInputError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
