import Foundation
import ModelFormats

/// The `tokenizer.ggml.*` keys of a merged export whose base is a Hugging Face directory, read from its
/// tokenizer.json (+ tokenizer_config.json, config.json) with the rules of llama.cpp's converter
/// (convert_hf_to_gguf.py `get_vocab_base` / `_set_vocab_gpt2`, gguf-py `SpecialVocab`):
/// - one token per id up to config.json's vocab_size; an id with no token is `[PAD<id>]`, type UNUSED;
/// - added tokens are CONTROL when marked special or spelled like one (`<|…|>`), else USER_DEFINED; the rest NORMAL;
/// - merges as "left right" strings;
/// - bos/eos/unk/pad from tokenizer_config.json's *_token, else config.json's *_token_id; add_bos/add_eos from
///   tokenizer_config.json, else from the post-processor's template, as transformers adds them;
/// - `pre`: the llama.cpp pre-tokenizer whose regexes are the tokenizer.json pre_tokenizer's (see `preName`).
/// Only byte-level BPE is written (`tokenizer.ggml.model = "gpt2"`): what LoRAKit and llama.cpp both run.
public enum GGUFTokenizerExport {
    // llama_token_type (llama.h): NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6.
    static let normal: Int32 = 1, control: Int32 = 3, userDefined: Int32 = 4, unused: Int32 = 5

    public static func metadata(directory: URL, vocabularySize: Int) throws -> [(key: String, value: GGUFValue)] {
        let url = directory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw GGUFExportError("\(directory.path): no tokenizer.json; a merged GGUF carries the tokenizer, and LoRAKit writes it from a byte-level BPE tokenizer.json")
        }
        let json = try JSONFile.object(at: url)
        let path = url.path
        guard let model = json["model"] as? [String: Any], model["type"] as? String == "BPE" else {
            throw GGUFExportError("\(path): model.type is \"\((json["model"] as? [String: Any])?["type"] ?? "missing")\"; only byte-level BPE tokenizers are exported (llama.cpp's \"gpt2\" vocabulary)")
        }
        if model["byte_fallback"] as? Bool == true {
            throw GGUFExportError("\(path): model.byte_fallback is true (a SentencePiece-style BPE); only byte-level BPE is exported")
        }
        if let normalizer = json["normalizer"], !(normalizer is NSNull) {
            throw GGUFExportError("\(path): normalizer \((normalizer as? [String: Any])?["type"] ?? "?") is set; llama.cpp's BPE tokenizer applies no normalizer, so the export would tokenize differently")
        }
        if let decoder = json["decoder"] as? [String: Any], decoder["type"] as? String != "ByteLevel" {
            throw GGUFExportError("\(path): decoder \(decoder["type"] ?? "?") is not ByteLevel; only byte-level BPE is exported")
        }
        let pre = try preName(json["pre_tokenizer"], path: path)

        guard let vocab = model["vocab"] as? [String: Any] else { throw GGUFExportError("\(path): model.vocab is not an object") }
        var spelling = [String?](repeating: nil, count: vocabularySize)
        var types = [Int32](repeating: unused, count: vocabularySize)
        func place(_ token: String, _ id: Int, _ type: Int32, field: String) throws {
            guard id >= 0, id < vocabularySize else {
                throw GGUFExportError("\(path): \(field) \"\(token)\" has id \(id), outside the model's vocab_size \(vocabularySize)")
            }
            spelling[id] = token
            types[id] = type
        }
        for (token, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue else { throw GGUFExportError("\(path): model.vocab[\"\(token)\"] is not an integer id") }
            try place(token, id, normal, field: "model.vocab")
        }
        var idOf: [String: Int] = [:]
        for (token, value) in vocab { if let id = (value as? NSNumber)?.intValue { idOf[token] = id } }
        for (index, entry) in ((json["added_tokens"] as? [[String: Any]]) ?? []).enumerated() {
            guard let id = (entry["id"] as? NSNumber)?.intValue, let content = entry["content"] as? String else {
                throw GGUFExportError("\(path): added_tokens[\(index)] needs an integer id and a string content")
            }
            let special = entry["special"] as? Bool ?? false
            try place(content, id, special || looksSpecial(content) ? control : userDefined, field: "added_tokens[\(index)]")
            idOf[content] = id
        }
        let tokens = spelling.enumerated().map { $1 ?? "[PAD\($0)]" }

