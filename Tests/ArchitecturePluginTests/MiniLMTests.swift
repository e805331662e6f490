import Foundation
import XCTest
import LoRAKit

/// all-MiniLM-L6-v2 as BertModel (`.base` head, checkpoint without the `bert.` prefix) against transformers 5.23's
/// last_hidden_state (Tests/Fixtures/real/minilm_hidden.safetensors, from shared/reference/make_real_refs.py:
/// `hidden.i` for texts.json["wordpiece"][i], each text alone). Tolerance: 1e-4 abs over every hidden value.
/// The model comes from the model cache (scripts/fetch-models.sh); the tests skip when it is absent.
final class MiniLMTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    static let real = ParityCase.fixtures.appendingPathComponent("real")

    struct Reference {
        let model: LoadedModel
        let texts: [String]
        let ids: [[Int]]
        let hidden: SafetensorsFile
    }

    func reference() throws -> Reference {
        let directory = ModelReference.cacheDirectory.appendingPathComponent("minilm-l6")
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("\(directory.path)/model.safetensors not found; run scripts/fetch-models.sh")
        }
        let model = try ModelLoader.load(directory.path, head: .base)
        let tokenizer = try TokenizerLoader.load(tokenizerJSON: directory.appendingPathComponent("tokenizer.json"))
        let textsJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.real.appendingPathComponent("texts.json")))
        guard let texts = (textsJSON as? [String: Any])?["wordpiece"] as? [String] else {
            throw ParityCaseError("texts.json: no \"wordpiece\" string list")
        }
        let hidden = try SafetensorsFile(url: Self.real.appendingPathComponent("minilm_hidden.safetensors"))
        return Reference(model: model, texts: texts, ids: texts.map { tokenizer.encode($0) }, hidden: hidden)
    }

    func testHiddenStatesOfEachText() throws {
        let r = try reference()
        for (i, ids) in r.ids.enumerated() {
            let input = ModelInput(inputIDs: IntTensor(ids, shape: [1, ids.count]))
            let h = GradMode.withoutGrad { r.model.model.forward(input) }
            XCTAssertEqual(h.shape, [1] + (try r.hidden.shape("hidden.\(i)")), "\"\(r.texts[i])\"")
            let worst = maxAbsDifference(h.scalars, try r.hidden.floats("hidden.\(i)"))
            XCTAssertLessThan(worst, 1e-4, "\"\(r.texts[i])\": max |Δhidden| = \(worst)")
        }
    }

    /// The five texts right-padded into one batch: real tokens must match the unpadded references (same 1e-4),
    /// which holds only if padded keys get no attention weight in this non-causal encoder.
    func testPaddedBatchMatchesEachText() throws {
        let r = try reference()
        let width = r.ids.map(\.count).max()!
        let ids = r.ids.flatMap { $0 + Array(repeating: 0, count: width - $0.count) }
        let mask = r.ids.flatMap { Array(repeating: 1, count: $0.count) + Array(repeating: 0, count: width - $0.count) }
        let input = ModelInput(inputIDs: IntTensor(ids, shape: [r.ids.count, width]),
                               attentionMask: IntTensor(mask, shape: [r.ids.count, width]))
        let h = GradMode.withoutGrad { r.model.model.forward(input) }.scalars
        let d = h.count / (r.ids.count * width)
        for (i, row) in r.ids.enumerated() {
            let ours = Array(h[(i * width * d)..<((i * width + row.count) * d)])
            let worst = maxAbsDifference(ours, try r.hidden.floats("hidden.\(i)"))
            XCTAssertLessThan(worst, 1e-4, "\"\(r.texts[i])\" in a padded batch: max |Δhidden| = \(worst)")
        }
    }
}
