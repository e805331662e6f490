import Foundation
import ArchitectureKit
import Generation
import Assets
import LoRA
import Tokenizers
import TensorCore
import Training

/// A recipe made runnable: the model loaded with its task head, the tokenizer and prompt format, the data prepared.
/// `lorakit train`, `eval` and the library's recipe API are thin shells over it.
public final class RecipeRun {
    public let recipe: Recipe
    public let model: LoadedModel
    public let tokenizer: any Tokenizer
    public let format: PromptFormat
    public let data: PreparedData
    public let reporter: ProgressReporter
    /// The ranks training together (`SingleProcess` unless launched by mpirun; the CLI sets it).
    public var communicator: any Communicator = SingleProcess()

    public init(recipe: Recipe, reporter: ProgressReporter = ProgressReporter()) throws {
        self.recipe = recipe
        self.reporter = reporter
        let started = Date()
        let loaded = try RecipeSession.loadModel(recipe)
        let setup = try RecipeSession.tokenizerAndFormat(recipe, model: loaded)
        model = loaded
        tokenizer = setup.tokenizer
        format = setup.format
        reporter.message(String(format: "model %@ (%@) loaded in %.1f s", recipe.model, loaded.plugin.name, Date().timeIntervalSince(started)))
        reporter.message("quantization \((recipe.storedQuantization).rawValue): \(WeightMemory(loaded.model))")
        let prepared = Date()
        data = try PreparedData.prepare(recipe, tokenizer: tokenizer, format: format)
        for note in try RecipeChecks.check(recipe, model: loaded, tokenizer: setup.tokenizer, data: data) { reporter.warning(note) }
        reporter.message(String(format: "data: %@ (%.1f s)", data.summary, Date().timeIntervalSince(prepared)))
        if let warning = EndOfSequenceCheck.warning(examples: data.train, eosID: tokenizer.eosTokenID, padID: padID) { reporter.warning(warning) }
    }

    /// The padding id: the tokenizer's pad, else its EOS (as transformers' usual `pad_token = eos_token`), else 0.
    public var padID: Int32 { builder.padID }

    /// The run assembled as `LoRATrainer` assembles it.
    var builder: LoRARunBuilder {
        var b = LoRARunBuilder(model: model, tokenizer: tokenizer, loraConfig: loraConfig, data: data, seed: recipe.training.seed, reporter: reporter)
        b.communicator = communicator
        return b
    }

    /// The recipe's LoRA configuration as PEFT would save it for this model and task.
    public var loraConfig: LoRAConfig {
        var config = recipe.loraConfig
        config.baseModelNameOrPath = RecipeSession.modelReference(recipe)
        if recipe.task.type == .classification {
            config.taskType = "SEQ_CLS"
            // PEFT adds the new classification head to modules_to_save for SEQ_CLS: it is trained in full.
            if let head = model.plugin.classificationHeadModule, !(config.modulesToSave ?? []).contains(head) {
                config.modulesToSave = (config.modulesToSave ?? []) + [head]
            }
        } else {
            config.taskType = "CAUSAL_LM"
        }
        return config
    }

    /// Injects a fresh adapter (initialised from the recipe's seed) into the model.
    public func injectAdapter() throws -> LoRAModel { try builder.injectAdapter() }

    /// Optimizer updates per epoch of the training data (global micro-batches of batch_size × ranks ÷ accumulation,
    /// rounded up).
    public func updatesPerEpoch(batchSize: Int) -> Int {
        let plan = EpochPlan(lengths: data.train.map(\.count), batchSize: batchSize * communicator.size,
                             maxLength: recipe.training.maxSeqLength, packing: recipe.training.packing, seed: recipe.training.seed, epoch: 0)
        let accumulation = recipe.training.gradientAccumulationSteps
        return (plan.batches.count + accumulation - 1) / accumulation
    }

