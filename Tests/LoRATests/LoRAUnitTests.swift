import XCTest
import Foundation
import LoRAKit

/// LoRA semantics on the tiny llama fixture (Tests/Fixtures/parity/llama/model): configuration, targeting,
/// merging, files and weighted combinations. Expected values are computed independently in each test.
final class LoRAUnitTests: XCTestCase {
    static let parity = ParityTests.parity
    override class func setUp() { registerBuiltinArchitectures() }

    func tinyModel() throws -> LoadedModel { try ModelLoader.load(Self.parity.appendingPathComponent("llama/model").path) }
    func input() -> ModelInput { ModelInput(inputIDs: IntTensor([1, 5, 9, 33, 70, 2] as [Int], shape: [1, 6])) }
    func logits(_ m: LoadedModel) -> [Float] { GradMode.withoutGrad { m.model.forward(input()).scalars } }
    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }

    func testConfigRejectsWrongTypesAndValuesNamingTheKey() {
        for (json, key) in [(["r": -1], "r"), (["bias": "some"], "bias"), (["target_modules": 5], "target_modules"),
                            (["lora_dropout": 1.5], "lora_dropout"), (["use_dora": "yes"], "use_dora"),
                            (["init_lora_weights": "olora2"], "init_lora_weights")] as [([String: Any], String)] {
            XCTAssertThrowsError(try LoRAConfig(json: json)) { XCTAssertEqual(($0 as? LoRAConfigError)?.key, key) }
        }
    }

    func testConfigKeepsUnknownPEFTKeysOnRoundTrip() throws {
        let url = Self.parity.appendingPathComponent("llama-tied-rslora/adapter/adapter_config.json")
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let config = try LoRAConfig(contentsOf: url)
        XCTAssertTrue(config.useRSLoRA)
        XCTAssertEqual(config.rank(for: "model.layers.1.self_attn.q_proj"), 2)
        XCTAssertEqual(config.alpha(for: "model.layers.0.self_attn.v_proj"), 4)
        XCTAssertEqual(config.scaling(for: "model.layers.0.self_attn.q_proj"), 16 / 8.0.squareRoot(), accuracy: 1e-12)
        let written = try config.jsonObject()
        XCTAssertEqual(Set(written.keys), Set(original.keys).union(["exclude_modules"]).union(written.keys.filter { original[$0] == nil }))
        for key in original.keys { XCTAssertNotNil(written[key], key) }
    }

    func testTargetMatchingRules() throws {
        func targets(_ json: [String: Any]) throws -> [String] {
            let m = try tinyModel()
            let lora = try LoRAModel(model: m.model, plugin: m.plugin, config: try LoRAConfig(json: json))
            return lora.loraLayers.map(\.path).sorted()
        }
        XCTAssertEqual(try targets([:]), ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                           "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"])
        XCTAssertEqual(try targets(["target_modules": #"model\.layers\.1\.mlp\.(up|down)_proj"#]),
                       ["model.layers.1.mlp.down_proj", "model.layers.1.mlp.up_proj"])
        let all = try targets(["target_modules": "all-linear"])
        XCTAssertEqual(all.count, 14)
        XCTAssertFalse(all.contains("lm_head"))
        XCTAssertEqual(try targets(["target_modules": "all-linear", "exclude_modules": ["o_proj", "mlp.up_proj"]]).count, 10)
        XCTAssertEqual(try targets(["target_modules": ["q_proj"], "layers_to_transform": [1]]), ["model.layers.1.self_attn.q_proj"])
        XCTAssertThrowsError(try targets(["target_modules": ["nope_proj"]]))
    }

    func testMergeUnmergeRoundTripAndMergedLogits() throws {
        for dora in [false, true] {
            let m = try tinyModel()
            let before = m.model.namedParameters().first { $0.path == "model.layers.0.self_attn.q_proj.weight" }!.tensor.scalars
            var config = try LoRAConfig(json: ["r": 4, "lora_alpha": 8, "init_lora_weights": false, "use_dora": dora])
            config.targetModules = .names(["q_proj", "v_proj"])
            let lora = try LoRAModel(model: m.model, plugin: m.plugin, config: config, seed: 3)
            let unmerged = logits(m)
            try lora.mergeAdapter()
            XCTAssertLessThan(maxDiff(logits(m), unmerged), 1e-5, "merged forward, dora=\(dora)")
            try lora.unmergeAdapter()
            let w = lora.loraLayers[0].layer.base.parameter("weight")!.scalars
            XCTAssertLessThan(maxDiff(w, before), 1e-6, "unmerge restores W, dora=\(dora)")
            XCTAssertLessThan(maxDiff(logits(m), unmerged), 1e-6)
            let disabled = lora.withAdaptersDisabled { logits(m) }
            try lora.mergeAndUnload()
            XCTAssertTrue(lora.loraLayers.isEmpty)
            XCTAssertLessThan(maxDiff(logits(m), unmerged), 1e-5)
            XCTAssertGreaterThan(maxDiff(disabled, unmerged), 1e-4, "a random adapter changes the output")
        }
    }

    func testSaveLoadRoundTripIsByteIdentical() throws {
        let m = try tinyModel()
        let original = Self.parity.appendingPathComponent("llama-dora/adapter")
        let m2 = try ModelLoader.load(Self.parity.appendingPathComponent("llama-dora/model").path)
        let lora = try LoRAModel.load(from: original, into: m2.model, plugin: m2.plugin)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-roundtrip-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try lora.save(to: dir)
        try lora.save(to: dir)  // saving over an existing adapter replaces it atomically
        let a = try Data(contentsOf: original.appendingPathComponent("adapter_model.safetensors"))
        let b = try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))
        XCTAssertEqual(a, b, "LoRAKit writes PEFT's file byte for byte")
        _ = m
        let back = try LoRAModel.load(from: dir, into: try ModelLoader.load(Self.parity.appendingPathComponent("llama-dora/model").path).model, plugin: m2.plugin)
        XCTAssertEqual(back.adapterTensors("default").map(\.key), lora.adapterTensors("default").map(\.key))
    }

    func testLoadingRejectsAMismatchedAdapterNamingTheTensor() throws {
        let m = try tinyModel()
        XCTAssertThrowsError(try LoRAModel.load(from: Self.parity.appendingPathComponent("llama-tied-rslora/adapter"), into: m.model, plugin: m.plugin)) {
            XCTAssertTrue("\($0)".contains("shape") || "\($0)".contains("missing"), "\($0)")
        }
    }

    func testWeightedAdaptersCatLinearSVD() throws {
        let m = try tinyModel()
        var config = try LoRAConfig(json: ["r": 2, "lora_alpha": 4, "init_lora_weights": false])
        config.targetModules = .names(["q_proj"])
        let lora = try LoRAModel(model: m.model, plugin: m.plugin, config: config, adapterName: "a", seed: 1)
        try lora.addAdapter("b", config: config, seed: 2)
        let (wa, wb) = (0.7, -0.4)
        let layer = lora.loraLayers[0].layer
        let expected = layer.delta("a") * Float(wa) + layer.delta("b") * Float(wb)
        try lora.addWeightedAdapter(adapters: ["a", "b"], weights: [wa, wb], name: "cat", combinationType: .cat)
        XCTAssertEqual(lora.configs["cat"]?.r, 4)
        XCTAssertLessThan(maxDiff(layer.delta("cat").scalars, expected.scalars), 1e-6)
        try lora.addWeightedAdapter(adapters: ["a", "b"], weights: [wa, wb], name: "svd", combinationType: .svd, svdRank: 4)
        // PEFT 0.21's svd path weights get_delta_weight (which holds sᵢ) by wᵢ only: Σ wᵢ·ΔWᵢ, checked against PEFT
        // itself in PEFTFeatureParityTests.
        XCTAssertLessThan(maxDiff(layer.delta("svd").scalars, expected.scalars), 1e-5, "full-rank SVD reproduces Σ w·ΔW")
        try lora.addWeightedAdapter(adapters: ["a", "b"], weights: [wa, wb], name: "svd1", combinationType: .svd, svdRank: 1)
        XCTAssertEqual(layer.loraA("svd1").weight.shape, [1, layer.inFeatures])
        // Rank 1: the best rank-1 approximation, whose Frobenius error is √(σ₂² + σ₃² + …) (Eckart–Young).
        let residual = (expected - layer.delta("svd1")).scalars.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
        let tail = expected.svd().s.scalars.dropFirst().reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
        XCTAssertEqual(residual, tail, accuracy: 1e-4)
        // One adapter: PEFT forces "linear" whatever was asked: √(w·s)·A and √(w·s)·B → B·A·w·s = w·ΔW.
        try lora.addWeightedAdapter(adapters: ["a"], weights: [0.5], name: "single", combinationType: .cat)
        XCTAssertEqual(lora.configs["single"]?.r, 2)
        XCTAssertLessThan(maxDiff(layer.delta("single").scalars, (layer.delta("a") * 0.5).scalars), 1e-6)
        XCTAssertThrowsError(try lora.addWeightedAdapter(adapters: ["a", "cat"], weights: [1, 1], name: "bad", combinationType: .linear),
                             "linear needs equal ranks")
        try lora.addWeightedAdapter(adapters: ["a", "b"], weights: [wa, wb], name: "lin", combinationType: .linear)
        // linear: (Σ √|wᵢsᵢ|·sign·Aᵢ)ᵀ-style mixing: B_lin·A_lin computed from the definition.
        let s = Float(2)  // alpha/r of both adapters
        let (ra, rb) = ((Float(wa) * s).squareRoot(), (abs(Float(wb)) * s).squareRoot())
        let a = layer.loraA("a").weight * ra + layer.loraA("b").weight * (-rb)
        let b = layer.loraB("a").weight * ra + layer.loraB("b").weight * rb
        XCTAssertLessThan(maxDiff(layer.delta("lin").scalars, b.matmul(a).scalars), 1e-6)
    }

    /// PEFT's saved biases (tuners_utils._get_learnable_bias_state_dict): "all" → every `….bias` of the model,
    /// "lora_only" → `<lora module>.base_layer.bias` only; both trainable, and none for "none".
    func testBiasSelectionFollowsPEFT() throws {
        for bias in ["none", "lora_only", "all"] {
            let m = try ModelLoader.load(Self.parity.appendingPathComponent("gpt2/model").path)
            let biases = m.model.namedParameters().map(\.path).filter { $0.hasSuffix(".bias") }
            let config = try LoRAConfig(json: ["r": 2, "target_modules": ["c_attn"], "fan_in_fan_out": true, "bias": bias])
            let lora = try LoRAModel(model: m.model, plugin: m.plugin, config: config)
            let saved = lora.adapterTensors("default").map(\.key).filter { $0.hasSuffix(".bias") }
            let trainable = m.model.trainableParameters().map(\.path).filter { $0.hasSuffix(".bias") }
            switch bias {
            case "none":
                XCTAssertEqual(saved, [])
                XCTAssertEqual(trainable, [])
            case "lora_only":
                XCTAssertEqual(Set(saved), Set((0..<2).map { "base_model.model.transformer.h.\($0).attn.c_attn.base_layer.bias" }))
                XCTAssertEqual(Set(trainable), Set((0..<2).map { "transformer.h.\($0).attn.c_attn.base_layer.bias" }))
            default:
                let expected = biases.map { $0.replacingOccurrences(of: "c_attn.bias", with: "c_attn.base_layer.bias") }
                XCTAssertEqual(Set(saved), Set(expected.map { "base_model.model." + $0 }))
                XCTAssertEqual(Set(trainable), Set(expected))
            }
        }
    }

    func testTrainableParameterSummaryInPEFTFormat() throws {
        let m = try tinyModel()
        var seen = Set<ObjectIdentifier>()
        let base = m.model.namedParameters().filter { seen.insert(ObjectIdentifier($0.tensor)).inserted }.reduce(0) { $0 + $1.tensor.count }
        let lora = try LoRAModel(model: m.model, plugin: m.plugin, config: LoRAConfig(r: 4, loraAlpha: 8))
        // q_proj (64 → 64): 4·64 + 64·4; v_proj (64 → 32): 4·64 + 32·4; two layers = 1,792.
        let trainable = 2 * ((4 * 64 + 64 * 4) + (4 * 64 + 32 * 4))
        XCTAssertEqual(trainable, 1792)
        XCTAssertEqual(lora.parameterCounts().trainable, trainable)
        XCTAssertEqual(lora.parameterCounts().all, base + trainable)
        // PEFT: f"trainable params: {t:,d} || all params: {a:,d} || trainable%: {100 * t / a:.4f}"
        func commas(_ n: Int) -> String { n < 1000 ? "\(n)" : commas(n / 1000) + "," + String(format: "%03d", n % 1000) }
        let percent = String(format: "%.4f", 100 * Double(trainable) / Double(base + trainable))
        XCTAssertEqual(lora.trainableParametersSummary(),
                       "trainable params: 1,792 || all params: \(commas(base + trainable)) || trainable%: \(percent)")
    }

    func testNamedAdaptersSaveInSubfoldersAndReloadUnderAnotherName() throws {
        let m = try tinyModel()
        var config = try LoRAConfig(json: ["r": 2, "lora_alpha": 4, "init_lora_weights": false, "target_modules": ["q_proj", "o_proj"]])
        let lora = try LoRAModel(model: m.model, plugin: m.plugin, config: config, seed: 1)
        config.useDoRA = true
        try lora.addAdapter("styled", config: config, seed: 2)
        lora.setActiveAdapter("styled")
        let styled = logits(m)
        lora.setActiveAdapters(["default", "styled"])
        let both = logits(m)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-named-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try lora.save(to: dir, adapter: "default")
        try lora.save(to: dir, adapter: "styled")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("adapter_model.safetensors").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("styled/adapter_model.safetensors").path))
        let keys = try SafetensorsFile(url: dir.appendingPathComponent("styled/adapter_model.safetensors")).tensorNames
        XCTAssertTrue(keys.contains("base_model.model.model.layers.0.self_attn.o_proj.lora_magnitude_vector"), "\(keys)")
        XCTAssertFalse(keys.contains { $0.contains("styled") || $0.contains("default") }, "adapter names never reach the file")

        let fresh = try tinyModel()
        let reloaded = try LoRAModel.load(from: dir.appendingPathComponent("styled"), into: fresh.model, plugin: fresh.plugin, adapterName: "x")
        XCTAssertLessThan(maxDiff(logits(fresh), styled), 1e-6, "the styled adapter under the name x")
        try reloaded.loadAdapter(from: dir, as: "default")
        reloaded.setActiveAdapters(["default", "x"])
        XCTAssertLessThan(maxDiff(logits(fresh), both), 1e-5, "two adapters active at once (same order: DoRA builds on the result so far)")
        try reloaded.deleteAdapter("x")
        XCTAssertEqual(reloaded.adapterNames, ["default"])
        XCTAssertFalse(fresh.model.namedParameters().contains { $0.path.contains(".x.") })
    }
}
