import XCTest
import LoRAKit

/// Properties of the Llama forward pass that transformers also has, checked on the tiny fixture model
/// (Tests/Fixtures/parity/llama: 2 layers, 4 query / 2 KV heads, vocab 256). Each compares two ways of computing
/// the same logits, so the tolerance is fp32 rounding of differently shaped GEMMs: 1e-4 abs (the parity bar).
final class LlamaForwardTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    static let modelDirectory = LlamaParityTests.fixtures.appendingPathComponent("parity/llama/model").path
    let ids = [5, 17, 200, 33, 91, 64, 128, 7, 250, 3]

    func load(_ head: TaskHead = .causalLM) throws -> LoadedModel { try ModelLoader.load(Self.modelDirectory, head: head) }

    func forward(_ m: LoadedModel, _ input: ModelInput) -> Tensor { GradMode.withoutGrad { m.model.forward(input) } }

    func row(_ ids: [Int]) -> IntTensor { IntTensor(ids, shape: [1, ids.count]) }

    func assertClose(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-4, "\(what): max |Δ| = \(worst)", file: file, line: line)
    }

    func testKVCacheDecodingMatchesFullForward() throws {
        let m = try load()
        let full = forward(m, ModelInput(inputIDs: row(ids))).scalars
        let cache = KVCache(layers: 2)
        // A 4-token prefill, a 2-token chunk, then single tokens: every cache path (empty, append many, append one).
        var stepped = forward(m, ModelInput(inputIDs: row(Array(ids[0..<4])), cache: cache)).scalars
        stepped += forward(m, ModelInput(inputIDs: row(Array(ids[4..<6])), cache: cache)).scalars
        for t in 6..<ids.count { stepped += forward(m, ModelInput(inputIDs: row([ids[t]]), cache: cache)).scalars }
        XCTAssertEqual(cache.length, ids.count)
        assertClose(stepped[...], full[...], "cached vs full")
    }

    func testPackedSegmentsMatchSeparateSequences() throws {
        let m = try load()
        let (a, b) = (Array(ids[0..<4]), Array(ids[4...]))
        let packed = ModelInput(inputIDs: row(a + b),
                                positionIDs: row(Array(0..<a.count) + Array(0..<b.count)),
                                segmentIDs: row(Array(repeating: 0, count: a.count) + Array(repeating: 1, count: b.count)))
        let out = forward(m, packed).scalars
        let v = 256
        assertClose(out[0..<(a.count * v)], forward(m, ModelInput(inputIDs: row(a))).scalars[...], "first sample")
        assertClose(out[(a.count * v)...], forward(m, ModelInput(inputIDs: row(b))).scalars[...], "second sample")
    }

    func testPaddingDoesNotChangeRealTokens() throws {
        let m = try load()
        let real = Array(ids[0..<6])
        let alone = forward(m, ModelInput(inputIDs: row(real))).scalars
        let v = 256
        // Row 0 right-padded; row 1 left-padded with transformers' generate() positions (cumsum(mask) − 1).
        let input = ModelInput(inputIDs: IntTensor(real + [0, 0, 0] + [0, 0, 0] + real, shape: [2, 9]),
                               attentionMask: IntTensor(Array(repeating: 1, count: 6) + [0, 0, 0] + [0, 0, 0] + Array(repeating: 1, count: 6), shape: [2, 9]),
                               positionIDs: IntTensor(Array(0..<9) + [0, 0, 0] + Array(0..<6), shape: [2, 9]))
        let out = forward(m, input).scalars
        assertClose(out[0..<(6 * v)], alone[...], "right padding")
        assertClose(out[((9 + 3) * v)..<(18 * v)], alone[...], "left padding")
    }

    /// LlamaForSequenceClassification pools the rightmost token that is not pad_token_id (config: 0):
    /// `(arange(T) * (input_ids != pad)).argmax(-1)`, then applies `score`.
    func testClassificationScoresTheLastNonPadToken() throws {
        let classifier = try load(.sequenceClassification(numLabels: 3))
        let base = try load(.base)
        let rows = [[5, 17, 200, 33, 0, 0], [91, 64, 128, 7, 250, 3]]
        let logits = forward(classifier, ModelInput(inputIDs: IntTensor(rows.flatMap { $0 }, shape: [2, 6]),
                                                    attentionMask: IntTensor(rows.flatMap { $0.map { $0 == 0 ? 0 : 1 } }, shape: [2, 6])))
        XCTAssertEqual(logits.shape, [2, 3])
        let score = classifier.model.namedParameters().first { $0.path == "score.weight" }!.tensor.scalars  // (3, 64)
        for (r, (ids, last)) in zip(rows, [3, 5]).enumerated() {
            let hidden = forward(base, ModelInput(inputIDs: row(ids))).scalars  // (1, 6, 64)
            let h = hidden[(last * 64)..<((last + 1) * 64)]
            let expected = (0..<3).map { c in zip(score[(c * 64)..<((c + 1) * 64)], h).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
            assertClose(logits.scalars[(r * 3)..<(r * 3 + 3)], expected[...], "row \(r)")
        }
    }

    func testModuleTreeHasTransformersNames() throws {
        let m = try load()
        let names = Set(m.model.namedParameters().map(\.path))
        for name in ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
                     "model.layers.1.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight",
                     "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                     "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
                     "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight"] {
            XCTAssertTrue(names.contains(name), name)
        }
        XCTAssertEqual(names.count, 3 + 2 * 9)
        XCTAssertEqual(m.plugin.defaultTargetModules, ["q_proj", "v_proj"])
    }
}