    /// The recipe's training settings with "auto" resolved: the learning rate by `AutoSettings.learningRate`, the
    /// batch size by trial steps (`AutoSettings.measureBatchSize`) unless `resolved` (a checkpoint's) gives them.
    public func configuration(lora: LoRAModel, resolved: TrainerConfiguration? = nil) throws -> TrainerConfiguration {
        let t = recipe.training
        // "auto" in a resumed run is what its checkpoint resolved; in a fresh run it is resolved now.
        let batchSize = try builder.batchSize(t.batchSize == .auto ? resolved.map { .value($0.batchSize) } ?? .auto : t.batchSize,
                                              maxSeqLength: t.maxSeqLength, packing: t.packing, memoryBudgetGB: t.memoryBudgetGB)
        let learningRate = builder.learningRate(t.learningRate == .auto ? resolved.map { .value($0.learningRate) } ?? .auto : t.learningRate)
        let maxSteps: Int
        if let steps = t.maxSteps { maxSteps = steps } else {
            maxSteps = max(1, Int(((t.epochs ?? 1) * Double(updatesPerEpoch(batchSize: batchSize))).rounded(.up)))
        }
        var c = TrainerConfiguration(maxSteps: maxSteps, learningRate: learningRate, batchSize: batchSize, maxSeqLength: t.maxSeqLength)
        c.schedule = t.schedule
        c.warmupSteps = t.warmupSteps ?? t.warmupRatio.map { Int((Double(maxSteps) * $0).rounded(.up)) } ?? 0
        c.gradientAccumulationSteps = t.gradientAccumulationSteps
        c.maxGradNorm = t.maxGradNorm
        c.adam = AdamW.Hyperparameters(beta1: t.adamBeta1, beta2: t.adamBeta2, epsilon: t.adamEpsilon, weightDecay: t.weightDecay)
        c.seed = t.seed
        c.packing = t.packing
        c.evalEvery = recipe.eval.every
        c.evalMaxBatches = recipe.eval.maxBatches
        c.saveEvery = recipe.save.saveEvery
        c.outputDir = recipe.save.outputDir
        c.keepLast = recipe.save.keepLast
        c.saveBest = recipe.save.saveBest
        c.earlyStoppingPatience = recipe.save.earlyStoppingPatience
        c.loggingEvery = recipe.loggingEvery
        return c
    }

    /// Where `--resume` continues from: the given checkpoint directory, or the latest in output_dir.
    public func checkpointToResume(_ directory: String?) throws -> URL {
        if let directory {
            let url = URL(fileURLWithPath: directory)
            // An output_dir given instead of a checkpoint: take its latest checkpoint.
            if !FileManager.default.fileExists(atPath: url.appendingPathComponent(Checkpoint.stateFile).path),
               let latest = Checkpoint.latest(in: url) { return latest }
            return url
        }
        guard let latest = Checkpoint.latest(in: recipe.save.outputDir) else {
            throw TrainingError.checkpoint("--resume: no checkpoint-*/ with \(Checkpoint.stateFile) in \(recipe.save.outputDir.path)")
        }
        return latest
    }

    /// Builds the trainer with a fresh adapter, restored from `resume` when given. The trainer holds the lock of
    /// output_dir; a fresh run refuses an output_dir with an earlier run's checkpoints unless `force`.
    public func makeTrainer(resume: URL? = nil, force: Bool = false) throws -> (trainer: Trainer, lora: LoRAModel) {
        // Rank 0 alone owns output_dir under mpirun (the other ranks write nothing there).
        let lock = communicator.isMain ? try Checkpoint.prepareOutputDirectory(recipe.save.outputDir, resuming: resume != nil, force: force,
                                                                               report: reporter.message) : nil
        let lora = try injectAdapter()
        reporter.message(lora.trainableParametersSummary())
        if recipe.training.precision != .fp32 {
            reporter.message("\(model.model.storeFrozenWeights(recipe.training.precision)); \(GEMM.bf16ComputeDescription)")
            Tensor.releaseCachedBuffers()  // the fp32 copies went to the buffer pool; give them back
        }
        var resolved: TrainerConfiguration?
        if let resume {
            let stateURL = resume.appendingPathComponent(Checkpoint.stateFile)
            guard let data = try? Data(contentsOf: stateURL), let state = try? JSONDecoder().decode(TrainerState.self, from: data) else {
                throw TrainingError.checkpoint("\(stateURL.path) is missing or unreadable")
            }
            resolved = state.configuration
        }
        builder.setGradientCheckpointing(recipe.training.gradientCheckpointing)
        let trainer = try builder.makeTrainer(lora: lora, configuration: try configuration(lora: lora, resolved: resolved))
        trainer.extraCheckpointFiles["recipe.yaml"] = Data(recipe.resolvedText.utf8)
        // The template and special tokens of this run, so an export writes exactly these (AdapterTokens).
        trainer.extraCheckpointFiles[AdapterTokens.fileName] =
            try RecipeSession.adapterTokens(recipe, model: model, tokenizer: tokenizer, padID: padID).jsonData()
        trainer.outputLock = lock
        if let resume { try trainer.resume(from: resume) }
        return (trainer, lora)
    }

