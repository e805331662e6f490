import Foundation
import Tokenizers
import XCTest

/// Byte-level BPE read from tokenizer.json files: two small vocabularies trained by the Rust `tokenizers` library
/// in generate_cases.py, one with `Split(llama3 regex)` + `ByteLevel`, one with GPT-2's `ByteLevel(use_regex,
/// add_prefix_space)`. Expected ids and decodes come from that library (exact, no tolerance).
final class TokenizerJSONTests: XCTestCase {
    func check(_ kind: String) throws {
        let url = Fixtures.directory.appendingPathComponent("tiny_\(kind)_bpe.tokenizer.json")
        let tokenizer = try TokenizerLoader.load(tokenizerJSON: url)
        XCTAssertTrue(tokenizer is BPETokenizer)
        let cases = try Fixtures.cases("tiny_\(kind)_bpe_cases.json")
        XCTAssertGreaterThan(cases.count, 20)
        for row in cases {
            XCTAssertEqual(tokenizer.encode(row.text, addSpecialTokens: true), row.ids, "\(kind) \(row.text.debugDescription)")
            XCTAssertEqual(tokenizer.decode(row.ids, skipSpecialTokens: false), row.decoded, row.text.debugDescription)
            XCTAssertEqual(tokenizer.decode(row.ids, skipSpecialTokens: true), row.decoded_skipping_special,
                           row.text.debugDescription)
        }
    }

    func testSplitLlama3PatternMatchesRustTokenizers() throws { try check("llama3") }

    func testByteLevelGPT2PatternWithPrefixSpaceMatchesRustTokenizers() throws { try check("gpt2") }

    /// tokenizers/pretokenizers.json is generated from the compiled-in table; the two must not drift apart.
    func testShippedPreTokenizerTableMatchesCompiledTable() throws {
        let url = Fixtures.repositoryRoot.appendingPathComponent("tokenizers/pretokenizers.json")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual(json["patterns"] as? [String: String], PreTokenizerPatterns.patterns)
        XCTAssertEqual(json["gguf_pre"] as? [String: String], PreTokenizerPatterns.patternNameForGGUFPre)
        XCTAssertEqual(PreTokenizerPatterns.pattern(forGGUFPre: "smollm"), PreTokenizerPatterns.gpt2)
        XCTAssertEqual(PreTokenizerPatterns.pattern(forGGUFPre: "llama-bpe"), PreTokenizerPatterns.llama3)
    }

    func testBadRegexIsReportedWithItsOffset() throws {
        XCTAssertThrowsError(try BPETokenizer(vocab: ["a": 0], merges: [], splitPatterns: ["(unclosed"])) { error in
            guard case .invalidRegex(let pattern, _, _)? = error as? TokenizerError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(pattern, "(unclosed")
        }
    }

    func testMissingVocabNamesTheField() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-\(UUID()).json")
        try Data(#"{"model": {"type": "BPE", "merges": []}}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertThrowsError(try TokenizerLoader.load(tokenizerJSON: file)) { error in
            XCTAssertEqual(error as? TokenizerError, .missingField("model.vocab"))
        }
    }
}
