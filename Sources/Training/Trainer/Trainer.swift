import Foundation
import TensorCore
import ArchitectureKit

/// The training loop: seeded micro-batches, token-weighted gradient accumulation, global-norm clipping, AdamW with
/// a warmup schedule, periodic evaluation, atomic checkpoints, metrics.jsonl and a loss curve.
///
/// Gradient accumulation equals one large batch: each micro-batch's summed cross-entropy is divided by the number
/// of non-ignored targets in the *whole* accumulated batch before `backward`, so every token weighs the same no
/// matter how tokens are spread over micro-batches (transformers' `num_items_in_batch` behaviour).
public final class Trainer {
    public let model: any ArchitectureModel
    public let adapter: AdapterHooks
    public let configuration: TrainerConfiguration
    public let trainExamples: [TokenizedExample]
    public let validationExamples: [TokenizedExample]
    public let padID: Int32
    public let optimizer: AdamW
    public var reporter: ProgressReporter
    /// Files stored in each checkpoint besides the tensors (the recipe).
    public var extraCheckpointFiles: [String: Data] = [:]
    /// The output_dir lock, held as long as this trainer lives (`Checkpoint.prepareOutputDirectory`).
    public var outputLock: OutputDirectoryLock?
    /// The ranks training together (`SingleProcess` unless launched by mpirun): each takes its shard of every
    /// global micro-batch, gradients and counts are summed over all, and rank 0 alone writes files and prints.
    public let communicator: any Communicator
    /// Gradient all-reduce buckets and their running totals (calls, bytes, seconds).
    public let gradientBuckets = GradientBuckets()

    public private(set) var state: TrainerState
    public private(set) var metrics: MetricsLog
    public private(set) var monitor = LossMonitor()
    public private(set) var lastCheckpoint: URL?
    /// Eval loss before the first update and after the last, for the summary.
    public private(set) var initialEval: EvaluationResult?
    public private(set) var finalEval: EvaluationResult?

    /// The epoch's items (examples, or packed rows) in their seeded order, one per plan entry: a global
    /// micro-batch is `batchSize × communicator.size` consecutive items.
    private var plan: EpochPlan

    public init(model: any ArchitectureModel, adapter: AdapterHooks, configuration: TrainerConfiguration,
                train: [TokenizedExample], validation: [TokenizedExample], padID: Int32,
                reporter: ProgressReporter = ProgressReporter(), communicator: any Communicator = SingleProcess()) throws {
        guard !train.isEmpty else { throw TrainingError.noData("every example was filtered out, masked away or empty") }
        guard configuration.batchSize > 0, configuration.gradientAccumulationSteps > 0, configuration.maxSteps > 0 else {
            throw TrainingError.configuration("batch_size, gradient_accumulation_steps and max_steps must be positive")
        }
        self.model = model
        self.adapter = adapter
        self.configuration = configuration
        trainExamples = train
        validationExamples = validation
        self.padID = padID
        self.reporter = reporter
        self.communicator = communicator
        optimizer = AdamW(parameters: model.trainableParameters(), hyperparameters: configuration.adam)
        guard !optimizer.parameters.isEmpty else { throw TrainingError.configuration("the model has no trainable parameters (was LoRA applied?)") }
        state = TrainerState(globalStep: 0, epoch: 0, batchIndex: 0, optimizerSteps: 0, adapterRandomState: adapter.randomState(),
                             bestEvalLoss: nil, bestCheckpoint: nil, evalsWithoutImprovement: 0, configuration: configuration)
        state.dataPosition = 0
        plan = Trainer.plan(train, configuration, epoch: 0)
        metrics = try MetricsLog(url: communicator.isMain ? configuration.outputDir?.appendingPathComponent("metrics.jsonl") : nil)
    }