        let merges: [String] = try ((model["merges"] as? [Any]) ?? []).enumerated().map { index, entry in
            if let text = entry as? String { return text }
            // The pair form (transformers ≥ 4.45) allows spaces inside a part; llama.cpp's "a b" strings cannot, so a
            // space is written as U+0120 as gguf-py does.
            if let pair = entry as? [String], pair.count == 2 {
                return pair.map { $0.replacingOccurrences(of: " ", with: "\u{120}") }.joined(separator: " ")
            }
            throw GGUFExportError("\(path): model.merges[\(index)] is neither \"a b\" nor [a, b]")
        }

        var out: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(types.map { .int32($0) })),
            ("tokenizer.ggml.merges", .array(merges.map { .string($0) })),
        ]
        let tokenizerConfig = try readOptional(directory.appendingPathComponent("tokenizer_config.json"))
        let config = try readOptional(directory.appendingPathComponent("config.json"))
        var special: [String: Int] = [:]
        for name in ["bos", "eos", "unk", "pad"] {
            if let token = tokenText(tokenizerConfig?[name + "_token"]) {
                guard let found = idOf[token] else {
                    throw GGUFExportError("\(directory.path)/tokenizer_config.json: \(name)_token \"\(token)\" is not in \(path)")
                }
                special[name] = found
            } else if let value = (config?[name + "_token_id"] as? NSNumber)?.intValue {
                special[name] = value
            } else if let list = config?[name + "_token_id"] as? [NSNumber], let first = list.first {
                special[name] = first.intValue  // Llama 3 lists several EOS ids; llama.cpp's key holds one (the others are EOG by spelling)
            }
        }
        // The post-processor's template: the special tokens transformers puts around a single sequence. Without a
        // tokenizer_config.json naming them, they are the bos/eos (gguf-py's SpecialVocab reads them the same way).
        let (first, last) = templateSpecialTokens(json, idOf: idOf)
        if special["bos"] == nil, tokenizerConfig == nil, let first { special["bos"] = first }
        if special["eos"] == nil, tokenizerConfig == nil, let last { special["eos"] = last }
        for (name, key) in [("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unk", "unknown_token_id"), ("pad", "padding_token_id")] {
            guard let id = special[name] else { continue }
            guard id >= 0, id < vocabularySize else { throw GGUFExportError("\(directory.path): \(name) token id \(id) is outside vocab_size \(vocabularySize)") }
            out.append(("tokenizer.ggml." + key, .uint32(UInt32(id))))
        }
        // Whether transformers adds them when encoding: tokenizer_config.json's add_bos_token/add_eos_token when set,
        // else whether the template starts/ends with them.
        let addBOS = tokenizerConfig?["add_bos_token"] as? Bool ?? (first != nil && first == special["bos"])
        let addEOS = tokenizerConfig?["add_eos_token"] as? Bool ?? (last != nil && last == special["eos"])
        out.append(("tokenizer.ggml.add_bos_token", .bool(addBOS)))
        out.append(("tokenizer.ggml.add_eos_token", .bool(addEOS)))
        if let template = chatTemplate(tokenizerConfig?["chat_template"]) { out.append(("tokenizer.chat_template", .string(template))) }
        return out
    }

    /// llama.cpp names each pre-tokenizer it implements and applies that name's fixed regexes (src/llama-vocab.cpp);
    /// the converter finds the name by hashing a tokenization. Here the tokenizer.json pre_tokenizer is matched
    /// structurally against the ones whose llama.cpp regexes are the same split:
    /// - `ByteLevel(use_regex)` → "gpt-2" (GPT-2's regex);
    /// - `Sequence[Digits(individual_digits), ByteLevel(use_regex)]` → "smollm" (`\p{N}`, then GPT-2's regex);
    /// - `Sequence[Split(Llama 3's regex, Isolated), ByteLevel(no regex)]` → "llama-bpe".
    /// Anything else is refused: a wrong `pre` makes llama.cpp split text differently, silently.
    static func preName(_ value: Any?, path: String) throws -> String {
        guard let pre = value as? [String: Any] else {
            throw GGUFExportError("\(path): no pre_tokenizer; llama.cpp needs a known byte-level pre-tokenizer")
        }
        var steps = [pre]
        if pre["type"] as? String == "Sequence" { steps = (pre["pretokenizers"] as? [[String: Any]]) ?? [] }
        let describe = steps.map { ($0["type"] as? String) ?? "?" }.joined(separator: ", ")
        if let last = steps.last, last["type"] as? String == "ByteLevel", last["add_prefix_space"] as? Bool == true {
            throw GGUFExportError("\(path): pre_tokenizer ByteLevel has add_prefix_space true; llama.cpp's BPE tokenizer adds no prefix space")
        }
        func byteLevel(_ s: [String: Any], regex: Bool) -> Bool {
            s["type"] as? String == "ByteLevel" && (s["use_regex"] as? Bool ?? true) == regex
        }
        if steps.count == 1, byteLevel(steps[0], regex: true) { return "gpt-2" }
        if steps.count == 2, steps[0]["type"] as? String == "Digits", steps[0]["individual_digits"] as? Bool == true,
           byteLevel(steps[1], regex: true) { return "smollm" }
        if steps.count == 2, steps[0]["type"] as? String == "Split", steps[0]["behavior"] as? String == "Isolated",
           steps[0]["invert"] as? Bool != true,
           ((steps[0]["pattern"] as? [String: Any])?["Regex"] as? String) == llama3Regex, byteLevel(steps[1], regex: false) {
            return "llama-bpe"
        }
        throw GGUFExportError("\(path): pre_tokenizer [\(describe)] matches none of the llama.cpp pre-tokenizers LoRAKit writes "
            + "(gpt-2: ByteLevel; smollm: Digits + ByteLevel; llama-bpe: Llama 3's Split + ByteLevel)")
    }

    /// Llama 3's split regex as its tokenizer.json spells it.
    static let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The converter's `does_token_look_special`: added tokens some models leave unmarked but that are control tokens.
    static func looksSpecial(_ t: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(t) || (t.hasPrefix("<|") && t.hasSuffix("|>"))
            || (t.hasPrefix("<｜") && t.hasSuffix("｜>")) || (t.hasPrefix("<unused") && t.hasSuffix(">"))
    }

    /// The ids of the special tokens a TemplateProcessing post-processor puts before and after a single sequence.
    static func templateSpecialTokens(_ json: [String: Any], idOf: [String: Int]) -> (first: Int?, last: Int?) {
        guard let post = json["post_processor"] as? [String: Any] else { return (nil, nil) }
        let processors = post["type"] as? String == "Sequence" ? (post["processors"] as? [[String: Any]] ?? []) : [post]
        guard let p = processors.first(where: { $0["type"] as? String == "TemplateProcessing" }) else { return (nil, nil) }
        let single = p["single"] as? [[String: Any]] ?? []
        let specialID = { (item: [String: Any]?) -> Int? in
            ((item?["SpecialToken"] as? [String: Any])?["id"] as? String).flatMap { idOf[$0] }
        }
        return (specialID(single.first), single.count > 1 ? specialID(single.last) : nil)
    }

    /// tokenizer_config.json's chat_template: a string, or a list of named templates (the "default" one).
    static func chatTemplate(_ value: Any?) -> String? {
        if let s = value as? String { return s }
        if let list = value as? [[String: Any]] {
            return list.first { $0["name"] as? String == "default" }?["template"] as? String
        }
        return nil
    }

    /// A special token in tokenizer_config.json: a string or an AddedToken object with `content`.
    static func tokenText(_ value: Any?) -> String? {
        if let s = value as? String { return s }
        return (value as? [String: Any])?["content"] as? String
    }

    static func readOptional(_ url: URL) throws -> [String: Any]? {
        FileManager.default.fileExists(atPath: url.path) ? try JSONFile.object(at: url) : nil
    }
}
