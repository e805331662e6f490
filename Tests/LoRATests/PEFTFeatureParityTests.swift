import XCTest
import Foundation
import LoRAKit

/// LoRA features checked against PEFT itself rather than against this code's own formulas. The cases in
/// Tests/Fixtures/parity/peft are made by scripts/fixtures/make_parity_cases.py (transformers 5 + PEFT 0.21, tiny
/// random models). Tolerances are ParityCheck's, element by element: logits and loss |Δ| ≤ 1e-4; gradients, merged
/// and combined weights |Δ| ≤ 1e-6 + 1e-3·|ref|.
final class PEFTFeatureParityTests: XCTestCase {
    static let cases = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parity/peft")

    override class func setUp() { registerBuiltinArchitectures() }

    /// The whole `lorakit parity` check: logits with and without the adapter, loss, the gradient of every saved
    /// tensor, and the merged weights.
    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let report = try ParityCheck.run(caseDirectory: Self.cases.appendingPathComponent(name))
        XCTAssertTrue(report.passed, "\(name):\n\(report.text)", file: file, line: line)
        XCTAssertTrue(report.rows.contains { $0.key.hasPrefix("grad.") } && report.rows.contains { $0.key.hasPrefix("merged.") },
                      "\(name): the case should check gradients and merged weights", file: file, line: line)
    }

    func testExcludeModules() throws { try check("exclude-modules") }
    func testLayersToTransform() throws { try check("layers-to-transform") }
    /// bias="all": every bias of the model is saved and trained, and its gradient matches.
    func testBiasAllOnGPT2() throws { try check("gpt2-bias-all") }
    func testGPT2SequenceClassification() throws { try check("gpt2-classification") }
    func testFalconSequenceClassification() throws { try check("falcon-classification") }

    struct Case {
        let directory: URL
        let expected: SafetensorsFile
        let input: ModelInput
        init(_ name: String) throws {
            directory = PEFTFeatureParityTests.cases.appendingPathComponent(name)
            expected = try SafetensorsFile(url: directory.appendingPathComponent("expected.safetensors"))
            let shape = try expected.shape("input_ids")
            input = ModelInput(inputIDs: IntTensor(try expected.integers("input_ids"), shape: shape),
                               attentionMask: IntTensor(try expected.integers("attention_mask"), shape: shape))
        }
        func load() throws -> LoadedModel { try ModelLoader.load(directory.appendingPathComponent("model").path) }
    }

    func assertClose(_ ours: [Float], _ key: String, in c: Case, _ tolerance: ParityCheck.Tolerance,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let (maxAbs, worst) = tolerance.compare(ours, try c.expected.floats(key))
        XCTAssertLessThanOrEqual(worst, 1, "\(key): max |Δ| = \(maxAbs), \(tolerance)", file: file, line: line)
    }

    /// PiSSA (init_lora_weights="pissa") from PEFT's own adapter_config.json: the residual the base layer keeps and
    /// scale·B·A must be PEFT's (both are independent of the SVD's sign choices, unlike A and B themselves).
    func testPiSSAInitialisationMatchesPEFT() throws {
        let c = try Case("pissa")
        let loaded = try c.load()
        let config = try LoRAConfig(contentsOf: c.directory.appendingPathComponent("adapter/adapter_config.json"))
        let lora = try LoRAModel.inject(into: loaded.model, config: config, plugin: loaded.plugin)
        let params = Dictionary(lora.model.namedParameters().map { ($0.path, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let scale = Float(config.loraAlpha) / Float(config.r)
        var checked = 0
        for key in c.expected.tensorNames where key.hasPrefix("delta.") {
            let module = String(key.dropFirst("delta.".count))
            let (a, b) = (try XCTUnwrap(params[module + ".lora_A.default.weight"]), try XCTUnwrap(params[module + ".lora_B.default.weight"]))
            let delta = GradMode.withoutGrad { b.matmul(a) * scale }
            try assertClose(delta.scalars, key, in: c, ParityCheck.Tolerance(atol: 1e-5, rtol: 1e-3))
            try assertClose(try XCTUnwrap(params[module + ".base_layer.weight"]).scalars, "residual.\(module).weight", in: c,
                            ParityCheck.Tolerance(atol: 1e-5, rtol: 1e-3))
            checked += 1
        }
        XCTAssertEqual(checked, 4, "q_proj and v_proj in two layers")
        // At step 0 the adapted model is the base model.
        try assertClose(GradMode.withoutGrad { lora.model.forward(c.input) }.scalars, "logits_base", in: c, ParityCheck.outputTolerance)
    }

    /// Two PEFT adapters on one model: each alone, both active at once (set_adapter(["a", "b"])), and
    /// add_weighted_adapter with weights 0.7 and -0.4 for each combination type.
    func testSeveralActiveAdaptersAndWeightedCombinations() throws {
        let c = try Case("two-adapters")
        let loaded = try c.load()
        let adapters = c.directory.appendingPathComponent("adapters")
        let lora = try LoRAModel.load(from: adapters.appendingPathComponent("a"), into: loaded.model, plugin: loaded.plugin,
                                      adapterName: "a")
        try lora.loadAdapter(from: adapters.appendingPathComponent("b"), as: "b")
        func logits() -> [Float] { GradMode.withoutGrad { lora.model.forward(c.input) }.scalars }

        for name in ["a", "b"] {
            lora.setActiveAdapter(name)
            try assertClose(logits(), "logits_\(name)", in: c, ParityCheck.outputTolerance)
        }
        lora.setActiveAdapters(["a", "b"])
        try assertClose(logits(), "logits_both", in: c, ParityCheck.outputTolerance)

        for kind in [CombinationType.linear, .cat, .svd] {
            try lora.addWeightedAdapter(adapters: ["a", "b"], weights: [0.7, -0.4], name: kind.rawValue, combinationType: kind)
            lora.setActiveAdapter(kind.rawValue)
            try assertClose(logits(), "logits_\(kind.rawValue)", in: c, ParityCheck.outputTolerance)
            guard kind != .svd else { continue }
            let ours = Dictionary(lora.adapterTensors(kind.rawValue).map { ($0.key, $0.tensor.scalars) }, uniquingKeysWith: { a, _ in a })
            let keys = c.expected.tensorNames.filter { $0.hasPrefix(kind.rawValue + ".") }
            XCTAssertFalse(keys.isEmpty)
            for key in keys {
                let saved = String(key.dropFirst(kind.rawValue.count + 1))
                try assertClose(try XCTUnwrap(ours[saved], "\(kind): no tensor \(saved)"), key, in: c, ParityCheck.weightTolerance)
            }
            XCTAssertEqual(Set(ours.keys), Set(keys.map { String($0.dropFirst(kind.rawValue.count + 1)) }), "\(kind): saved keys")
        }
    }
}
