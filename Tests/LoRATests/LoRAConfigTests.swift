import XCTest
import Foundation
import LoRAKit

/// LoRAConfig: PEFT's key-matching rules (tuners_utils.check_target_module_exists, other.get_pattern_key) on plain
/// paths, validation errors that name the key, and the Codable form. Expected answers follow from PEFT's rules as
/// quoted in each test.
final class LoRAConfigTests: XCTestCase {
    let heads = ["lm_head", "score", "classifier"]
    let llamaDefaults = ["q_proj", "v_proj"]

    func config(_ json: [String: Any]) throws -> LoRAConfig { try LoRAConfig(json: json) }
    func hits(_ c: LoRAConfig, _ paths: [String]) -> [String] {
        paths.filter { c.targets($0, defaultTargets: llamaDefaults, outputHeads: heads) }
    }

    let paths = ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.mlp.up_proj",
                 "model.layers.1.self_attn.q_proj", "model.layers.12.self_attn.q_proj", "model.layers.1.mlp.up_proj",
                 "model.layers.1.block_sparse_moe.experts.0.w1", "lm_head", "score", "q_proj"]

    func testListTargetsMatchTheWholePathOrADotSuffix() throws {
        let c = try config(["target_modules": ["q_proj", "mlp.up_proj"]])
        XCTAssertEqual(hits(c, paths), ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj", "model.layers.1.self_attn.q_proj",
                                        "model.layers.12.self_attn.q_proj", "model.layers.1.mlp.up_proj", "q_proj"])
        // "proj" is not a dot-separated suffix of "q_proj".
        XCTAssertEqual(hits(try config(["target_modules": ["proj"]]), paths), [])
        // Unset: the architecture's defaults.
        XCTAssertEqual(hits(try config([:]), paths).count, 4)
    }

    func testRegexTargetsMustMatchTheWholePath() throws {
        XCTAssertEqual(hits(try config(["target_modules": #".*\.1\..*_proj"#]), paths),
                       ["model.layers.1.self_attn.q_proj", "model.layers.1.mlp.up_proj"])
        // re.fullmatch: a pattern matching only a part of the path does not count.
        XCTAssertEqual(hits(try config(["target_modules": "q_proj"]), paths), ["q_proj"])
    }

    func testAllLinearSkipsOutputHeads() throws {
        let c = try config(["target_modules": "all-linear"])
        XCTAssertEqual(hits(c, paths).filter { heads.contains($0) }, [])
        XCTAssertEqual(hits(c, paths).count, paths.count - 2)
    }

    func testExcludeModulesListAndRegex() throws {
        let list = try config(["target_modules": "all-linear", "exclude_modules": ["k_proj", "mlp.up_proj"]])
        XCTAssertFalse(hits(list, paths).contains { $0.hasSuffix("k_proj") || $0.hasSuffix("up_proj") })
        XCTAssertTrue(hits(list, paths).contains("model.layers.0.self_attn.q_proj"))
        let regex = try config(["target_modules": ["q_proj", "up_proj"], "exclude_modules": #"model\.layers\.1\..*"#])
        XCTAssertEqual(hits(regex, paths), ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj",
                                            "model.layers.12.self_attn.q_proj", "q_proj"])
    }

    func testModulesToSaveAreNeverTargets() throws {
        let c = try config(["target_modules": "all-linear", "modules_to_save": ["mlp"]])
        XCTAssertFalse(hits(c, paths).contains { $0.contains(".mlp.") })
    }

    func testLayersToTransformAndPattern() throws {
        // No pattern: the first "<name>.<digits>." segment ("layers.1." — not the expert's "experts.0.").
        let c = try config(["target_modules": ["q_proj", "w1"], "layers_to_transform": [1, 12]])
        // The bare "q_proj" is listed exactly, so it is taken too, layer or not (see the next case).
        XCTAssertEqual(hits(c, paths), ["model.layers.1.self_attn.q_proj", "model.layers.12.self_attn.q_proj",
                                        "model.layers.1.block_sparse_moe.experts.0.w1", "q_proj"])
        // A path listed exactly is taken whatever its layer (PEFT checks `key in target_modules` first).
        let exact = try config(["target_modules": ["model.layers.0.self_attn.q_proj", "k_proj"], "layers_to_transform": 1])
        XCTAssertEqual(hits(exact, paths), ["model.layers.0.self_attn.q_proj"])
        let pattern = try config(["target_modules": ["w1"], "layers_to_transform": [0], "layers_pattern": "experts"])
        XCTAssertEqual(hits(pattern, paths), ["model.layers.1.block_sparse_moe.experts.0.w1"])
        // A module outside any numbered layer is not transformed when layers are selected.
        XCTAssertEqual(hits(try config(["target_modules": ["q_proj"], "layers_to_transform": [0]]), ["encoder.q_proj"]), [])
    }

    func testRankAndAlphaPatternsMatchAPathSuffixAsARegex() throws {
        let c = try config(["r": 8, "lora_alpha": 16, "rank_pattern": [#"layers\.1\d*\.self_attn\.q_proj"#: 2, "up_proj": 4],
                            "alpha_pattern": ["model.layers.0.mlp.up_proj": 3]])
        XCTAssertEqual(c.rank(for: "model.layers.1.self_attn.q_proj"), 2)
        XCTAssertEqual(c.rank(for: "model.layers.12.self_attn.q_proj"), 2)
        XCTAssertEqual(c.rank(for: "model.layers.0.self_attn.q_proj"), 8)
        XCTAssertEqual(c.rank(for: "model.layers.0.mlp.up_proj"), 4)
        // re.match(r"(.*\.)?(up_proj)$"): "xup_proj" has no dot before the key.
        XCTAssertEqual(c.rank(for: "model.layers.0.mlp.xup_proj"), 8)
        XCTAssertEqual(c.alpha(for: "model.layers.0.mlp.up_proj"), 3)
        XCTAssertEqual(c.scaling(for: "model.layers.0.mlp.up_proj"), 3.0 / 4.0, accuracy: 1e-12)
        XCTAssertEqual(c.scaling(for: "model.layers.1.mlp.up_proj"), 16.0 / 4.0, accuracy: 1e-12)
        var rs = c
        rs.useRSLoRA = true
        XCTAssertEqual(rs.scaling(for: "model.layers.0.self_attn.q_proj"), 16 / 8.0.squareRoot(), accuracy: 1e-12)
    }

    func testValidationNamesTheKey() {
        let cases: [([String: Any], String)] = [
            (["r": -1], "r"), (["r": 2.5], "r"), (["r": "8"], "r"), (["lora_alpha": "big"], "lora_alpha"),
            (["bias": "some"], "bias"), (["target_modules": 5], "target_modules"), (["target_modules": [1, 2]], "target_modules"),
            (["lora_dropout": 1.5], "lora_dropout"), (["use_dora": "yes"], "use_dora"), (["use_rslora": 1], "use_rslora"),
            (["init_lora_weights": "olora2"], "init_lora_weights"), (["rank_pattern": ["q_proj": 0]], "rank_pattern"),
            (["peft_type": "IA3"], "peft_type"), (["layers_to_transform": "first"], "layers_to_transform"),
            (["target_modules": "all-linear", "layers_to_transform": [0]], "layers_to_transform"),
            (["target_modules": #".*q_proj"#, "layers_pattern": "layers"], "layers_pattern"),
            (["target_modules": ["q_proj"], "layers_pattern": "layers"], "layers_pattern"),
            (["lora_bias": true], "lora_bias"), (["use_qalora": true], "use_qalora"),
            (["layer_replication": [[0, 2]]], "layer_replication"), (["trainable_token_indices": [1, 2]], "trainable_token_indices"),
        ]
        for (json, key) in cases {
            XCTAssertThrowsError(try LoRAConfig(json: json, source: "adapter_config.json"), "\(json)") { error in
                let e = error as? LoRAConfigError
                XCTAssertEqual(e?.key, key, "\(json)")
                XCTAssertTrue("\(error)".contains("adapter_config.json") && "\(error)".contains(key), "\(error)")
            }
        }
    }

    func testPEFTDefaultsOfUnsupportedFeaturesAreAccepted() throws {
        // What PEFT 0.21 writes for a plain adapter: every extra feature present but off.
        let c = try config(["lora_bias": false, "use_qalora": false, "layer_replication": NSNull(), "loftq_config": [String: Any](),
                            "megatron_core": "megatron.core", "qalora_group_size": 16, "init_lora_weights": "pissa_niter_4"])
        XCTAssertEqual(c.initLoRAWeights, .pissa)
    }

    func testCodableUsesPEFTKeysAndValidates() throws {
        let json = #"{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "use_dora": true, "bias": "lora_only", "future_knob": [1, 2]}"#
        let c = try JSONDecoder().decode(LoRAConfig.self, from: Data(json.utf8))
        XCTAssertEqual(c.r, 4)
        XCTAssertTrue(c.useDoRA)
        XCTAssertEqual(c.bias, .loraOnly)
        XCTAssertEqual(c.targetModules, .names(["q_proj"]))
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as! [String: Any]
        XCTAssertEqual(encoded["lora_alpha"] as? Int, 8)
        XCTAssertEqual(encoded["peft_type"] as? String, "LORA")
        XCTAssertEqual(encoded["future_knob"] as? [Int], [1, 2], "unknown keys survive")
        let again = try JSONDecoder().decode(LoRAConfig.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(String(decoding: try again.jsonData(), as: UTF8.self), String(decoding: try c.jsonData(), as: UTF8.self))
        XCTAssertEqual(again, c)
        struct Wrapper: Decodable { let lora: LoRAConfig }
        XCTAssertThrowsError(try JSONDecoder().decode(Wrapper.self, from: Data(#"{"lora": {"r": 0}}"#.utf8))) {
            XCTAssertEqual(($0 as? LoRAConfigError)?.key, "r")
            XCTAssertTrue("\($0)".contains("lora"), "\($0)")
        }
    }
}
