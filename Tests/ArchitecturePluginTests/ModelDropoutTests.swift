import Foundation
import XCTest
import LoRAKit

/// Model-internal dropout (transformers' embd/resid/attn_pdrop, hidden_dropout(_prob), attention(_probs)_dropout):
/// on in train mode only, with torch's inverted-dropout rate, replayed inside checkpointed blocks. The parity
/// fixtures run in eval mode, where every one of them is the identity.
final class ModelDropoutTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    /// The fixture's model rebuilt from its config with `changes`, carrying the fixture's weights.
    func model(_ fixture: String, _ changes: [String: Any]) throws -> (any ArchitectureModel, ModelInput) {
        let parity = try ParityCase(fixture)
        let loaded = try parity.load()
        var config = loaded.config
        config.values.merge(changes) { $1 }
        let model = try loaded.plugin.makeModel(config: config, head: loaded.model.head)
        for (path, tensor) in loaded.model.namedParameters() where !model.tiedParameters.keys.contains(path) {
            try model.setParameter(at: path, tensor)
        }
        for (target, source) in model.tiedParameters { try model.tie(target, to: source) }
        return (model, try parity.input())
    }

    func forward(_ model: any ArchitectureModel, _ input: ModelInput, seed: UInt64) -> [Float] {
        (model as! ModelDropout).dropoutStream.generator = SeededGenerator(seed: seed)
        return GradMode.withoutGrad { model.forward(input) }.scalars
    }

    /// torch's nn.Dropout: zeroes a fraction p (here 0.25 of 40,000 ones: 4σ ≈ 0.009) and scales survivors by
    /// 1/(1−p); in eval mode it returns its input untouched.
    func testDropRateIsPInTrainModeAndNothingInEval() {
        let ones = Tensor(filled: 1, shape: [40_000])
        let mask = AttentionMask(causal: true)
        let train = BlockStep(rope: nil, mask: mask, cache: nil, layer: 0, training: true, stream: DropoutStream())
        let dropped = train.dropout(ones, 0.25).scalars
        let zeros = Double(dropped.filter { $0 == 0 }.count) / Double(dropped.count)
        XCTAssertEqual(zeros, 0.25, accuracy: 0.009)
        XCTAssertTrue(dropped.allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-6 })
        let eval = BlockStep(rope: nil, mask: mask, cache: nil, layer: 0, training: false, stream: DropoutStream())
        XCTAssertTrue(eval.dropout(ones, 0.25) === ones)
    }

    /// The unfused attention that train mode uses for attention dropout computes the fused kernel's result when
    /// nothing is dropped: grouped heads, a cache offset (S > T), causal, padding and packed segments. 1e-5 abs.
    func testUnfusedAttentionEqualsTheFusedKernel() {
        var g = SeededGenerator(seed: 3)
        let (b, t, s, h, hkv, d) = (2, 5, 7, 4, 2, 8)
        let q = Tensor.normal([b, t, h, d], std: 1, generator: &g)
        let k = Tensor.normal([b, s, hkv, d], std: 1, generator: &g), v = Tensor.normal([b, s, hkv, d], std: 1, generator: &g)
        let mask = AttentionMask(causal: true, keyPadding: IntTensor([1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1], shape: [b, s]),
                                 segments: IntTensor([0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1], shape: [b, s]))
        let fused = scaledDotProductAttention(query: q, key: k, value: v, mask: mask).scalars
        let unfused = unfusedAttention(query: q, key: k, value: v, mask: mask, scale: 1 / Float(d).squareRoot(), dropout: 0, generator: &g).scalars
        XCTAssertLessThan(maxAbsDifference(fused, unfused), 1e-5)
    }

    /// Each architecture with its config's dropouts set: eval-mode logits equal the dropout-free model's exactly;
    /// train-mode logits depend on the dropout seed (same seed, same logits; another seed, other logits).
    func testDropoutIsOnInTrainModeOnly() throws {
        let cases: [(String, [String])] = [
            ("gpt2", ["embd_pdrop", "attn_pdrop", "resid_pdrop"]),
            ("bert-classification", ["hidden_dropout_prob", "attention_probs_dropout_prob"]),
            ("llama", ["attention_dropout"]),
            ("falcon-7b-style", ["hidden_dropout"]),
            ("falcon-40b-style", ["hidden_dropout"]),
        ]
        for (fixture, keys) in cases {
            let (plain, input) = try model(fixture, Dictionary(uniqueKeysWithValues: keys.map { ($0, 0.0) }))
            let (dropping, _) = try model(fixture, Dictionary(uniqueKeysWithValues: keys.map { ($0, 0.2) }))
            let reference = forward(plain, input, seed: 1)
            XCTAssertEqual(forward(dropping, input, seed: 1), reference, "\(fixture): eval mode must not drop")
            dropping.setTraining(true)
            let (a, b, again) = (forward(dropping, input, seed: 1), forward(dropping, input, seed: 2), forward(dropping, input, seed: 1))
            XCTAssertEqual(a, again, "\(fixture): same seed, same masks")
            XCTAssertGreaterThan(maxAbsDifference(a, b), 1e-3, "\(fixture): \(keys) must act in train mode")
            XCTAssertGreaterThan(maxAbsDifference(a, reference), 1e-3, fixture)
            plain.setTraining(true)
            XCTAssertEqual(forward(plain, input, seed: 2), reference, "\(fixture): p = 0 draws nothing")
        }
    }

    /// Gradient checkpointing recomputes each block in backward; its dropout masks must be the first run's
    /// (RandomReplay), so loss and every gradient equal the non-checkpointed run's with the same seed. 1e-5 abs.
    func testCheckpointedBlocksReplayTheirDropoutMasks() throws {
        for fixture in ["gpt2", "bert-classification"] {
            var grads: [[String: [Float]]] = []
            var outputs: [[Float]] = []
            for checkpointing in [false, true] {
                let keys = fixture == "gpt2" ? ["embd_pdrop", "attn_pdrop", "resid_pdrop"] : ["hidden_dropout_prob", "attention_probs_dropout_prob"]
                let (m, input) = try model(fixture, Dictionary(uniqueKeysWithValues: keys.map { ($0, 0.2) }))
                m.setTraining(true)
                m.setTrainable(true)
                (m as! GradientCheckpointable).gradientCheckpointing = checkpointing
                (m as! ModelDropout).dropoutStream.generator = SeededGenerator(seed: 9)
                let out = m.forward(input)
                (out * out).sum().backward()
                outputs.append(out.scalars)
                grads.append(Dictionary(uniqueKeysWithValues: m.namedParameters().compactMap { p in p.tensor.grad.map { (p.path, $0.scalars) } }))
            }
            XCTAssertLessThan(maxAbsDifference(outputs[0], outputs[1]), 1e-5, fixture)
            XCTAssertFalse(grads[0].isEmpty)
            XCTAssertEqual(Set(grads[0].keys), Set(grads[1].keys), fixture)
            for (path, g) in grads[0] { XCTAssertLessThan(maxAbsDifference(g, grads[1][path]!), 1e-5, "\(fixture) \(path)") }
        }
    }
}
