import XCTest
import LoRAKit

/// Llama against transformers 5.23 outputs (Tests/Fixtures/parity, made by scripts/fixtures/make_parity_cases.py;
/// Tests/Fixtures/real, the SmolLM2 references). Tolerances: tiny fp32 models 1e-4 abs on logits (the
/// project's parity bar); SmolLM2 2e-4 abs (135M parameters, 30 layers of fp32 accumulation-order differences; measured worst 8.6e-5).
final class LlamaParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    override class func setUp() { registerBuiltinArchitectures() }

    func testTinyLlamaBaseLogits() throws { try checkBaseLogits(case: "llama") }
    func testTinyTiedLlamaBaseLogits() throws { try checkBaseLogits(case: "llama-tied-rslora") }

    func checkBaseLogits(case name: String) throws {
        let dir = Self.fixtures.appendingPathComponent("parity/\(name)")
        let loaded = try ModelLoader.load(dir.appendingPathComponent("model").path)
        let expected = try SafetensorsFile(url: dir.appendingPathComponent("expected.safetensors"))
        let ids = try expected.integers("input_ids"), mask = try expected.integers("attention_mask")
        let shape = try expected.info("input_ids").shape
        let input = ModelInput(inputIDs: IntTensor(ids, shape: shape), attentionMask: IntTensor(mask, shape: shape))
        let logits = GradMode.withoutGrad { loaded.model.forward(input) }
        let reference = try expected.floats("logits_base")
        XCTAssertEqual(logits.shape, try expected.info("logits_base").shape)
        let worst = zip(logits.scalars, reference).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4, "\(name): max |Δlogit| = \(worst)")
    }

    func testTiedLlamaSharesOneTensor() throws {
        let loaded = try ModelLoader.load(Self.fixtures.appendingPathComponent("parity/llama-tied-rslora/model").path)
        let params = Dictionary(loaded.model.namedParameters().map { ($0.path, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        XCTAssertTrue(params["lm_head.weight"] === params["model.embed_tokens.weight"])
    }

    func testRotaryPermutationRoundTrip() throws {
        // llama.cpp's permute: reshape(heads, 2, half, cols).swapaxes(1, 2); the loader must invert it exactly.
        let (heads, headDim, cols) = (3, 4, 2)
        let hf = (0..<(heads * headDim * cols)).map(Float.init)
        var gguf = [Float](repeating: 0, count: hf.count)
        for h in 0..<heads { for p in 0..<2 { for i in 0..<(headDim / 2) { for c in 0..<cols {
            gguf[((h * headDim) + i * 2 + p) * cols + c] = hf[((h * headDim) + p * headDim / 2 + i) * cols + c]
        } } } }
        XCTAssertEqual(try GGUFTensorMapping.permuteRotaryRows(gguf, rows: heads * headDim, columns: cols, heads: heads, .fromGGUF), hf)
        XCTAssertEqual(try GGUFTensorMapping.permuteRotaryRows(hf, rows: heads * headDim, columns: cols, heads: heads, .toGGUF), gguf)
    }
}
