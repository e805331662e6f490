import Foundation
import ArchitectureKit
import LoRA
import TensorCore
import Tokenizers

/// Assembles one LoRA training run — the adapter injected and its dropout seeded, "auto" learning rate and batch
/// size resolved, gradient checkpointing set, the trainer built — for the Swift API (`LoRATrainer`) and for recipes
/// (`RecipeRun`) alike, so the two cannot drift apart.
public struct LoRARunBuilder {
    public var model: LoadedModel
    public var tokenizer: any Tokenizer
    public var loraConfig: LoRAConfig
    public var data: PreparedData
    public var seed: UInt64
    public var reporter: ProgressReporter
    /// The ranks training together; an auto batch size is the smallest any rank measured.
    public var communicator: any Communicator = SingleProcess()

    public init(model: LoadedModel, tokenizer: any Tokenizer, loraConfig: LoRAConfig, data: PreparedData, seed: UInt64,
                reporter: ProgressReporter) {
        self.model = model
        self.tokenizer = tokenizer
        self.loraConfig = loraConfig
        self.data = data
        self.seed = seed
        self.reporter = reporter
    }

    /// The padding id: the tokenizer's pad, else its EOS (as transformers' usual `pad_token = eos_token`), else 0.
    public var padID: Int32 { Int32(tokenizer.padTokenID ?? tokenizer.eosTokenID ?? 0) }

    /// Injects a fresh adapter (initialised from the seed) and seeds every dropout stream (LoRA's and the model's).
    public func injectAdapter() throws -> LoRAModel {
        let lora = try LoRAModel(model: model.model, plugin: model.plugin, config: loraConfig, seed: seed)
        lora.seedDropout(seed)
        return lora
    }

    /// A given learning rate, or `AutoSettings.learningRate` for the adapter's scale.
    public func learningRate(_ value: AutoValue<Double>) -> Double {
        guard case .value(let v) = value else {
            let rate = AutoSettings.learningRate(rank: loraConfig.r, alpha: loraConfig.loraAlpha, useRSLoRA: loraConfig.useRSLoRA)
            reporter.message(String(format: "learning_rate auto: %.3g (2e-4 · 2 / (lora_alpha / r))", rate))
            return rate
        }
        return v
    }

    /// A given batch size, or the largest that trial steps fit in the memory budget (rows as long as the longest
    /// example, or `maxSeqLength` when packing).
    public func batchSize(_ value: AutoValue<Int>, maxSeqLength: Int, packing: Bool, memoryBudgetGB: Double?) throws -> Int {
        if case .value(let b) = value { return b }
        let budget = AutoSettings.memoryBudget(gigabytes: memoryBudgetGB)
        let longest = min(maxSeqLength, packing ? maxSeqLength : data.train.map(\.count).max() ?? maxSeqLength)
        let m = AutoSettings.measureBatchSize(model: model.model, vocabularySize: tokenizer.vocabularySize, length: longest, budgetBytes: budget)
        // Ranks may measure differently (other hosts, other loads): all take the smallest, which fits everywhere.
        let rows = communicator.size > 1 ? Int(try communicator.min([Double(m.batch)])[0]) : m.batch
        reporter.message(String(format: "batch_size auto: %d (%.0f MB base + %.0f MB per row of %d tokens, budget %.0f MB)",
                                rows, Double(m.baseBytes) / 1e6, Double(m.perRowBytes) / 1e6, longest, Double(budget) / 1e6))
        return rows
    }

    /// Turns gradient checkpointing on or off (with a warning when the model cannot recompute its blocks).
    public func setGradientCheckpointing(_ on: Bool) {
        (model.model as? GradientCheckpointable)?.gradientCheckpointing = on
        if on && !(model.model is GradientCheckpointable) {
            reporter.warning("gradient_checkpointing: the \(model.plugin.name) model cannot recompute its layers; training without it")
        }
    }

    /// The trainer over the prepared data for `lora`.
    public func makeTrainer(lora: LoRAModel, configuration: TrainerConfiguration) throws -> Trainer {
        try Trainer(model: model.model, adapter: lora.trainerHooks(), configuration: configuration, train: data.train,
                    validation: data.validation, padID: padID, reporter: reporter, communicator: communicator)
    }
}
