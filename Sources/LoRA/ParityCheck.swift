import Foundation
import ArchitectureKit
import ModelFormats
import NN
import TensorCore

/// Recomputes a parity case (a directory with model/, adapter/, expected.safetensors and case.json, as made by
/// scripts/fixtures/make_parity_cases.py) and compares every key of expected.safetensors.
///
/// Every element is compared: |ours − expected| ≤ atol + rtol·|expected| (numpy's allclose), with the tolerance
/// of `tolerance(for:)`. The report gives max |Δ| and the worst element's share of its allowance (≤ 1 passes).
public enum ParityCheck {
    /// An element-wise tolerance: element i passes when |Δᵢ| ≤ atol + rtol·|refᵢ|.
    public struct Tolerance: Equatable, Sendable, CustomStringConvertible {
        public var atol: Float
        public var rtol: Float
        public init(atol: Float, rtol: Float) { self.atol = atol; self.rtol = rtol }
        public var description: String { "|Δ| ≤ \(atol) + \(rtol)·|ref|" }

        /// max |Δ| and the worst element's |Δ| / (atol + rtol·|ref|); NaN anywhere, or a length mismatch, is ∞.
        public func compare(_ ours: [Float], _ reference: [Float]) -> (maxAbs: Float, worst: Float) {
            guard ours.count == reference.count else { return (.infinity, .infinity) }
            var maxAbs: Float = 0, worst: Float = 0
            for (a, b) in zip(ours, reference) {
                let delta = abs(a - b)
                guard delta.isFinite || a == b else { return (.infinity, .infinity) }
                if a == b { continue }
                maxAbs = max(maxAbs, delta)
                let allowance = atol + rtol * abs(b)
                worst = max(worst, allowance > 0 ? delta / allowance : .infinity)
            }
            return (maxAbs, worst)
        }
    }

    /// Logits and losses: 1e-4 absolute on every element (fp32 forward passes of tiny models differ by ~1e-6).
    public static let outputTolerance = Tolerance(atol: 1e-4, rtol: 0)
    /// Gradients and merged weights: 1e-3 relative to each element, plus 1e-6 absolute for elements near zero
    /// (a relative bound alone would demand exact zeros where the reference's rounding left 1e-9).
    public static let weightTolerance = Tolerance(atol: 1e-6, rtol: 1e-3)

    /// The tolerance a key of expected.safetensors is held to.
    public static func tolerance(for key: String) -> Tolerance {
        key.hasPrefix("grad.") || key.hasPrefix("merged.") ? weightTolerance : outputTolerance
    }

    public struct Row {
        public let key: String
        public let maxAbs: Float
        /// The worst element's |Δ| / (atol + rtol·|ref|): at most 1 passes.
        public let worst: Float
        public let tolerance: Tolerance
        public var passed: Bool { worst <= 1 }
    }

    public struct Report {
        public let rows: [Row]
        public let outputs: [String: Tensor]
        public var passed: Bool { rows.allSatisfy(\.passed) }

