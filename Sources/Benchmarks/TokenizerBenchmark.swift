import Foundation
import Tokenizers

/// Encode throughput on an Alpaca-sized corpus: 2,375 rows of ~120 varied vocabulary words each, so the per-word
/// BPE cache does not hide the merge loop. Reproducible (xorshift), independent of any dataset file.
public enum TokenizerBenchmark {
    public static func corpus(from tokenizer: any Tokenizer, separator: String = "", rows: Int = 2375) -> [String] {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> Int {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int(state % 1_000_000)
        }
        let vocabulary = max(1, tokenizer.vocabularySize - 200)
        let words = (0..<20_000).compactMap { _ in tokenizer.token(forID: 200 + next() % min(20_000, vocabulary)) }
            .compactMap { tokenizer.id(forToken: $0) }.map { tokenizer.decode([$0], skipSpecialTokens: true) }
        return (0..<rows).map { _ in
            (0..<120).map { _ in words[next() % words.count] }.joined(separator: separator)
                + "\n\n### Response:\nThe answer is \(next()) and \(next() % 97)."
        }
    }

    /// One JSON line: rows, bytes, tokens, seconds and tokens/s.
    public static func run(_ tokenizer: any Tokenizer, separator: String) -> String {
        let corpus = corpus(from: tokenizer, separator: separator)
        let start = DispatchTime.now().uptimeNanoseconds
        let tokens = corpus.reduce(0) { $0 + tokenizer.encode($1, addSpecialTokens: false).count }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let bytes = corpus.reduce(0) { $0 + $1.utf8.count }
        return String(format: #"{"rows":%d,"bytes":%d,"tokens":%d,"seconds":%.3f,"tokens_per_s":%.0f}"#,
                      corpus.count, bytes, tokens, seconds, Double(tokens) / seconds)
    }
}
