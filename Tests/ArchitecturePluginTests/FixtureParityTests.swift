import XCTest
import LoRAKit

/// Base-model logits of every non-Llama parity fixture (and Llama's classification head) against transformers 5.23
/// (expected.safetensors `logits_base`, see ParityCase). Tolerance: 1e-4 abs, the project's fp32 parity bar.
/// Causal-LM cases compare (B, T, vocab) logits at every position, padded ones included; classification cases the
/// (B, numLabels) logits of transformers' pooling (BERT: pooler on [CLS]; Llama: the last non-pad token).
final class FixtureParityTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let worst = try ParityCase(name).maxBaseLogitError(file: file, line: line)
        XCTAssertLessThan(worst, 1e-4, "\(name): max |Δlogit| = \(worst)", file: file, line: line)
    }

    /// Conv1D fused c_attn, learned positions, gelu_new, tied lm_head; right padding in row 2.
    func testGPT2() throws { try check("gpt2") }
    /// Post-LN encoder, erf GELU, pooler + classifier, padding mask without causality.
    func testBERTClassification() throws { try check("bert-classification") }
    /// multi_query: one shared key/value head, one input_layernorm for the parallel attention + MLP.
    func testFalcon7BStyle() throws { try check("falcon-7b-style") }
    /// new_decoder_architecture: 2 grouped key/value heads in the fused projection, ln_attn + ln_mlp.
    func testFalcon40BStyle() throws { try check("falcon-40b-style") }
    /// The Llama plugin's `score` head pooled at the last non-pad token.
    func testLlamaClassification() throws { try check("llama-classification") }
}
