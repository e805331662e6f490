/// The regexes that split text into pre-tokens before byte-level BPE, per GGUF `tokenizer.ggml.pre` value.
///
/// This table is the single source the library uses, compiled in so a tokenizer works without any data folder.
/// `tokenizers/pretokenizers.json` in the repository holds the same table for scripts (the Python fixture generator
/// builds its reference tokenizers from it); a test keeps the two identical.
///
/// The mapping mirrors what transformers does when it builds a tokenizer from a GGUF file
/// (`integrations/gguf/gguf_tokenizer_mapping.py`, `GGUF_PRE_TOKENIZER_SPLITS`): a listed `pre` gets
/// `Split(regex, isolated)` + `ByteLevel(use_regex: false)`; any other value, e.g. `smollm`, `gpt2`, `default`,
/// falls back to GPT-2's `ByteLevel(use_regex: true)`, whose regex is `gpt2` below.
public enum PreTokenizerPatterns {
    /// GPT-2's pattern, built into the `ByteLevel` pre-tokenizer of the Rust crate.
    public static let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// Llama 3's pattern: case-insensitive contractions, digits in runs of at most three.
    public static let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"#
        + #"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Qwen 2's pattern: like Llama 3 but one digit per pre-token.
    public static let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"#
        + #"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Qwen 3.5's pattern: combining marks stay with letters.
    public static let qwen35 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"#
        + #"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Mistral's Tekken pattern.
    public static let tekken = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"#
        + #"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"#
        + #"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// GPT-4o's pattern (also Llama 4).
    public static let gpt4o = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#
        + #"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#
        + #"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Patterns by name, as in tokenizers/pretokenizers.json.
    public static let patterns: [String: String] = [
        "gpt2": gpt2, "llama3": llama3, "qwen2": qwen2, "qwen35": qwen35, "tekken": tekken, "gpt4o": gpt4o,
    ]

    /// GGUF `tokenizer.ggml.pre` values that transformers gives their own split, and the pattern name they use.
    public static let patternNameForGGUFPre: [String: String] = [
        "llama3": "llama3", "llama-v3": "llama3", "llama-bpe": "llama3", "falcon3": "llama3", "falcon-h1": "llama3",
        "pixtral": "llama3", "midm-2.0": "llama3", "lfm2": "llama3", "jina-v5-nano": "llama3", "dbrx": "llama3",
        "smaug-bpe": "llama3", "tekken": "tekken", "qwen2": "qwen2", "deepseek-r1-qwen": "qwen2", "kormo": "qwen2",
        "f2llmv2": "qwen2", "megrez": "qwen2", "qwen35": "qwen35", "gpt-4o": "gpt4o", "llama4": "gpt4o",
        "kanana2": "gpt4o", "talkie": "gpt4o", "minimax-m2": "gpt4o",
    ]

    /// The split pattern transformers applies for a GGUF `tokenizer.ggml.pre` value (GPT-2's when unlisted).
    public static func pattern(forGGUFPre pre: String?) -> String {
        pre.flatMap { patternNameForGGUFPre[$0] }.flatMap { patterns[$0] } ?? gpt2
    }
}
