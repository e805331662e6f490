import Foundation
import Tokenizers
import XCTest

/// Encode speed on an Alpaca-sized corpus (2,375 rows of ~600 bytes) made of varied words so the per-word cache
/// does not hide the merge loop. The bound is loose (the machine is shared); the measured rate is printed.
final class ThroughputTests: XCTestCase {
    static func corpus(from tokenizer: any Tokenizer, separator: String = "") -> [String] {
        var state: UInt64 = 0x2545F4914F6CDD1D
        func next() -> Int {
            // xorshift: reproducible, unlike the system generator.
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % 1_000_000)
        }
        let words = (0..<20_000).compactMap { _ in tokenizer.token(forID: 200 + next() % 20_000) }
            .map { tokenizer.decode([tokenizer.id(forToken: $0)!]) }
        return (0..<2375).map { _ in
            (0..<120).map { _ in words[next() % words.count] }.joined(separator: separator)
                + "\n\n### Response:\nThe answer is \(next()) and \(next() % 97)."
        }
    }

    func testSmolLM2EncodesAlpacaSizedCorpusWellUnderASecond() throws {
        let tokenizer = try BPETokenizer(ggufVocabularyJSON: Fixtures.smolLM2Vocabulary)
        let corpus = Self.corpus(from: tokenizer)
        let start = Date()
        let tokens = corpus.reduce(0) { $0 + tokenizer.encode($1, addSpecialTokens: false).count }
        let seconds = Date().timeIntervalSince(start)
        let bytes = corpus.reduce(0) { $0 + $1.utf8.count }
        print("SmolLM2 BPE: \(corpus.count) rows, \(bytes) bytes → \(tokens) tokens in \(String(format: "%.3f", seconds)) s")
        XCTAssertLessThan(seconds, 2)
    }

    func testMiniLMEncodesAlpacaSizedCorpusWellUnderASecond() throws {
        let tokenizer = try WordPieceTokenizer(tokenizerJSON: Fixtures.miniLMDirectory.appendingPathComponent("tokenizer.json"))
        let corpus = Self.corpus(from: tokenizer, separator: " ")
        let start = Date()
        let tokens = corpus.reduce(0) { $0 + tokenizer.encode($1, addSpecialTokens: true).count }
        let seconds = Date().timeIntervalSince(start)
        let bytes = corpus.reduce(0) { $0 + $1.utf8.count }
        print("MiniLM WordPiece: \(corpus.count) rows, \(bytes) bytes → \(tokens) tokens in \(String(format: "%.3f", seconds)) s")
        XCTAssertLessThan(seconds, 2)
    }
}
