import Foundation
import TensorCore

/// Everything the training loop needs to know, already resolved ("auto" values replaced by numbers).
public struct TrainerConfiguration: Codable, Equatable, Sendable {
    /// Optimizer updates to run.
    public var maxSteps: Int
    public var learningRate: Double
    public var schedule: LearningRateSchedule = .linear
    public var warmupSteps: Int = 0
    /// Examples (or packed rows) per micro-batch.
    public var batchSize: Int
    /// Micro-batches per optimizer update; their losses are token-weighted as one batch.
    public var gradientAccumulationSteps: Int = 1
    /// Global gradient-norm clip; nil = none.
    public var maxGradNorm: Double? = 1.0
    public var adam = AdamW.Hyperparameters()
    public var seed: UInt64 = 42
    public var maxSeqLength: Int
    public var packing = false
    /// Evaluate every N updates (nil = only at the start and the end).
    public var evalEvery: Int?
    /// Validation micro-batches per evaluation (nil = all).
    public var evalMaxBatches: Int?
    /// Checkpoint every N updates into output_dir/checkpoint-{step} (nil = only at the end).
    public var saveEvery: Int?
    public var outputDir: URL?
    /// Checkpoints kept (older ones are deleted; the best one is kept when `saveBest`).
    public var keepLast: Int?
    public var saveBest = false
    /// Stop after this many evaluations without a better eval loss.
    public var earlyStoppingPatience: Int?
    /// Log (metrics.jsonl, progress) every N updates.
    public var loggingEvery = 1

    public init(maxSteps: Int, learningRate: Double, batchSize: Int, maxSeqLength: Int) {
        self.maxSteps = maxSteps
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.maxSeqLength = maxSeqLength
    }
}

/// What the trainer needs from the adapter beyond its parameters: saving it in PEFT format, and the state of any
/// random generator it draws from (LoRA dropout), so that a resumed run replays the same masks.
public struct AdapterHooks {
    /// Writes adapter_model.safetensors and adapter_config.json into a directory.
    public var save: (URL) throws -> Void
    public var randomState: () -> [SeededGenerator]
    public var restoreRandomState: ([SeededGenerator]) -> Void

    public init(save: @escaping (URL) throws -> Void, randomState: @escaping () -> [SeededGenerator] = { [] },
                restoreRandomState: @escaping ([SeededGenerator]) -> Void = { _ in }) {
        self.save = save
        self.randomState = randomState
        self.restoreRandomState = restoreRandomState
    }
}
