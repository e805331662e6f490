import Foundation
import ArchitectureKit
import LoRA
import TensorCore
import Training

/// `lorakit bench train`: LoRA training throughput on random-token batches, the figure to hold against
/// PyTorch + PEFT on the same machine (fp32, no dropout, AdamW at 2e-4, every token a target). For classification
/// (`peft_cls_bench.py`'s setting) every row gets a random class and the head trains in full as modules_to_save.
///
/// Each measured step is what `Trainer` does for one update without accumulation: forward, summed cross-entropy
/// scaled by 1/targets, backward, global-norm clip at 1.0, AdamW, zero grad. Batches are drawn fresh for every
/// step from a seeded generator, so runs repeat.
public enum TrainBenchmark {
    public struct Settings: Sendable {
        public var sequenceLength = 256
        public var batchSize = 4
        public var steps = 5
        public var warmupSteps = 2
        public var rank = 16
        public var alpha: Double?
        /// Module names, or ["all-linear"].
        public var targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
        /// Class count for a sequence-classification model (the model must be loaded with that head); nil = causal LM.
        public var classificationLabels: Int?
        /// Time each op kind (`Profiler`) over the measured steps.
        public var profile = false
        public var learningRate = 2e-4
        public var gradientCheckpointing = false
        /// Frozen base weights in fp32 or bf16 (LoRA, optimizer, norms and loss stay fp32).
        public var precision: WeightPrecision = .fp32
        public init() {}
    }

    public struct Result: Sendable {
        public var tokensPerSecond: Double
        /// Mean seconds per measured update.
        public var stepSeconds: Double
        /// The process's peak resident set (VmHWM), model loading included, in MB (10⁶ bytes).
        public var peakRSSMB: Double
        public var stepTimes: [Double]
        /// What `precision` did to the frozen weights and how their products run (for stderr).
        public var precisionSummary = ""
        /// Milliseconds per measured step by op kind, when profiled.
        public var profile: [OpKind: Double]?
        /// Milliseconds per measured step by op name (forward, and "name backward"), when profiled.
        public var profileByOp: [String: Double]?
        /// Where the memory is, in MB: tensors alive before the first step (weights, adapters), the most tensors
        /// held at once during the steps, and what the buffer pool kept idle at the end.
        public var tensorBaseMB = 0.0, tensorPeakMB = 0.0, poolIdleMB = 0.0
        /// Tensors alive when the loss is computed, above `tensorBaseMB` (mean over measured steps): what the
        /// forward pass saved for backward.
        public var savedForBackwardMB = 0.0

        /// The memory figures as one line (for stderr).
        public var memoryLine: String {
            String(format: "memory MB: tensors before steps %.0f, saved for backward %.0f, tensor peak %.0f, pool idle %.0f, process peak %.0f",
                   tensorBaseMB, savedForBackwardMB, tensorPeakMB, poolIdleMB, peakRSSMB)
        }