    /// One entry per item: the order depends on (seed, epoch, packing length) only, not on the batch size or the
    /// number of ranks, so a run resumed with another N continues the same global order.
    static func plan(_ examples: [TokenizedExample], _ c: TrainerConfiguration, epoch: Int) -> EpochPlan {
        EpochPlan(lengths: examples.map(\.count), batchSize: 1, maxLength: c.maxSeqLength, packing: c.packing,
                  seed: c.seed, epoch: epoch)
    }

    /// Global micro-batches per epoch (optimizer updates per epoch = this ÷ gradient_accumulation_steps, rounded up).
    public var microBatchesPerEpoch: Int {
        let global = configuration.batchSize * communicator.size
        return (plan.batches.count + global - 1) / global
    }

    /// Continues from a checkpoint directory: parameters, optimizer moments, data position and random state.
    public func resume(from dir: URL) throws {
        let loaded = try Checkpoint.load(from: dir, optimizer: optimizer)
        // The data order depends on the seed and on packing (and its row length), not on the batch size or the
        // number of ranks: the checkpoint stores the global position, so those two may change.
        let (a, b) = (loaded.configuration, configuration)
        guard a.seed == b.seed, a.packing == b.packing, !b.packing || a.maxSeqLength == b.maxSeqLength else {
            throw TrainingError.checkpoint("\(dir.path) was written with seed \(a.seed), packing \(a.packing), max_seq_length "
                + "\(a.maxSeqLength); this run has \(b.seed), \(b.packing), \(b.maxSeqLength), so the data order would differ")
        }
        state = loaded
        state.configuration = configuration
        // Checkpoints from before the global position was stored were single-process: batch_index micro-batches.
        state.dataPosition = loaded.dataPosition ?? loaded.batchIndex * a.batchSize
        adapter.restoreRandomState(loaded.adapterRandomState)
        plan = Trainer.plan(trainExamples, configuration, epoch: state.epoch)
        if communicator.isMain, let out = configuration.outputDir, dir.deletingLastPathComponent().standardizedFileURL.path == out.standardizedFileURL.path {
            let dropped = Checkpoint.discardCheckpoints(after: state.globalStep, in: out)
            if !dropped.isEmpty { reporter.message("resuming from step \(state.globalStep): removed the later \(dropped.joined(separator: ", "))") }
        }
        metrics = try MetricsLog(url: communicator.isMain ? configuration.outputDir?.appendingPathComponent("metrics.jsonl") : nil,
                                 resumeStep: state.globalStep)
        lastCheckpoint = dir
        reporter.message("resumed from \(dir.path) at step \(state.globalStep), item \(state.dataPosition ?? 0) of epoch \(state.epoch)")
        let globalBatch = { (c: TrainerConfiguration, n: Int?) in c.batchSize * (n ?? 1) * c.gradientAccumulationSteps }
        if globalBatch(a, loaded.worldSize) != globalBatch(b, communicator.size) {
            reporter.warning("the checkpoint was written with \(globalBatch(a, loaded.worldSize)) items per update, this run takes "
                + "\(globalBatch(b, communicator.size)) (batch_size × ranks × gradient_accumulation_steps); the data order continues unchanged")
        }
    }

    /// This rank's shard of the next global micro-batch: of the `batchSize × N` items starting at the global data
    /// position, rank r takes items [r·batchSize, (r+1)·batchSize). The epoch's last global micro-batch may be short,
    /// leaving some ranks fewer items or none (nil).
    private func nextMicroBatch() -> TrainingBatch? {
        var position = state.dataPosition ?? 0
        if position >= plan.batches.count {
            state.epoch += 1
            state.batchIndex = 0
            position = 0
            plan = Trainer.plan(trainExamples, configuration, epoch: state.epoch)
        }
        let b = configuration.batchSize, count = plan.batches.count
        let shard = min(position + communicator.rank * b, count)..<min(position + (communicator.rank + 1) * b, count)
        state.dataPosition = min(position + b * communicator.size, count)
        state.batchIndex += 1
        return shard.isEmpty ? nil : plan.batch(items: shard, examples: trainExamples, maxLength: configuration.maxSeqLength, padID: padID)
    }

