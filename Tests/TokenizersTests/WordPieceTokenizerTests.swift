import Foundation
import Tokenizers
import XCTest

/// all-MiniLM-L6-v2's WordPiece tokenizer (tokenizers/minilm-l6). Expected ids are exact: minilm_reference.json
/// from transformers 5.23 on the real model; minilm_cases.json from transformers' AutoTokenizer (generate_cases.py).
final class WordPieceTokenizerTests: XCTestCase {
    static let fromJSON = Result {
        try TokenizerLoader.load(tokenizerJSON: Fixtures.miniLMDirectory.appendingPathComponent("tokenizer.json"))
    }
    static let fromVocabTXT = Result {
        try WordPieceTokenizer(vocabTXT: Fixtures.miniLMDirectory.appendingPathComponent("vocab.txt"))
    }

    func testLoaderPicksWordPiece() throws {
        XCTAssertTrue(try Self.fromJSON.get() is WordPieceTokenizer)
    }

    func testReferenceTextsMatchTransformers() throws {
        for tokenizer in [try Self.fromJSON.get(), try Self.fromVocabTXT.get() as any Tokenizer] {
            for row in try Fixtures.cases("minilm_reference.json") {
                XCTAssertEqual(tokenizer.encode(row.text, addSpecialTokens: true), row.ids, row.text)
            }
        }
    }

    func testHardCasesMatchTransformers() throws {
        let payload = try Fixtures.json("minilm_cases.json")
        let cases = try JSONDecoder().decode([Fixtures.Case].self,
                                             from: JSONSerialization.data(withJSONObject: payload["cases"]!))
        XCTAssertGreaterThan(cases.count, 20)
        for tokenizer in [try Self.fromJSON.get(), try Self.fromVocabTXT.get() as any Tokenizer] {
            for row in cases {
                XCTAssertEqual(tokenizer.encode(row.text, addSpecialTokens: true), row.ids, row.text.debugDescription)
                XCTAssertEqual(tokenizer.decode(row.ids, skipSpecialTokens: false), row.decoded, row.text.debugDescription)
                XCTAssertEqual(tokenizer.decode(row.ids, skipSpecialTokens: true), row.decoded_skipping_special,
                               row.text.debugDescription)
            }
        }
    }

    func testPairEncodingPaddedLikeTransformers() throws {
        let tokenizer = try XCTUnwrap(try Self.fromJSON.get() as? WordPieceTokenizer)
        let pair = try XCTUnwrap(try Fixtures.json("minilm_cases.json")["pair"] as? [String: Any])
        let encoding = tokenizer.encoding(pair["a"] as! String, pair: pair["b"] as? String,
                                          paddedTo: pair["length"] as? Int)
        XCTAssertEqual(encoding.inputIDs, pair["input_ids"] as? [Int])
        XCTAssertEqual(encoding.attentionMask, pair["attention_mask"] as? [Int])
        XCTAssertEqual(encoding.tokenTypeIDs, pair["token_type_ids"] as? [Int])
    }

    func testBatchPadsToLongest() throws {
        let tokenizer = try XCTUnwrap(try Self.fromJSON.get() as? WordPieceTokenizer)
        let batch = tokenizer.batch([("Hello world!", nil), ("Hi", nil)])
        XCTAssertEqual(batch.map(\.inputIDs), [[101, 7592, 2088, 999, 102], [101, 7632, 102, 0, 0]])
        XCTAssertEqual(batch[1].attentionMask, [1, 1, 1, 0, 0])
    }

    func testSpecialTokenMetadata() throws {
        let tokenizer = try Self.fromJSON.get()
        XCTAssertEqual(tokenizer.vocabularySize, 30522)
        XCTAssertEqual(tokenizer.padTokenID, 0)
        XCTAssertEqual(tokenizer.unkTokenID, 100)
        XCTAssertEqual(tokenizer.specialTokenIDs, [0, 100, 101, 102, 103])
        XCTAssertEqual(tokenizer.id(forToken: "##able"), 3085)
    }

    func testUnsupportedModelTypeNamesTheField() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("unigram-\(UUID()).json")
        try Data(#"{"model": {"type": "Unigram", "vocab": []}}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertThrowsError(try TokenizerLoader.load(tokenizerJSON: file)) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupported("model.type", type: "Unigram"))
        }
    }
}
