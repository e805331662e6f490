import XCTest
import Foundation
import LoRAKit

/// `lorakit merge` (MergedModelWriter.merge) on the parity cases: the written Hugging Face directory loads back and
/// gives PEFT's logits with the adapter (expected.safetensors `logits_adapter`, transformers 5.23 + PEFT 0.21) within
/// 1e-4, and its weights are PEFT's merge_and_unload weights (`merged.*`) element-wise within 1e-6 + 1e-3·|ref| — the parity bars.
final class MergeCommandTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = ParityTests.parity.appendingPathComponent(name)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-merge-\(name)-\(getpid())")
        defer { try? FileManager.default.removeItem(at: out) }
        let config = try MergedModelWriter.merge(model: dir.appendingPathComponent("model").path,
                                                 adapter: dir.appendingPathComponent("adapter"), to: out)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: out.path)), ["config.json", "model.safetensors"])

        let expected = try SafetensorsFile(url: dir.appendingPathComponent("expected.safetensors"))
        let head: TaskHead = config.taskType == "SEQ_CLS" ? .sequenceClassification(numLabels: try expected.shape("logits_adapter").last!) : .causalLM
        let merged = try ModelLoader.load(out.path, head: head)
        let input = ModelInput(inputIDs: IntTensor(try expected.integers("input_ids"), shape: try expected.shape("input_ids")),
                               attentionMask: IntTensor(try expected.integers("attention_mask"), shape: try expected.shape("attention_mask")))
        let logits = GradMode.withoutGrad { merged.model.forward(input) }.scalars
        let worst = zip(logits, try expected.floats("logits_adapter")).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-4, "\(name): merged model's logits vs PEFT with the adapter", file: file, line: line)

        let written = try SafetensorsFile(url: out.appendingPathComponent("model.safetensors"))
        for key in expected.tensorNames where key.hasPrefix("merged.") {
            let path = String(key.dropFirst("merged.".count))
            guard written.contains(path) else { XCTFail("\(name): \(path) not written", file: file, line: line); continue }
            let (ours, ref) = (try written.floats(path), try expected.floats(key))
            // As ParityCheck: every element within 1e-6 + 1e-3·|ref|.
            let (maxAbs, worst) = ParityCheck.weightTolerance.compare(ours, ref)
            XCTAssertLessThanOrEqual(worst, 1, "\(name): \(path): max |Δ| \(maxAbs), \(ParityCheck.weightTolerance)",
                                     file: file, line: line)
        }
    }

    func testLlama() throws { try check("llama") }
    /// Tied embeddings: lm_head is not written (transformers re-ties it from tie_word_embeddings).
    func testTiedRSLoRA() throws { try check("llama-tied-rslora") }
    func testDoRA() throws { try check("llama-dora") }
    /// task_type SEQ_CLS selects the classification head; the trained `score` copy replaces the original.
    func testClassificationHeadFromModulesToSave() throws { try check("llama-classification") }
    func testGPT2Conv1DWithLoRAOnlyBiases() throws { try check("gpt2") }
}
