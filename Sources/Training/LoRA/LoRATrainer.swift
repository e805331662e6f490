import Foundation
import ArchitectureKit
import Assets
import LoRA
import TensorCore
import Tokenizers

/// Fine-tunes a LoRA adapter from Swift in the shape PEFT and mlx-lm users know:
///
///     let trainer = try LoRATrainer(model: "smollm2-135m-instruct", rank: 16, alpha: 32,
///                                   targetModules: ["q_proj", "v_proj"], dropout: 0.05)
///     let adapter = try trainer.train(dataset: .jsonl(url, type: .alpaca, filter: #"status == "ok""#),
///                                     steps: 100, learningRate: .auto, batchSize: .auto)
///     try adapter.save(to: URL(fileURLWithPath: "my-adapter"))    // PEFT's adapter_config.json + safetensors
///
/// `.auto` learning rate: `AutoSettings.learningRate` (2e-4 · 2 / (alpha / r), clamped). `.auto` batch size:
/// measured by trial steps against a memory budget (`AutoSettings.measureBatchSize`). Recipes (`lorakit train`)
/// drive the same `Trainer`.
public final class LoRATrainer {
    public let model: LoadedModel
    public let tokenizer: any Tokenizer
    /// The adapter's PEFT configuration (r, lora_alpha, target_modules, lora_dropout, …).
    public var loraConfig: LoRAConfig
    /// How rows become text: the model's chat template by default.
    public var format: PromptFormat
    public var maxSeqLength = 512
    /// Prompt tokens labelled −100 (`.prompt`), or every token trained (`.none`).
    public var masking = LabelMasking.prompt
    public var packing = false
    public var seed: UInt64 = 42
    public var schedule = LearningRateSchedule.linear
    public var warmupSteps = 0
    public var maxGradNorm: Double? = 1.0
    public var adam = AdamW.Hyperparameters()
    /// Memory for `batchSize: .auto`, in GB (nil: half of MemAvailable).
    public var memoryBudgetGB: Double?
    /// Recompute each block during backward instead of keeping its activations (less memory, more compute).
    public var gradientCheckpointing = false
    public var reporter = ProgressReporter(mode: .automatic)

    /// Training data: JSONL rows of a dataset type, or examples already tokenized.
    public enum Dataset {
        case jsonl(URL, type: DatasetType = .alpaca, filter: String? = nil, validationSplit: Double? = nil)
        case examples(train: [TokenizedExample], validation: [TokenizedExample] = [])
    }

    /// Loads `model` (directory, GGUF file or alias) and configures the adapter; PEFT's names in parentheses.
    /// - Parameters:
    ///   - rank: `r`.
    ///   - alpha: `lora_alpha` (default 2 · rank).
    ///   - targetModules: `target_modules` (nil: the architecture's defaults).
    ///   - dropout: `lora_dropout`.
    public convenience init(model: String, rank: Int = 16, alpha: Double? = nil, targetModules: [String]? = nil,
                            dropout: Double = 0.05) throws {
        try self.init(model: ModelLoader.load(model), rank: rank, alpha: alpha, targetModules: targetModules, dropout: dropout)
    }

    /// - Parameter tokenizer: overrides the model's own tokenizer.
    public init(model: LoadedModel, tokenizer: (any Tokenizer)? = nil, rank: Int = 16, alpha: Double? = nil,
                targetModules: [String]? = nil, dropout: Double = 0.05) throws {
        self.model = model
        let tokenizer = try tokenizer ?? model.makeTokenizer()
        self.tokenizer = tokenizer
        loraConfig = LoRAConfig(r: rank, loraAlpha: alpha ?? Double(2 * rank), loraDropout: dropout,
                                targetModules: targetModules.map { .names($0) })
        loraConfig.taskType = "CAUSAL_LM"
        format = .chat(template: try model.chatTemplate(), tokenizer: tokenizer)
    }

