import Training

extension Recipe.TrainingSettings {
    /// `training`: steps or epochs, optimizer, schedule, batch, sequence length, packing, checkpointing.
    static func decode(_ node: RecipeNode) throws -> Self {
        var t = try SchemaReader(node, path: "training")
        var training = Self()
        training.maxSteps = try t.int("max_steps", minimum: 1)
        training.epochs = try t.double("num_epochs", range: 0.001...1e6)
        if let v = try t.doubleOrAuto("learning_rate") { training.learningRate = v }
        if let v = try t.string("lr_scheduler", oneOf: LearningRateSchedule.allCases.map(\.rawValue)), let s = LearningRateSchedule(rawValue: v) {
            training.schedule = s
        }
        training.warmupSteps = try t.int("warmup_steps", minimum: 0)
        training.warmupRatio = try t.double("warmup_ratio", range: 0...1)
        if let v = try t.intOrAuto("batch_size") { training.batchSize = v }
        if let v = try t.int("gradient_accumulation_steps", minimum: 1) { training.gradientAccumulationSteps = v }
        if t.node("max_grad_norm") != nil {
            training.maxGradNorm = try t.double("max_grad_norm", range: 0...1e9).flatMap { $0 > 0 ? $0 : nil }
        }
        if let v = try t.double("weight_decay", range: 0...10) { training.weightDecay = v }
        if let v = try t.double("adam_beta1", range: 0...0.999999) { training.adamBeta1 = v }
        if let v = try t.double("adam_beta2", range: 0...0.999999) { training.adamBeta2 = v }
        if let v = try t.double("adam_epsilon", range: 0...1) { training.adamEpsilon = v }
        if let v = try t.int("seed", minimum: 0) { training.seed = UInt64(v) }
        if let v = try t.int("max_seq_length", minimum: 8) { training.maxSeqLength = v }
        if let v = try t.bool("packing") { training.packing = v }
        if let v = try t.bool("gradient_checkpointing") { training.gradientCheckpointing = v }
        training.memoryBudgetGB = try t.double("memory_budget_gb", range: 0.1...1e5)
        try t.finish()
        if training.maxSteps != nil && training.epochs != nil {
            throw SchemaReader.error(node.location, "training", "give max_steps or num_epochs, not both")
        }
        return training
    }
}
