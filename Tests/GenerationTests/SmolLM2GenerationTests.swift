import XCTest
import LoRAKit

/// SmolLM2-135M-Instruct end to end against transformers 5.23 (Tests/Fixtures/real, made by make_real_refs.py):
/// tokenizer ids from the GGUF metadata, greedy continuations (16 tokens, exact), KV-cache decoding vs a full
/// forward (1e-4 abs), and a chat answer. Needs scripts/fetch-models.sh.
final class SmolLM2GenerationTests: XCTestCase {
    static let real = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/real")
    nonisolated(unsafe) static var cached: (LoadedModel, any Tokenizer)?

    override class func setUp() { registerBuiltinArchitectures() }

    func model() throws -> (LoadedModel, any Tokenizer) {
        if let c = Self.cached { return c }
        guard (try? ModelReference.resolve("smollm2-135m-instruct")) != nil else {
            throw XCTSkip("SmolLM2 is not in the model cache; run scripts/fetch-models.sh")
        }
        let m = try ModelLoader.load("smollm2-135m-instruct")
        let c = (m, try m.makeTokenizer())
        Self.cached = c
        return c
    }

    func testGGUFTokenizerMatchesTransformersIds() throws {
        let (_, tokenizer) = try model()
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.real.appendingPathComponent("tokenizer_smollm2.json"))) as! [[String: Any]]
        for c in cases {
            XCTAssertEqual(tokenizer.encode(c["text"] as! String, addSpecialTokens: false), c["ids"] as! [Int], c["text"] as! String)
        }
        let ref = try SafetensorsFile(url: Self.real.appendingPathComponent("smollm2_logits.safetensors"))
        let texts = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.real.appendingPathComponent("texts.json"))) as! [String: Any]
        for (i, prompt) in (texts["prompts"] as! [String]).enumerated() {
            XCTAssertEqual(tokenizer.encode(prompt, addSpecialTokens: false), try ref.integers("ids.\(i)"), prompt)
        }
    }

    func testGreedyContinuationsAreIdentical() throws {
        let (m, tokenizer) = try model()
        let ref = try SafetensorsFile(url: Self.real.appendingPathComponent("smollm2_logits.safetensors"))
        let generator = try m.generator(tokenizer: tokenizer)
        for i in 0..<3 {
            let expected = try ref.integers("greedy.\(i)")
            // transformers' generate stops at EOS too; compare the tokens before any stop token.
            let result = try Generator(model: generator.model, tokenizer: tokenizer, stopTokens: [], layers: generator.layers)
                .generate(promptIDs: try ref.integers("ids.\(i)"), maxTokens: expected.count)
            XCTAssertEqual(result.tokens, expected, "prompt \(i)")
        }
    }

    func testKVCacheDecodingMatchesFullForward() throws {
        let (m, tokenizer) = try model()
        let ids = tokenizer.encode("The capital of France is Paris, and the capital of Italy is", addSpecialTokens: false)
        let full = GradMode.withoutGrad { m.model.forward(ModelInput(inputIDs: IntTensor(ids, shape: [1, ids.count]))) }
        let cache = KVCache(layers: try m.config.int("num_hidden_layers"))
        let split = ids.count - 3
        let v = full.lastDim
        var stepped: [Float] = GradMode.withoutGrad {
            m.model.forward(ModelInput(inputIDs: IntTensor(Array(ids[..<split]), shape: [1, split]), cache: cache)).scalars
        }
        for t in split..<ids.count {
            stepped += GradMode.withoutGrad { m.model.forward(ModelInput(inputIDs: IntTensor([ids[t]], shape: [1, 1]), cache: cache)).scalars }
        }
        XCTAssertEqual(stepped.count, ids.count * v)
        let worst = zip(stepped, full.scalars).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4)
    }

    func testChatAnswersParis() throws {
        let (m, tokenizer) = try model()
        let prompt = try m.renderChat([ChatMessage(role: "user", content: "What is the capital of France?")], tokenizer: tokenizer, addGenerationPrompt: true)
        XCTAssertTrue(prompt.hasSuffix("<|im_start|>assistant\n"))
        let result = try m.generator(tokenizer: tokenizer).generate(promptIDs: tokenizer.encode(prompt, addSpecialTokens: false), maxTokens: 24)
        XCTAssertTrue(result.text.contains("Paris"), result.text)
    }
}