    /// One optimizer update. Returns (loss, grad norm, tokens) or throws on a non-finite loss or gradient.
    ///
    /// Across ranks: the target count is summed over all ranks before backward, so every token of the global batch
    /// weighs 1/total (not 1/(each rank's count)); then gradients are summed in fp32 buckets, so clipping sees the
    /// global norm and every rank applies the same update.
    func step() throws -> (loss: Double, gradNorm: Double, tokens: Int) {
        let micro = (0..<configuration.gradientAccumulationSteps).compactMap { _ in nextMicroBatch() }
        let localTargets = micro.reduce(0) { $0 + $1.targetCount }
        let total = communicator.size == 1 ? localTargets : Int(try communicator.sum([Double(localTargets)])[0])
        let seed = Tensor([1 / Float(max(total, 1))], shape: [1])
        model.setTraining(true)
        var lossSum = 0.0, finite = true
        for batch in micro {
            let (loss, _) = LossComputation.summedLoss(model, batch)
            let value = Double(loss.item)
            guard value.isFinite else { finite = false; break }
            lossSum += value
            if total > 0 { loss.backward(seed: seed) }
        }
        var tokens = micro.reduce(0) { $0 + $1.tokenCount }
        if communicator.size > 1 {
            // One small all-reduce: the loss sum, a non-finite flag (so every rank stops together), tokens, and which
            // parameters got a gradient anywhere (a rank with an empty shard has none, and must add zeros).
            let parameters = optimizer.parameters.map(\.tensor)
            let sums = try communicator.sum([lossSum, finite ? 0 : 1, Double(tokens)] + parameters.map { $0.grad == nil ? 0 : 1 })
            (lossSum, finite, tokens) = (sums[0], sums[1] == 0, Int(sums[2]))
            if finite {
                for (p, anywhere) in zip(parameters, sums.dropFirst(3)) where anywhere > 0 && p.grad == nil { p.grad = Tensor(zeros: p.shape) }
                try gradientBuckets.reduce(parameters, over: communicator)
            }
        }
        guard finite else {
            optimizer.zeroGrad()
            throw TrainingError.nonFinite(what: "the training loss", step: state.globalStep + 1, lastCheckpoint: lastCheckpoint?.path)
        }
        let norm = clipGradientNorm(optimizer.parameters.map(\.tensor), maxNorm: configuration.maxGradNorm)
        guard norm.isFinite else {
            optimizer.zeroGrad()
            throw TrainingError.nonFinite(what: "the gradient norm", step: state.globalStep + 1, lastCheckpoint: lastCheckpoint?.path)
        }
        optimizer.step(learningRate: learningRate(at: state.globalStep))
        optimizer.zeroGrad()
        state.globalStep += 1
        state.optimizerSteps = optimizer.stepCount
        return (lossSum / Double(max(total, 1)), norm, tokens)
    }

    /// The learning rate used by update `step` (0-based).
    public func learningRate(at step: Int) -> Double {
        configuration.learningRate * configuration.schedule.multiplier(step: step, warmupSteps: configuration.warmupSteps,
                                                                       totalSteps: configuration.maxSteps)
    }

    /// Eval loss over the validation examples; across ranks, each evaluates every N-th batch and the sums are reduced.
    public func evaluate() throws -> EvaluationResult? {
        try LossComputation.evaluate(model, examples: validationExamples, batchSize: configuration.batchSize,
                                     maxBatches: configuration.evalMaxBatches, padID: padID, communicator: communicator)
    }

    /// Frobenius norms of the trainable weights grouped by LoRA matrix kind.
    public func adapterNorms() -> [String: Double] {
        var squares: [String: Double] = [:]
        for (path, p) in optimizer.parameters {
            let kind = path.contains("lora_A") ? "lora_A" : path.contains("lora_B") ? "lora_B" : "other"
            var s = 0.0
            for i in 0..<p.count { s += Double(p.data[i]) * Double(p.data[i]) }
            squares[kind, default: 0] += s
        }
        return squares.mapValues { $0.squareRoot() }
    }

