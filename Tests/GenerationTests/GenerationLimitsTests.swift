import XCTest
import LoRAKit

/// Inputs the generator used to trap on (empty prompt, ids outside the embedding table) or run with unchecked
/// (no length cap, NaN temperature, NaN logits printed as NUL bytes), and GPT-2/Falcon generation, whose KV cache
/// was sized from a key GPT-2 does not have. Tiny fixtures of Tests/Fixtures/parity, byte-level tokenizer (vocab 256).
final class GenerationLimitsTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    func load(_ fixture: String) throws -> LoadedModel {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/parity/\(fixture)/model")
        return try ModelLoader.load(dir.path)
    }

    func generator(_ fixture: String) throws -> Generator {
        try load(fixture).generator(tokenizer: try TextStreamerTests.byteTokenizer())
    }

    func testEmptyPromptAndOutOfRangeIdsAreErrors() throws {
        let g = try generator("llama")
        XCTAssertThrowsError(try g.generate(promptIDs: [], maxTokens: 4)) { XCTAssertTrue("\($0)".contains("prompt is empty"), "\($0)") }
        XCTAssertThrowsError(try g.generate(promptIDs: [1, 256], maxTokens: 4)) { XCTAssertTrue("\($0)".contains("256"), "\($0)") }
        XCTAssertThrowsError(try g.generate(promptIDs: [-1], maxTokens: 4)) { XCTAssertTrue("\($0)".contains("-1"), "\($0)") }
        XCTAssertThrowsError(try g.generate(promptIDs: [1], maxTokens: -1))
    }

    func testSamplingRangesAreChecked() throws {
        let g = try generator("llama")
        for bad in [SamplingOptions(temperature: .nan), SamplingOptions(temperature: -1), SamplingOptions(temperature: 1, topP: 0),
                    SamplingOptions(temperature: 1, topP: 1.5), SamplingOptions(temperature: 1, topK: -2)] {
            XCTAssertThrowsError(try g.generate(promptIDs: [1, 2], maxTokens: 2, sampling: bad), "\(bad)")
        }
    }

    /// GPT-2 has n_layer, not num_hidden_layers: the generator's cache comes from the model, which counts its own
    /// blocks. Its n_positions (64 in the fixture) caps prompt + generated tokens.
    func testGPT2GeneratesAndStopsAtItsContext() throws {
        let g = try generator("gpt2")
        XCTAssertNil(g.layers)
        XCTAssertEqual(g.model.makeCache().keys.count, 2)
        XCTAssertEqual(g.contextLength, 64)
        let result = try g.generate(promptIDs: Array(40..<50), maxTokens: 100_000)
        XCTAssertEqual(result.tokens.count, 54)
        XCTAssertTrue(result.stoppedAtContext)
        XCTAssertThrowsError(try g.generate(promptIDs: Array(repeating: 40, count: 64), maxTokens: 1)) {
            XCTAssertTrue("\($0)".contains("context is 64"), "\($0)")
        }
    }

    func testFalconGenerates() throws {
        let result = try generator("falcon-7b-style").generate(promptIDs: [72, 105], maxTokens: 5)
        XCTAssertEqual(result.tokens.count, 5)
    }

    /// A NaN weight gives NaN logits: an error, not a token picked from garbage (it printed NUL bytes).
    func testNonFiniteLogitsAreAnError() throws {
        let m = try load("llama")
        let head = try XCTUnwrap(m.model.namedParameters().first { $0.path == "lm_head.weight" }?.tensor)
        head.data[3] = .nan
        let g = try m.generator(tokenizer: try TextStreamerTests.byteTokenizer())
        XCTAssertThrowsError(try g.generate(promptIDs: [72, 105], maxTokens: 3)) { XCTAssertTrue("\($0)".contains("NaN"), "\($0)") }
    }

    /// A tokenizer with more ids than the embedding table: the ids that do not fit are refused where they occur
    /// (the Embedding op trapped on them).
    func testIdsOfALargerTokenizerAreRefused() throws {
        let m = try load("llama")
        let spellings = (0..<300).map { "t\($0)" }
        let big = try BPETokenizer(ggufTokens: spellings, merges: [], tokenTypes: nil, preTokenizer: nil)
        let g = try m.generator(tokenizer: big)
        XCTAssertThrowsError(try g.generate(promptIDs: [5, 299], maxTokens: 2)) {
            XCTAssertTrue("\($0)".contains("prompt token 299 at position 1") && "\($0)".contains("0..<256"), "\($0)")
        }
        XCTAssertThrowsError(try m.checkInput([0, 300], source: "--ids")) { XCTAssertTrue("\($0)".contains("--ids: token id 300"), "\($0)") }
        XCTAssertThrowsError(try m.checkInput([], source: "--ids"))
        // GPT-2's learned position table (n_positions 64 in the fixture) is a hard limit for `forward --ids` too.
        let gpt2 = try load("gpt2")
        XCTAssertNoThrow(try gpt2.checkInput(Array(repeating: 1, count: 64), source: "--ids"))
        XCTAssertThrowsError(try gpt2.checkInput(Array(repeating: 1, count: 65), source: "--ids")) {
            XCTAssertEqual("\($0)", "--ids: 65 tokens exceed the model's 64 positions")
        }
    }
}
