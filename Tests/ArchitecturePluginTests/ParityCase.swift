import Foundation
import XCTest
import LoRAKit

/// One parity fixture directory (Tests/Fixtures/parity/<case>/, made by scripts/fixtures/make_parity_cases.py with
/// transformers 5 + PEFT 0.21; `--check` remakes them all and compares): model/ (config.json +
/// model.safetensors), adapter/, case.json and expected.safetensors (inputs and transformers' outputs).
struct ParityCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    let name: String
    let directory: URL
    /// case.json's "task": "causal-lm" or "sequence-classification".
    let task: String
    let expected: SafetensorsFile

    init(_ name: String) throws {
        self.name = name
        directory = Self.fixtures.appendingPathComponent("parity/\(name)")
        let caseURL = directory.appendingPathComponent("case.json")
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: caseURL)) as? [String: Any],
              let task = object["task"] as? String else {
            throw ParityCaseError("\(caseURL.path): no \"task\" string")
        }
        self.task = task
        expected = try SafetensorsFile(url: directory.appendingPathComponent("expected.safetensors"))
    }

    var modelDirectory: URL { directory.appendingPathComponent("model") }

    /// The head transformers built (case.json's task; the class count from the reference logits' last axis).
    func head() throws -> TaskHead {
        switch task {
        case "causal-lm": return .causalLM
        case "sequence-classification": return .sequenceClassification(numLabels: try expected.shape("logits_base").last!)
        default: throw ParityCaseError("\(name)/case.json: unknown task \"\(task)\"")
        }
    }

    /// The model built by its plugin from model/config.json, weights loaded strictly from model/model.safetensors.
    func load() throws -> LoadedModel { try ModelLoader.load(modelDirectory.path, head: try head()) }

    /// The reference inputs: input_ids, attention_mask and token_type_ids when the fixture has them.
    func input() throws -> ModelInput {
        let shape = try expected.shape("input_ids")
        func ints(_ key: String) throws -> IntTensor? {
            expected.contains(key) ? IntTensor(try expected.integers(key), shape: shape) : nil
        }
        return ModelInput(inputIDs: try ints("input_ids")!, attentionMask: try ints("attention_mask"),
                          tokenTypeIDs: try ints("token_type_ids"))
    }

    /// The largest |ours − transformers'| over `logits_base`, after checking the shapes agree.
    func maxBaseLogitError(file: StaticString = #filePath, line: UInt = #line) throws -> Float {
        let (loaded, input) = (try load(), try input())
        let logits = GradMode.withoutGrad { loaded.model.forward(input) }
        XCTAssertEqual(logits.shape, try expected.shape("logits_base"), "\(name): logits shape", file: file, line: line)
        return maxAbsDifference(logits.scalars, try expected.floats("logits_base"))
    }
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "comparing \(a.count) values with \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

struct ParityCaseError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