    /// Runs until `maxSteps` (or early stopping). Throws `TrainingError.nonFinite` on NaN/inf, leaving the last
    /// checkpoint in place. `stoppingAt` interrupts after that step with a checkpoint, as a killed run would have
    /// left it (the schedule still spans `maxSteps`), so a later `resume` continues the same run.
    @discardableResult
    public func train(stoppingAt stopStep: Int? = nil) throws -> TrainingSummary {
        let c = configuration
        let started = Date()
        if communicator.size > 1 { try prepareRanks() }
        if state.globalStep == 0, let e = try evaluate() {
            initialEval = e
            reporter.message(String(format: "step 0: eval loss %.4f (perplexity %.2f)%@", e.loss, e.perplexity,
                                    e.accuracy.map { String(format: ", accuracy %.3f", $0) } ?? ""))
            var r = MetricsRecord(step: 0)
            r.evalLoss = e.loss
            r.evalAccuracy = e.accuracy
            try metrics.append(r)
        }
        var windowTokens = 0, windowStart = Date(), windowLoss = 0.0, windowSteps = 0, stoppedEarly = false
        let firstStep = state.globalStep
        // Resuming a finished run: its final evaluation and checkpoint exist already; another would append a
        // second final eval line to metrics.jsonl.
        if firstStep >= c.maxSteps, let done = lastCheckpoint {
            reporter.message("the run in \(done.path) already finished at step \(firstStep) of \(c.maxSteps); nothing to do")
            // A kill between the final checkpoint and the loss curve leaves only the curve to draw.
            if let dir = c.outputDir, !FileManager.default.fileExists(atPath: dir.appendingPathComponent("loss.svg").path) {
                try FileManagerAtomic.write(Data(LossCurve.svg(metrics.records, title: "loss — \(dir.lastPathComponent)").utf8),
                                            to: dir.appendingPathComponent("loss.svg"))
            }
            return TrainingSummary(steps: firstStep, initialEval: nil, finalEval: nil, lastCheckpoint: done,
                                   bestCheckpoint: state.bestCheckpoint, warnings: [], stoppedEarly: false, seconds: 0,
                                   alreadyFinished: true)
        }
        while state.globalStep < c.maxSteps {
            let (loss, norm, tokens) = try step()
            let step = state.globalStep
            windowTokens += tokens; windowLoss += loss; windowSteps += 1
            if let w = monitor.observe(step: step, trainLoss: loss, totalSteps: c.maxSteps) { reporter.warning(w) }
            if step % max(1, c.loggingEvery) == 0 || step == c.maxSteps {
                let elapsed = Date().timeIntervalSince(windowStart)
                let perStep = Date().timeIntervalSince(started) / Double(step - firstStep)
                var r = MetricsRecord(step: step)
                r.loss = windowLoss / Double(windowSteps)
                r.learningRate = learningRate(at: step - 1)
                r.gradNorm = norm
                r.adapterNorms = adapterNorms()
                r.tokensPerSecond = Double(windowTokens) / max(elapsed, 1e-9)
                r.epoch = Double(state.epoch) + Double(state.dataPosition ?? 0) / Double(max(plan.batches.count, 1))
                try metrics.append(r)
                reporter.progress(step: step, total: c.maxSteps, loss: r.loss!, learningRate: r.learningRate!,
                                  tokensPerSecond: r.tokensPerSecond!, secondsLeft: perStep * Double(c.maxSteps - step))
                windowTokens = 0; windowLoss = 0; windowSteps = 0; windowStart = Date()
            }
            var improved = false
            if let every = c.evalEvery, step % every == 0, step < c.maxSteps, let e = try evaluate() {
                improved = try recordEval(e, step: step)
                if let patience = c.earlyStoppingPatience, state.evalsWithoutImprovement >= patience {
                    reporter.message("early stopping: no better eval loss in \(patience) evaluations")
                    stoppedEarly = true
                }
            }
            if let every = c.saveEvery, step % every == 0 || stoppedEarly, step < c.maxSteps {
                try saveCheckpoint(best: improved)
            }
            if stoppedEarly { break }
            if let stopStep, step >= stopStep, step < c.maxSteps {
                if lastCheckpoint?.lastPathComponent != "checkpoint-\(step)" { try saveCheckpoint(best: false) }
                return TrainingSummary(steps: step, initialEval: initialEval, finalEval: nil, lastCheckpoint: lastCheckpoint,
                                       bestCheckpoint: state.bestCheckpoint, warnings: monitor.warnings, stoppedEarly: false,
                                       seconds: Date().timeIntervalSince(started))
            }
        }
        if let e = try evaluate() {
            finalEval = e
            let improved = try recordEval(e, step: state.globalStep)
            if c.outputDir != nil { try saveCheckpoint(best: improved) }
        } else if c.outputDir != nil {
            try saveCheckpoint(best: false)
        }
        if let dir = c.outputDir, communicator.isMain {
            try FileManagerAtomic.write(Data(LossCurve.svg(metrics.records, title: "loss — \(dir.lastPathComponent)").utf8),
                                        to: dir.appendingPathComponent("loss.svg"))
        }
        return TrainingSummary(steps: state.globalStep, initialEval: initialEval, finalEval: finalEval, lastCheckpoint: lastCheckpoint,
                               bestCheckpoint: state.bestCheckpoint, warnings: monitor.warnings, stoppedEarly: stoppedEarly,
                               seconds: Date().timeIntervalSince(started))
    }