        public var text: String {
            let width = max(3, rows.map(\.key.count).max() ?? 0)
            // Padding by hand: String(format:) with %@ and a width is not reliable with Swift strings on Linux.
            func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
                let fill = String(repeating: " ", count: max(0, n - s.count))
                return left ? fill + s : s + fill
            }
            func sci(_ x: Float) -> String { x.isFinite ? String(format: "%.3e", Double(x)) : "\(x)" }
            var lines = [pad("key", width) + " " + pad("max |Δ|", 10, left: true) + " " + pad("worst", 10, left: true) + "  ok"]
            for r in rows {
                lines.append(pad(r.key, width) + " " + pad(sci(r.maxAbs), 10, left: true) + " " + pad(sci(r.worst), 10, left: true)
                             + "  " + (r.passed ? "pass" : "FAIL"))
            }
            lines.append("(every element must satisfy |Δ| ≤ atol + rtol·|ref|; worst = the largest |Δ| / (atol + rtol·|ref|), ≤ 1 passes; "
                         + "logits and loss: \(outputTolerance); grad.* and merged.*: \(weightTolerance))")
            lines.append(passed ? "parity: all \(rows.count) keys within tolerance" : "parity: \(rows.filter { !$0.passed }.count) of \(rows.count) keys FAIL")
            return lines.joined(separator: "\n")
        }
    }

    /// Loads the case's model and adapter, recomputes every key of expected.safetensors and compares.
    /// `saveAdapterTo`: also write the adapter as LoRAKit saves it (before anything is merged), so that PEFT can be
    /// pointed at a LoRAKit-written file of the same case (scripts/interop-check.sh).
    public static func run(caseDirectory dir: URL, registry: ArchitectureRegistry = .shared, saveAdapterTo: URL? = nil) throws -> Report {
        let expected = try SafetensorsFile(url: dir.appendingPathComponent("expected.safetensors"))
        // case.json names the head; without it, (B, classes) logits mean a classification case, (B, T, vocab) a causal LM.
        let caseFile = dir.appendingPathComponent("case.json")
        let caseInfo = FileManager.default.fileExists(atPath: caseFile.path)
            ? try JSONSerialization.jsonObject(with: Data(contentsOf: caseFile)) as? [String: Any] ?? [:] : [:]
        let logitsRank = expected.contains("logits_base") ? try expected.shape("logits_base").count : 3
        let classification = (caseInfo["task"] as? String).map { $0.contains("classification") } ?? (logitsRank == 2)
        var head = TaskHead.causalLM
        if classification {
            guard let logitsKey = ["logits_base", "logits_adapter"].first(where: expected.contains),
                  let labels = try expected.shape(logitsKey).last else {
                throw LoRAError.parityCase("\(dir.path): a classification case needs logits_base or logits_adapter to tell the label count")
            }
            head = .sequenceClassification(numLabels: labels)
        }

        func ints(_ key: String) throws -> IntTensor? {
            guard expected.contains(key) else { return nil }
            return IntTensor(try expected.integers(key), shape: try expected.shape(key))
        }
        guard let ids = try ints("input_ids") else { throw LoRAError.parityCase("\(dir.path): expected.safetensors has no input_ids") }
        let input = ModelInput(inputIDs: ids, attentionMask: try ints("attention_mask"), tokenTypeIDs: try ints("token_type_ids"))

        let loaded = try ModelLoader.load(dir.appendingPathComponent("model").path, head: head, registry: registry)
        var outputs: [String: Tensor] = [:]
        outputs["logits_base"] = GradMode.withoutGrad { loaded.model.forward(input) }

        let lora = try LoRAModel.load(from: dir.appendingPathComponent("adapter"), into: loaded.model, plugin: loaded.plugin)
        if let saveAdapterTo { try lora.save(to: saveAdapterTo) }
        let logits = lora.model.forward(input)
        outputs["logits_adapter"] = logits.detached()
        if let labels = try ints("labels") {
            let loss = classification ? crossEntropy(logits, labels: labels) : causalLanguageModelLoss(logits, labels: labels)
            outputs["loss_adapter"] = loss.detached()
            loss.backward()
            let byKey = Dictionary(lora.adapterTensors(lora.activeAdapter).map { ($0.key, $0.tensor) }, uniquingKeysWith: { a, _ in a })
            for key in expected.tensorNames where key.hasPrefix("grad.") {
                let name = String(key.dropFirst("grad.".count))
                guard let t = byKey[name] else { throw LoRAError.parityCase("\(key): no adapter tensor '\(name)' in this model") }
                outputs[key] = t.grad ?? Tensor(zeros: t.shape)
            }
        }
        let mergedKeys = expected.tensorNames.filter { $0.hasPrefix("merged.") }
        if !mergedKeys.isEmpty {
            try lora.mergeAndUnload()
            let params = Dictionary(lora.model.namedParameters().map { ($0.path, $0.tensor) }, uniquingKeysWith: { a, _ in a })
            for key in mergedKeys {
                let path = String(key.dropFirst("merged.".count))
                guard let t = params[path] else { throw LoRAError.parityCase("\(key): the merged model has no parameter '\(path)'") }
                outputs[key] = t
            }
        }

        var rows: [Row] = []
        for key in expected.tensorNames where outputs[key] != nil {
            let tolerance = tolerance(for: key)
            let (maxAbs, worst) = tolerance.compare(outputs[key]!.scalars, try expected.floats(key))
            rows.append(Row(key: key, maxAbs: maxAbs, worst: worst, tolerance: tolerance))
        }
        let missing = expected.tensorNames.filter { outputs[$0] == nil && !["input_ids", "attention_mask", "labels", "token_type_ids"].contains($0) }
        for key in missing { rows.append(Row(key: key + " (not computed)", maxAbs: .nan, worst: .infinity, tolerance: tolerance(for: key))) }
        return Report(rows: rows, outputs: outputs)
    }

    /// Writes the computed tensors (same keys as expected.safetensors).
    public static func write(_ report: Report, to url: URL) throws {
        let tensors = report.outputs.keys.sorted().map { SafetensorsTensor(name: $0, floats: report.outputs[$0]!.scalars, shape: report.outputs[$0]!.shape) }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: url)
    }
}

/// transformers' causal-LM loss: mean cross-entropy of logits[:, :-1] against labels[:, 1:] over labels ≠ −100.
/// Implemented by shifting the labels left (the last position gets −100), which leaves the logits unsliced.
public func causalLanguageModelLoss(_ logits: Tensor, labels: IntTensor, reduction: LossReduction = .mean) -> Tensor {
    let (b, t) = (labels.shape[0], labels.shape[1])
    var shifted = [Int32](repeating: -100, count: b * t)
    for i in 0..<b { for j in 0..<(t - 1) { shifted[i * t + j] = labels.values[i * t + j + 1] } }
    return crossEntropy(logits.reshaped([b * t, logits.lastDim]), labels: IntTensor(shifted, shape: [b * t]), reduction: reduction)
}
