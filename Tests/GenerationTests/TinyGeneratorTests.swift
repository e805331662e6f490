import XCTest
import LoRAKit

/// The generator's KV-cache loop against the plain definition — argmax of a full forward over everything so far,
/// recomputed at each step — on the tiny Llama fixture (Tests/Fixtures/parity/llama, vocab 256 = one byte a token).
final class TinyGeneratorTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    func setUpModel() throws -> (LoadedModel, any Tokenizer) {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/parity/llama/model")
        return (try ModelLoader.load(dir.path), try TextStreamerTests.byteTokenizer())
    }

    /// Argmax of a full forward over everything so far, recomputed at each step (no cache).
    static func greedyWithoutCache(_ model: any ArchitectureModel, prompt: [Int], count: Int) -> [Int] {
        var ids = prompt
        for _ in 0..<count {
            let logits = GradMode.withoutGrad { model.forward(ModelInput(inputIDs: IntTensor(ids, shape: [1, ids.count]))) }
            let last = Array(logits.scalars.suffix(logits.lastDim))
            ids.append(last.indices.max { last[$0] < last[$1] }!)
        }
        return Array(ids.dropFirst(prompt.count))
    }

    func testGreedyWithCacheEqualsRecomputingEverything() throws {
        let (m, tokenizer) = try setUpModel()
        let prompt = [72, 105, 33, 10, 200]
        let generator = Generator(model: m.model, tokenizer: tokenizer, stopTokens: [], layers: 2)
        var streamed = ""
        let result = try generator.generate(promptIDs: prompt, maxTokens: 12) { streamed += $0 }
        XCTAssertEqual(result.tokens, Self.greedyWithoutCache(m.model, prompt: prompt, count: 12))
        XCTAssertEqual(streamed, result.text)
        XCTAssertEqual(result.decodeSteps, 11)
    }

    func testStopsAtAStopTokenWithoutEmittingIt() throws {
        let (m, tokenizer) = try setUpModel()
        let prompt = [72, 105, 33, 10, 200]
        let free = Self.greedyWithoutCache(m.model, prompt: prompt, count: 6)
        let stop = free[3]
        let cut = Array(free.prefix { $0 != stop })
        let result = try Generator(model: m.model, tokenizer: tokenizer, stopTokens: [stop], layers: 2).generate(promptIDs: prompt, maxTokens: 6)
        XCTAssertEqual(result.tokens, cut)
    }

    func testSeededSamplingRepeats() throws {
        let (m, tokenizer) = try setUpModel()
        let generator = Generator(model: m.model, tokenizer: tokenizer, stopTokens: [], layers: 2)
        let options = SamplingOptions(temperature: 1.5, topK: 50, topP: 0.95, seed: 42)
        let a = try generator.generate(promptIDs: [1, 2, 3], maxTokens: 10, sampling: options).tokens
        XCTAssertEqual(a, try generator.generate(promptIDs: [1, 2, 3], maxTokens: 10, sampling: options).tokens)
        XCTAssertEqual(a.count, 10)
    }
}
