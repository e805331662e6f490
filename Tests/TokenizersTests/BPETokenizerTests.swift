import Foundation
import Tokenizers
import XCTest

/// SmolLM2's byte-level BPE built from its GGUF metadata (tokenizers/smollm2/vocabulary.json). Expected ids are
/// exact (no tolerance): smollm2_reference.json comes from transformers 5.23 `AutoTokenizer(gguf_file:)` on the
/// real GGUF; smollm2_cases.json from transformers' GGUF converter run by generate_cases.py.
final class BPETokenizerTests: XCTestCase {
    static let tokenizer = Result { try BPETokenizer(ggufVocabularyJSON: Fixtures.smolLM2Vocabulary) }

    func tokenizer() throws -> BPETokenizer { try Self.tokenizer.get() }

    func testReferenceTextsMatchTransformers() throws {
        let tokenizer = try tokenizer()
        for row in try Fixtures.cases("smollm2_reference.json") {
            XCTAssertEqual(tokenizer.encode(row.text, addSpecialTokens: false), row.ids, row.text)
            XCTAssertEqual(tokenizer.decode(row.ids), row.text)
        }
    }

    func testHardCasesMatchTransformers() throws {
        let tokenizer = try tokenizer()
        let payload = try Fixtures.json("smollm2_cases.json")
        let cases = try JSONDecoder().decode([Fixtures.Case].self,
                                             from: JSONSerialization.data(withJSONObject: payload["cases"]!))
        XCTAssertGreaterThan(cases.count, 20)
        for row in cases {
            XCTAssertEqual(tokenizer.encode(row.text, addSpecialTokens: false), row.ids, row.text.debugDescription)
            XCTAssertEqual(tokenizer.decode(row.ids, skipSpecialTokens: false), row.decoded, row.text.debugDescription)
            XCTAssertEqual(tokenizer.decode(row.ids, skipSpecialTokens: true), row.decoded_skipping_special,
                           row.text.debugDescription)
        }
    }

    func testInvalidUTF8DecodesToReplacementCharacterLikeHuggingFace() throws {
        let tokenizer = try tokenizer()
        let decodes = try Fixtures.json("smollm2_cases.json")["decodes"] as! [[String: Any]]
        for entry in decodes {
            let ids = entry["ids"] as! [Int]
            XCTAssertEqual(tokenizer.decode(ids), entry["decoded"] as? String, "\(ids)")
        }
    }

    func testChatPromptKeepsSpecialTokensWhole() throws {
        // Ids from transformers 5.23 AutoTokenizer(gguf_file: SmolLM2-135M-Instruct.Q4_1.gguf).
        let prompt = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
        XCTAssertEqual(try tokenizer().encode(prompt, addSpecialTokens: true),
                       [1, 4093, 198, 1780, 314, 216, 34, 27, 34, 47, 2, 198, 1, 520, 9531, 198])
    }

    func testMetadataFromGGUF() throws {
        let tokenizer = try tokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 49152)
        XCTAssertEqual(tokenizer.bosTokenID, 1)
        XCTAssertEqual(tokenizer.eosTokenID, 2)
        XCTAssertEqual(tokenizer.padTokenID, 2)
        XCTAssertEqual(tokenizer.unkTokenID, 0)
        XCTAssertEqual(tokenizer.id(forToken: "<|im_end|>"), 2)
        XCTAssertEqual(tokenizer.token(forID: 905), "Ġworld")
        XCTAssertTrue(tokenizer.specialTokenIDs.isSuperset(of: [0, 1, 2]))
        // add_bos_token is false in SmolLM2's GGUF: special tokens add nothing.
        XCTAssertEqual(tokenizer.encode("Hello world!"), [19556, 905, 17])
    }

    func testAddBOSFlagPrependsBOS() throws {
        let tokenizer = try BPETokenizer(ggufTokens: ["<s>", "a", "b", "ab"], merges: ["a b"], tokenTypes: [3, 1, 1, 1],
                                         preTokenizer: "llama-bpe", bosTokenID: 0, addBOS: true)
        XCTAssertEqual(tokenizer.encode("ab", addSpecialTokens: true), [0, 3])
        XCTAssertEqual(tokenizer.encode("<s>ab", addSpecialTokens: false), [0, 3])
        // transformers' GPT-2 class always declares <|endoftext|>; absent from the file, it is appended.
        XCTAssertEqual(tokenizer.vocabularySize, 5)
        XCTAssertEqual(tokenizer.id(forToken: "<|endoftext|>"), 4)
    }

    func testBadMergeNamesTheField() {
        XCTAssertThrowsError(try BPETokenizer(ggufTokens: ["a", "b"], merges: ["a b"], tokenTypes: nil,
                                              preTokenizer: "gpt2")) { error in
            XCTAssertEqual(error as? TokenizerError, .invalidField("tokenizer.ggml.merges[0]",
                                                                    reason: "merged token \"ab\" is not in the vocabulary"))
        }
    }
}