    /// Generates the recipe's sample (greedy) with the model as it is now; nil when the recipe has none or the
    /// task is classification.
    public func sample() throws -> String? {
        guard let s = recipe.sample, recipe.task.type != .classification else { return nil }
        let wasTraining = model.model.isTraining
        model.model.setTraining(false)
        defer { model.model.setTraining(wasTraining) }
        let ids = try format.promptIDs(s.prompt, tokenizer: tokenizer)
        // The generator stops at the model's context (RecipeChecks warned about it up front).
        return try model.generator(tokenizer: tokenizer).generate(promptIDs: ids, maxTokens: s.maxNewTokens).text
    }

    /// Trains as the recipe says (continuing from `resume` when given) and reports eval loss and the sample
    /// before and after. `stoppingAt` interrupts after that update with a checkpoint (used to test resuming).
    @discardableResult
    public func train(resume: URL? = nil, stoppingAt: Int? = nil, force: Bool = false) throws -> TrainingSummary {
        let (trainer, _) = try makeTrainer(resume: resume, force: force)
        let c = trainer.configuration
        reporter.message("training: \(c.maxSteps) updates of \(c.batchSize)×" + (communicator.size > 1 ? "\(communicator.size) ranks×" : "") + "\(c.gradientAccumulationSteps) "
            + (c.packing ? "packed rows" : "examples") + " (≤ \(c.maxSeqLength) tokens), learning rate \(c.learningRate), "
            + "\(c.schedule.rawValue) schedule, warmup \(c.warmupSteps); output \(c.outputDir?.path ?? "-")")
        let before = resume == nil && communicator.isMain ? try sample() : nil
        if let before { reporter.message("sample before training: \(recipe.sample!.prompt)\n→ \(before)") }
        let summary = try trainer.train(stoppingAt: stoppingAt)
        if let stoppingAt, summary.steps == stoppingAt, summary.steps < c.maxSteps { return summary }
        if summary.alreadyFinished { return summary }
        if let a = summary.initialEval, let b = summary.finalEval {
            reporter.message(String(format: "eval loss: %.4f before → %.4f after (%+.1f%%), perplexity %.2f → %.2f", a.loss, b.loss,
                                    100 * (b.loss - a.loss) / a.loss, a.perplexity, b.perplexity))
        } else if let b = summary.finalEval {
            reporter.message(String(format: "eval loss after training: %.4f (perplexity %.2f)", b.loss, b.perplexity))
        }
        if let line = trainer.allReduceSummary { reporter.message(line) }
        if communicator.isMain, let after = try sample() { reporter.message("sample after training: \(recipe.sample!.prompt)\n→ \(after)") }
        for w in summary.warnings { reporter.message("warning (repeated): \(w)") }
        reporter.message(String(format: "done: %d updates in %.1f s; adapter in %@, metrics.jsonl and loss.svg in %@", summary.steps,
                                summary.seconds, summary.lastCheckpoint?.path ?? "-", c.outputDir?.path ?? "-"))
        return summary
    }

    /// Loss, perplexity (and accuracy for classification) on the validation examples — or on the training examples
    /// when the recipe holds none out — with the adapter in `adapter` applied, or the base model without one.
    public func evaluate(adapter: URL? = nil, batchSize: Int? = nil) throws -> (result: EvaluationResult, split: String) {
        if let adapter { _ = try LoRAModel.load(from: adapter, into: model.model, plugin: model.plugin) }
        let (examples, split) = data.validation.isEmpty ? (data.train, "training") : (data.validation, "validation")
        let size: Int
        if case .value(let b) = recipe.training.batchSize { size = b } else { size = 4 }
        guard let result = LossComputation.evaluate(model.model, examples: examples, batchSize: batchSize ?? size,
                                                    maxBatches: recipe.eval.maxBatches, padID: padID) else {
            throw TrainingError.noData("no examples to evaluate")
        }
        return (result, split)
    }
}
