import XCTest
import Foundation
import Tokenizers

/// Issue 12: token ids in tokenizer.json size the id → token tables, so a hostile id must be refused before
/// anything is allocated for it (an id of 2⁴⁰ asked for a 2⁴⁰-entry table; 2⁶⁴−1 read as −1).
final class TokenizerLimitTests: XCTestCase {
    func load(vocab: String, added: String = "[]") throws -> any Tokenizer {
        let json = """
        {"added_tokens": \(added), "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false,
         "trim_offsets": true, "use_regex": true}, "post_processor": null, "decoder": {"type": "ByteLevel"},
         "model": {"type": "BPE", "vocab": \(vocab), "merges": []}}
        """
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try TokenizerLoader.load(tokenizerJSON: url)
    }

    func testHugeNegativeAndFractionalIdsAreRefused() {
        for (id, field) in [("1099511627776", "model.vocab.a"), ("18446744073709551615", "model.vocab.a"), ("-1", "model.vocab.a"),
                            ("1e300", "model.vocab.a"), ("1.5", "model.vocab.a")] {
            XCTAssertThrowsError(try load(vocab: "{\"a\": \(id), \"b\": 1}"), id) { error in
                XCTAssertTrue("\(error)".contains(field) && "\(error)".contains("0..<4194304"), "\(id): \(error)")
            }
        }
        XCTAssertThrowsError(try load(vocab: "{\"a\": 0}", added: """
            [{"id": 9223372036854775807, "content": "<x>", "single_word": false, "lstrip": false, "rstrip": false,
              "normalized": false, "special": true}]
            """)) { error in XCTAssertTrue("\(error)".contains("added_tokens"), "\(error)") }
    }

    func testOrdinaryIdsStillLoad() throws {
        let tokenizer = try load(vocab: "{\"a\": 0, \"b\": 1}")
        XCTAssertEqual(tokenizer.encode("ab", addSpecialTokens: false), [0, 1])
    }
}

/// The empty tokenizer.json the fuzzer's first run produced (it only tripped a leak inside Foundation's file reader):
/// an error naming the file.
final class EmptyTokenizerFileTests: XCTestCase {
    func testEmptyFileIsAnErrorNamingIt() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString).json")
        try Data().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try TokenizerLoader.load(tokenizerJSON: url)) { XCTAssertTrue("\($0)".contains(url.path), "\($0)") }
    }
}