        /// The profile as one JSON line of milliseconds per step: {"gemm":…, "attention":…, …, "total":…}.
        public var profileLine: String? {
            guard let profile else { return nil }
            let fields = OpKind.allCases.map { String(format: #""%@":%.1f"#, $0.label, profile[$0] ?? 0) }
            let total = profile.values.reduce(0, +)
            return "{" + fields.joined(separator: ",") + String(format: #","total":%.1f}"#, total)
        }

        /// The `count` most expensive ops by name, each with its nested work: "name ms, name ms, …".
        public func topOpsLine(_ count: Int = 14) -> String? {
            guard let profileByOp else { return nil }
            return profileByOp.sorted { $0.value > $1.value }.prefix(count)
                .map { String(format: "%@ %.1f", $0.key, $0.value) }.joined(separator: ", ")
        }

        /// One JSON line: {"tokens_per_s":…, "step_s":…, "peak_rss_mb":…}.
        public var jsonLine: String {
            String(format: #"{"tokens_per_s":%.1f,"step_s":%.3f,"peak_rss_mb":%.0f}"#, tokensPerSecond, stepSeconds, peakRSSMB)
        }
    }

    /// Injects LoRA into `model` and times `settings.steps` updates after `settings.warmupSteps`.
    public static func run(model: any ArchitectureModel, plugin: any ArchitecturePlugin.Type, vocabularySize: Int,
                           settings s: Settings) throws -> Result {
        let targets: LoRAConfig.TargetModules = s.targets == ["all-linear"] ? .allLinear : .names(s.targets)
        var config = LoRAConfig(r: s.rank, loraAlpha: s.alpha ?? Double(2 * s.rank), loraDropout: 0, targetModules: targets)
        if s.classificationLabels != nil {
            // As PEFT does for SEQ_CLS: the new head is trained in full (modules_to_save).
            config.taskType = "SEQ_CLS"
            config.modulesToSave = plugin.classificationHeadModule.map { [$0] }
        } else {
            config.taskType = "CAUSAL_LM"
        }
        _ = try LoRAModel(model: model, plugin: plugin, config: config, seed: 0)
        var precisionSummary = model.storeFrozenWeights(s.precision).description
        if s.precision != .fp32 {
            precisionSummary += "; " + GEMM.bf16ComputeDescription
            Tensor.releaseCachedBuffers()  // the fp32 copies went to the buffer pool; give them back
        }
        (model as? GradientCheckpointable)?.gradientCheckpointing = s.gradientCheckpointing
        // Eval mode, as the PyTorch reference runs (from_pretrained returns the model in eval mode): no model dropout
        // anywhere, so both sides do the same work; gradients and checkpointing do not depend on the mode.
        model.setTraining(false)
        let optimizer = AdamW(parameters: model.trainableParameters())
        var generator = SeededGenerator(seed: 1234)
        var times: [Double] = [], saved: [Double] = []
        var profile: [OpKind: Double] = [:], profileByOp: [String: Double] = [:]
        let tensorBase = Storage.live.bytes
        Storage.resetPeak()
        defer { Profiler.setEnabled(false) }
        for step in 0..<(s.warmupSteps + s.steps) {
            let examples = (0..<s.batchSize).map { _ -> TokenizedExample in
                let ids = (0..<s.sequenceLength).map { _ in Int32(generator.next() % UInt64(vocabularySize)) }
                let label = s.classificationLabels.map { Int(generator.next() % UInt64($0)) }
                return TokenizedExample(inputIDs: ids, labels: ids, classLabel: label)
            }
            let batch = BatchBuilder.padded(examples, padID: 0)
            let measured = step >= s.warmupSteps
            if s.profile && measured { Profiler.setEnabled(true) }
            let start = DispatchTime.now().uptimeNanoseconds
            let (loss, _) = LossComputation.summedLoss(model, batch)
            if measured { saved.append(Double(Storage.live.bytes - tensorBase) / 1e6) }
            loss.backward(seed: Tensor([1 / Float(batch.targetCount)], shape: [1]))
            Profiler.measure(.optimizer) {
                clipGradientNorm(optimizer.parameters.map(\.tensor), maxNorm: 1.0)
                optimizer.step(learningRate: s.learningRate)
                optimizer.zeroGrad()
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if measured {
                times.append(seconds)
                if s.profile {
                    Profiler.flush()
                    for (kind, ms) in Profiler.milliseconds() { profile[kind, default: 0] += ms / Double(s.steps) }
                    for (op, ms) in Profiler.millisecondsByOp() { profileByOp[op, default: 0] += ms / Double(s.steps) }
                    Profiler.setEnabled(false)
                }
            }
        }
        let mean = times.reduce(0, +) / Double(max(times.count, 1))
        return Result(tokensPerSecond: Double(s.batchSize * s.sequenceLength) / mean, stepSeconds: mean,
                      peakRSSMB: Double(MemoryStatistics.peakResidentBytes() ?? 0) / 1e6, stepTimes: times,
                      precisionSummary: precisionSummary, profile: s.profile ? profile : nil,
                      profileByOp: s.profile ? profileByOp : nil,
                      tensorBaseMB: Double(tensorBase) / 1e6, tensorPeakMB: Double(Storage.peakBytes) / 1e6,
                      poolIdleMB: Double(Tensor.cachedBufferBytes) / 1e6,
                      savedForBackwardMB: saved.reduce(0, +) / Double(max(saved.count, 1)))
    }
}