    /// Trains a fresh adapter for `steps` optimizer updates and returns it (still injected in `model`).
    /// Gradient accumulation is token-weighted: `batchSize × gradientAccumulationSteps` examples give exactly the
    /// update of one batch that size. With `outputDir`, checkpoints go to `outputDir/checkpoint-{step}` every
    /// `saveEvery` updates and at the end, with metrics.jsonl and loss.svg.
    public func train(dataset: Dataset, steps: Int, learningRate: AutoValue<Double> = .auto, batchSize: AutoValue<Int> = .auto,
                      gradientAccumulationSteps: Int = 1, saveEvery: Int? = nil, outputDir: URL? = nil) throws -> TrainedAdapter {
        let data: PreparedData
        switch dataset {
        case .jsonl(let url, let type, let filter, let split):
            let spec = DatasetSpec(path: url, type: type, filter: try filter.map(FilterExpression.init), validationFraction: split)
            data = try PreparedData.prepare([spec], seed: seed, tokenizer: tokenizer, format: format, masking: masking, maxLength: maxSeqLength)
            reporter.message("data: \(data.summary)")
        case .examples(let train, let validation):
            data = PreparedData(train: train, validation: validation)
        }
        let run = LoRARunBuilder(model: model, tokenizer: tokenizer, loraConfig: loraConfig, data: data, seed: seed, reporter: reporter)
        let lora = try run.injectAdapter()
        var c = TrainerConfiguration(maxSteps: steps, learningRate: run.learningRate(learningRate),
                                     batchSize: try run.batchSize(batchSize, maxSeqLength: maxSeqLength, packing: packing, memoryBudgetGB: memoryBudgetGB),
                                     maxSeqLength: maxSeqLength)
        c.gradientAccumulationSteps = gradientAccumulationSteps
        c.saveEvery = saveEvery
        c.outputDir = outputDir
        c.schedule = schedule
        c.warmupSteps = warmupSteps
        c.maxGradNorm = maxGradNorm
        c.adam = adam
        c.seed = seed
        c.packing = packing
        run.setGradientCheckpointing(gradientCheckpointing)
        let trainer = try run.makeTrainer(lora: lora, configuration: c)
        let summary = try trainer.train()
        return TrainedAdapter(lora: lora, summary: summary, configuration: c)
    }
}

/// A trained adapter: the LoRA model (injected into the base model, ready to generate), what the run did and the
/// resolved settings ("auto" replaced by the values used).
public struct TrainedAdapter {
    public let lora: LoRAModel
    public let summary: TrainingSummary
    public let configuration: TrainerConfiguration

    /// The adapter's tensors under PEFT's keys (`base_model.model.….lora_A.weight`).
    public var tensors: [(key: String, tensor: Tensor)] { lora.adapterTensors(lora.activeAdapter) }

    /// Writes adapter_config.json + adapter_model.safetensors as PEFT's save_pretrained does.
    public func save(to directory: URL) throws { try lora.save(to: directory) }
}

/// One call: load `model`, train a LoRA adapter on `dataset` and return it (see `LoRATrainer`).
public func trainLoRA(model: String, dataset: LoRATrainer.Dataset, rank: Int = 16, alpha: Double? = nil,
                      targetModules: [String]? = nil, dropout: Double = 0.05, steps: Int,
                      learningRate: AutoValue<Double> = .auto, batchSize: AutoValue<Int> = .auto,
                      gradientAccumulationSteps: Int = 1, saveEvery: Int? = nil, outputDir: URL? = nil) throws -> TrainedAdapter {
    let trainer = try LoRATrainer(model: model, rank: rank, alpha: alpha, targetModules: targetModules, dropout: dropout)
    return try trainer.train(dataset: dataset, steps: steps, learningRate: learningRate, batchSize: batchSize,
                             gradientAccumulationSteps: gradientAccumulationSteps, saveEvery: saveEvery, outputDir: outputDir)
}
