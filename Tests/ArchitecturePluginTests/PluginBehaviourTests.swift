import Foundation
import XCTest
import LoRAKit

/// What the fixtures do not cover: heads transformers pools by rule, checkpoints with and without the base-model
/// prefix, the KV cache, the Falcon fused-QKV layouts without a fixture, and configuration errors.
final class PluginBehaviourTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    func params(_ model: any ArchitectureModel) -> [String: Tensor] {
        Dictionary(model.namedParameters().map { ($0.path, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    /// The plugins are reached through the registry, as the loader and the CLI reach them.
    func plugin(_ modelType: String) throws -> any ArchitecturePlugin.Type {
        try ArchitectureRegistry.shared.plugin(forModelType: modelType)
    }

    func testRegistryServesEachModelType() throws {
        XCTAssertEqual(try plugin("gpt2").name, "GPT-2")
        XCTAssertEqual(try plugin("bert").name, "BERT")
        XCTAssertEqual(try plugin("falcon").name, "Falcon")
    }

    /// GPT-2's Conv1D keeps weights (in, out) — why PEFT needs fan_in_fan_out — and lm_head is wte itself.
    func testGPT2ConvWeightsAndTiedHead() throws {
        let p = params(try ParityCase("gpt2").load().model)
        XCTAssertEqual(p["transformer.h.0.attn.c_attn.weight"]?.shape, [64, 192])
        XCTAssertEqual(p["transformer.h.0.mlp.c_proj.weight"]?.shape, [256, 64])
        XCTAssertTrue(p["lm_head.weight"] === p["transformer.wte.weight"])
    }

    /// GPT2ForSequenceClassification scores the rightmost token that is not pad_token_id: row 2 of the fixture is
    /// padded after position 8, so its logits must be score · (hidden at 8). Exact up to 1e-5 (same arithmetic).
    func testGPT2ClassificationPoolsLastNonPadToken() throws {
        let fixture = try ParityCase("gpt2")
        let input = try fixture.input()
        let base = try ModelLoader.load(fixture.modelDirectory.path, head: .base).model
        let classifier = try ModelLoader.load(fixture.modelDirectory.path, head: .sequenceClassification(numLabels: 3)).model
        // GPT2Model's names have no `transformer.` prefix; the checkpoint (GPT2LMHeadModel) has it.
        XCTAssertNotNil(params(base)["h.0.attn.c_attn.weight"])
        XCTAssertFalse(params(base).keys.contains { $0.hasPrefix("transformer.") })
        let (hidden, logits) = GradMode.withoutGrad { (base.forward(input), classifier.forward(input)) }
        XCTAssertEqual(logits.shape, [2, 3])
        let score = params(classifier)["score.weight"]!.scalars, h = hidden.scalars
        for (row, last) in [(0, 11), (1, 8)] {
            let state = h[((row * 12 + last) * 64)..<((row * 12 + last + 1) * 64)]
            for label in 0..<3 {
                let expected = zip(score[(label * 64)..<((label + 1) * 64)], state).map(*).reduce(0, +)
                XCTAssertEqual(logits.scalars[row * 3 + label], expected, accuracy: 1e-5, "row \(row) label \(label)")
            }
        }
    }

    /// BertModel checkpoints (MiniLM) have no `bert.` prefix, BertForSequenceClassification ones do; either loads
    /// into either head with the same tensors, and a missing classifier is initialised rather than an error.
    func testBERTLoadsAcrossTheBasePrefix() throws {
        let fixture = try ParityCase("bert-classification")
        let file = try SafetensorsFile(url: fixture.modelDirectory.appendingPathComponent("model.safetensors"))
        let base = try ModelLoader.load(fixture.modelDirectory.path, head: .base).model
        let baseParams = params(base)
        XCTAssertFalse(baseParams.keys.contains { $0.hasPrefix("bert.") || $0.hasPrefix("classifier.") })
        XCTAssertEqual(baseParams["encoder.layer.1.attention.self.query.weight"]?.scalars,
                       try file.floats("bert.encoder.layer.1.attention.self.query.weight"))

        // The same weights saved as a bare BertModel, then loaded for classification.
        let bare = FileManager.default.temporaryDirectory.appendingPathComponent("bert-bare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: bare, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: bare) }
        try FileManager.default.copyItem(at: fixture.modelDirectory.appendingPathComponent("config.json"),
                                         to: bare.appendingPathComponent("config.json"))
        try SafetensorsWriter.write(baseParams.map { SafetensorsTensor(name: $0.key, floats: $0.value.scalars, shape: $0.value.shape) },
                                    to: bare.appendingPathComponent("model.safetensors"))
        let classifier = try ModelLoader.load(bare.path, head: .sequenceClassification(numLabels: 3)).model
        let classifierParams = params(classifier)
        XCTAssertEqual(classifierParams["bert.pooler.dense.weight"]?.scalars, baseParams["pooler.dense.weight"]?.scalars)
        XCTAssertEqual(classifierParams["classifier.weight"]?.shape, [3, 64])
    }

    /// For classification the last BERT layer computes each row's first token only (the pooler reads nothing else).
    /// Its logits must be those of the whole encoder's first token (BertModel with the same weights, then the pooler
    /// and the classifier by hand), under the fixture's padding mask, and checkpointing must not change them or the
    /// gradients. 1e-5 abs: the same arithmetic in another order.
    func testBERTClassificationComputesTheWholeEncodersFirstToken() throws {
        let fixture = try ParityCase("bert-classification")
        let input = try fixture.input()
        let base = try ModelLoader.load(fixture.modelDirectory.path, head: .base).model
        let loaded = try fixture.load()
        let p = params(loaded.model)
        let hidden = GradMode.withoutGrad { base.forward(input) }
        let (b, t, d) = (hidden.shape[0], hidden.shape[1], hidden.shape[2])
        let first = Tensor((0..<b).flatMap { Array(hidden.scalars[($0 * t * d)..<($0 * t * d + d)]) }, shape: [b, d])
        let expected = GradMode.withoutGrad {
            first.linear(p["bert.pooler.dense.weight"]!, bias: p["bert.pooler.dense.bias"]!).tanh()
                .linear(p["classifier.weight"]!, bias: p["classifier.bias"]!)
        }
        let logits = GradMode.withoutGrad { loaded.model.forward(input) }
        XCTAssertLessThan(maxAbsDifference(logits.scalars, expected.scalars), 1e-5)

        // Gradients of every weight, with and without checkpointing.
        func gradients(checkpointing: Bool) throws -> [String: [Float]] {
            let model = try fixture.load().model
            (model as? any GradientCheckpointable)?.gradientCheckpointing = checkpointing
            for (_, w) in model.namedParameters() { w.requiresGrad = true }
            (model.forward(input) * model.forward(input)).sum().backward()
            return Dictionary(model.namedParameters().compactMap { n, w in w.grad.map { (n, $0.scalars) } }, uniquingKeysWith: { a, _ in a })
        }
        let (plain, checkpointed) = (try gradients(checkpointing: false), try gradients(checkpointing: true))
        XCTAssertEqual(Set(plain.keys), Set(checkpointed.keys))
        XCTAssertNotNil(plain["bert.encoder.layer.1.attention.self.query.weight"], "the last layer's query gets a gradient")
        for (name, g) in plain { XCTAssertLessThan(maxAbsDifference(g, checkpointed[name]!), 1e-5, name) }
    }

    /// Decoding with the KV cache (8 tokens, then one at a time) gives the full forward's logits at each
    /// position, 1e-4 abs: GPT-2's learned positions and Falcon's rotary must both continue after the cache.
    func testCachedDecodingMatchesFullForward() throws {
        for name in ["gpt2", "falcon-7b-style", "falcon-40b-style"] {
            let fixture = try ParityCase(name)
            let model = try fixture.load().model
            let ids = Array(try fixture.expected.integers("input_ids").prefix(12))  // row 1: no padding
            let full = GradMode.withoutGrad { model.forward(ModelInput(inputIDs: IntTensor(ids, shape: [1, 12]))) }.scalars
            let cache = KVCache(layers: 2)
            var steps = GradMode.withoutGrad {
                model.forward(ModelInput(inputIDs: IntTensor(Array(ids[..<8]), shape: [1, 8]), cache: cache))
            }.scalars
            for i in 8..<12 {
                steps += GradMode.withoutGrad { model.forward(ModelInput(inputIDs: IntTensor([ids[i]], shape: [1, 1]), cache: cache)) }.scalars
            }
            XCTAssertLessThan(maxAbsDifference(steps, full), 1e-4, "\(name): cached decoding")
        }
    }

    /// transformers splits a fused query_key_value per KV group: view(B, T, groups, heads/groups + 2, D). The
    /// original layout (multi_query false: view(B, T, H, 3, D)) and 7B's (view(B, T, H + 2, D)) are therefore the
    /// new-architecture layout with num_kv_heads = H and 1 (and one input_layernorm). Same weights ⇒ same logits,
    /// 1e-6 abs; the 40B fixture checks that layout itself against transformers.
    func testFalconFusedLayoutsAreTheGroupedLayout() throws {
        let base: [String: Any] = [
            "model_type": "falcon", "vocab_size": 32, "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 1,
            "ffn_hidden_size": 64, "bias": true, "parallel_attn": true,
        ]
        let ids = IntTensor([3, 17, 5, 9, 30, 2], shape: [1, 6])
        for (legacy, kvHeads) in [(["multi_query": false], 4), (["multi_query": true], 1)] {
            let legacyModel = try plugin("falcon").makeModel(config: ModelConfig(base.merging(legacy) { $1 }, source: "legacy"), head: .causalLM)
            let grouped: [String: Any] = ["new_decoder_architecture": true, "num_kv_heads": kvHeads, "num_ln_in_parallel_attn": 1]
            let groupedModel = try plugin("falcon").makeModel(config: ModelConfig(base.merging(grouped) { $1 }, source: "grouped"), head: .causalLM)
            var generator = SeededGenerator(seed: 7)
            for (path, tensor) in legacyModel.namedParameters() where !legacyModel.tiedParameters.keys.contains(path) {
                let value = Tensor.normal(tensor.shape, std: 0.3, generator: &generator)
                try legacyModel.setParameter(at: path, value)
                try groupedModel.setParameter(at: path, value)
            }
            for model in [legacyModel, groupedModel] { for (target, origin) in model.tiedParameters { try model.tie(target, to: origin) } }
            let (a, b) = GradMode.withoutGrad { (legacyModel.forward(ModelInput(inputIDs: ids)), groupedModel.forward(ModelInput(inputIDs: ids))) }
            XCTAssertLessThan(maxAbsDifference(a.scalars, b.scalars), 1e-6, "\(legacy) vs num_kv_heads \(kvHeads)")
        }
    }

    func testConfigurationErrorsNameTheKey() {
        let falcon: [String: Any] = ["model_type": "falcon", "vocab_size": 32, "hidden_size": 32, "num_attention_heads": 4,
                                     "num_hidden_layers": 1, "alibi": true]
        XCTAssertThrowsError(try plugin("falcon").makeModel(config: ModelConfig(falcon, source: "f/config.json"), head: .causalLM)) {
            XCTAssertTrue("\($0)".contains("f/config.json") && "\($0)".contains("ALiBi"), "\($0)")
        }
        let gpt2: [String: Any] = ["model_type": "gpt2", "vocab_size": 32, "n_embd": 32, "n_head": 4, "n_layer": 1,
                                   "activation_function": "swish"]
        XCTAssertThrowsError(try plugin("gpt2").makeModel(config: ModelConfig(gpt2, source: "g/config.json"), head: .causalLM)) {
            XCTAssertTrue("\($0)".contains("activation_function") && "\($0)".contains("swish"), "\($0)")
        }
        XCTAssertThrowsError(try plugin("bert").makeModel(config: ModelConfig(["model_type": "bert"], source: "b/config.json"), head: .causalLM))
    }
}
