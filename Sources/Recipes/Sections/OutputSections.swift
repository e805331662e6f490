import Foundation

extension Recipe.EvalSettings {
    /// `eval`: how often, and on how many batches.
    static func decode(_ node: RecipeNode) throws -> Self {
        var e = try SchemaReader(node, path: "eval")
        var eval = Self()
        eval.every = try e.int("every", minimum: 1)
        eval.maxBatches = try e.int("max_batches", minimum: 1)
        try e.finish()
        return eval
    }
}

extension Recipe.SaveSettings {
    /// `save`: where checkpoints go (default outputs/<recipe name>), how often, how many are kept.
    static func decode(_ node: RecipeNode?, defaultName: String, paths: RecipePaths) throws -> Self {
        var save = Self(outputDir: paths.resolve("outputs/\(defaultName)"))
        guard let node else { return save }
        var s = try SchemaReader(node, path: "save")
        if let dir = try s.string("output_dir") { save.outputDir = paths.resolve(dir) }
        save.saveEvery = try s.int("save_every", minimum: 1)
        save.keepLast = try s.int("keep_last", minimum: 1)
        if let v = try s.bool("save_best") { save.saveBest = v }
        save.earlyStoppingPatience = try s.int("early_stopping_patience", minimum: 1)
        try s.finish()
        return save
    }
}

extension Recipe.SampleSettings {
    /// `sample`: a prompt generated from before and after training.
    static func decode(_ node: RecipeNode) throws -> Self {
        var s = try SchemaReader(node, path: "sample")
        guard let prompt = try s.string("prompt") else { throw SchemaReader.error(node.location, "sample.prompt", "missing: the prompt to generate from") }
        let sample = Self(prompt: prompt, maxNewTokens: try s.int("max_new_tokens", minimum: 1) ?? 48)
        try s.finish()
        return sample
    }
}
