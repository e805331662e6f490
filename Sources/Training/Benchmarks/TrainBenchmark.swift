import Foundation
import ArchitectureKit
import LoRA
import TensorCore

/// `lorakit bench train`: LoRA training throughput on random-token batches, the figure to hold against
/// PyTorch + PEFT on the same machine (fp32, no dropout, AdamW at 2e-4, every token a target).
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
        public var targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
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

        /// One JSON line: {"tokens_per_s":…, "step_s":…, "peak_rss_mb":…}.
        public var jsonLine: String {
            String(format: #"{"tokens_per_s":%.1f,"step_s":%.3f,"peak_rss_mb":%.0f}"#, tokensPerSecond, stepSeconds, peakRSSMB)
        }
    }

    /// Injects LoRA into `model` and times `settings.steps` updates after `settings.warmupSteps`.
    public static func run(model: any ArchitectureModel, plugin: any ArchitecturePlugin.Type, vocabularySize: Int,
                           settings s: Settings) throws -> Result {
        var config = LoRAConfig(r: s.rank, loraAlpha: s.alpha ?? Double(2 * s.rank), loraDropout: 0, targetModules: .names(s.targets))
        config.taskType = "CAUSAL_LM"
        _ = try LoRAModel(model: model, plugin: plugin, config: config, seed: 0)
        var precisionSummary = model.storeFrozenWeights(s.precision).description
        if s.precision != .fp32 {
            precisionSummary += "; " + GEMM.bf16ComputeDescription
            Tensor.releaseCachedBuffers()  // the fp32 copies went to the buffer pool; give them back
        }
        (model as? GradientCheckpointable)?.gradientCheckpointing = s.gradientCheckpointing
        model.setTraining(true)
        let optimizer = AdamW(parameters: model.trainableParameters())
        var generator = SeededGenerator(seed: 1234)
        var times: [Double] = []
        for step in 0..<(s.warmupSteps + s.steps) {
            let examples = (0..<s.batchSize).map { _ -> TokenizedExample in
                let ids = (0..<s.sequenceLength).map { _ in Int32(generator.next() % UInt64(vocabularySize)) }
                return TokenizedExample(inputIDs: ids, labels: ids)
            }
            let batch = BatchBuilder.padded(examples, padID: 0)
            let start = DispatchTime.now().uptimeNanoseconds
            let (loss, _) = LossComputation.summedLoss(model, batch)
            loss.backward(seed: Tensor([1 / Float(batch.targetCount)], shape: [1]))
            clipGradientNorm(optimizer.parameters.map(\.tensor), maxNorm: 1.0)
            optimizer.step(learningRate: s.learningRate)
            optimizer.zeroGrad()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if step >= s.warmupSteps { times.append(seconds) }
        }
        let mean = times.reduce(0, +) / Double(max(times.count, 1))
        return Result(tokensPerSecond: Double(s.batchSize * s.sequenceLength) / mean, stepSeconds: mean,
                      peakRSSMB: Double(MemoryStatistics.peakResidentBytes() ?? 0) / 1e6, stepTimes: times,
                      precisionSummary: precisionSummary)
    }
}