    /// Logs an evaluation and tracks the best one; returns whether it improved.
    private func recordEval(_ e: EvaluationResult, step: Int) throws -> Bool {
        var r = MetricsRecord(step: step)
        r.evalLoss = e.loss
        r.evalAccuracy = e.accuracy
        try metrics.append(r)
        reporter.message(String(format: "step %d: eval loss %.4f (perplexity %.2f)%@", step, e.loss, e.perplexity,
                                e.accuracy.map { String(format: ", accuracy %.3f", $0) } ?? ""))
        if let w = monitor.observe(step: step, evalLoss: e.loss) { reporter.warning(w) }
        if state.bestEvalLoss.map({ e.loss < $0 }) ?? true {
            state.bestEvalLoss = e.loss
            state.evalsWithoutImprovement = 0
            return true
        }
        state.evalsWithoutImprovement += 1
        return false
    }

    private func saveCheckpoint(best: Bool) throws {
        guard let dir = configuration.outputDir else { return }
        if best && configuration.saveBest { state.bestCheckpoint = "checkpoint-\(state.globalStep)" }
        state.adapterRandomState = adapter.randomState()
        state.worldSize = communicator.size
        // Rank 0 writes; the others keep the same bookkeeping (every rank's state is identical but for dropout).
        guard communicator.isMain else {
            lastCheckpoint = Checkpoint.directory(in: dir, step: state.globalStep)
            return
        }
        lastCheckpoint = try Checkpoint.save(to: dir, state: state, optimizer: optimizer, adapter: adapter, extraFiles: extraCheckpointFiles)
        if let keep = configuration.keepLast {
            Checkpoint.rotate(in: dir, keep: keep, protected: configuration.saveBest ? state.bestCheckpoint : nil)
        }
    }
}

/// What a run did.
public struct TrainingSummary {
    public var steps: Int
    public var initialEval: EvaluationResult?
    public var finalEval: EvaluationResult?
    public var lastCheckpoint: URL?
    public var bestCheckpoint: String?
    public var warnings: [String]
    public var stoppedEarly: Bool
    public var seconds: Double
    /// A resume of a run that had already reached max_steps: nothing was trained or logged.
    public var alreadyFinished = false
}
