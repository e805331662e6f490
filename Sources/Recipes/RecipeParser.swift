import Foundation
import LoRA
import Training

extension Recipe {
    /// Reads a recipe file, applies `--set` overrides, and validates every key.
    public static func load(_ url: URL, overrides: [String] = []) throws -> Recipe {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw RecipeError(file: url.path, line: 0, column: 0, path: "", message: "cannot read the recipe: \(error.localizedDescription)")
        }
        return try parse(text, file: url, overrides: overrides)
    }

    public static func parse(_ text: String, file: URL, overrides: [String] = []) throws -> Recipe {
        var root = try RecipeNode.parse(text, file: file.path)
        for o in overrides { try root.apply(override: o) }
        var resolved = text
        if !overrides.isEmpty { resolved += "\n# --set overrides:\n" + overrides.map { "#   \($0)" }.joined(separator: "\n") + "\n" }
        return try decode(root, file: file, resolvedText: resolved)
    }

    /// The whole document: one decoder per section (Sources/Recipes/Sections), each rejecting keys it does not know.
    static func decode(_ root: RecipeNode, file: URL, resolvedText: String) throws -> Recipe {
        var top = try SchemaReader(root, path: "")
        let paths = RecipePaths(directory: file.deletingLastPathComponent())
        let (model, quantization) = try ModelSection.decode(&top, root: root)
        let tokenizer = try top.string("tokenizer")
        let plugins = try top.stringList("plugins")?.map(paths.resolve) ?? []
        let template = try top.node("template").map { try TemplateChoice.decode($0, paths: paths) } ?? .model
        let task = try top.node("task").map(TaskSettings.decode) ?? TaskSettings(type: .sft, masking: .prompt)
        guard let datasetsNode = top.node("datasets") else {
            throw SchemaReader.error(root.location, "datasets", "missing: a list of datasets, each with a path and a type")
        }
        let datasets = try DatasetSpec.decodeList(datasetsNode, task: task.type, paths: paths)
        let loraConfig = try LoRAConfig.decode(recipeSection: top.node("lora"), document: root)
        let training = try top.node("training").map(TrainingSettings.decode) ?? TrainingSettings()
        let eval = try top.node("eval").map(EvalSettings.decode) ?? EvalSettings()
        let save = try SaveSettings.decode(top.node("save"), defaultName: file.deletingPathExtension().lastPathComponent, paths: paths)
        let loggingEvery = try top.node("logging").map(decodeLogging) ?? 1
        let sample = try top.node("sample").map(SampleSettings.decode)
        try top.finish()
        var recipe = Recipe(file: file, resolvedText: resolvedText, model: model, tokenizer: tokenizer, plugins: plugins, template: template,
                            datasets: datasets, task: task, loraConfig: loraConfig, training: training, eval: eval, save: save,
                            loggingEvery: loggingEvery, sample: sample)
        recipe.quantization = quantization
        return recipe
    }

    static func decodeLogging(_ node: RecipeNode) throws -> Int {
        var l = try SchemaReader(node, path: "logging")
        let every = try l.int("every", minimum: 1) ?? 1
        try l.finish()
        return every
    }
}

/// Paths inside a recipe are relative to the recipe's directory.
struct RecipePaths {
    let directory: URL
    func resolve(_ p: String) -> URL { p.hasPrefix("/") ? URL(fileURLWithPath: p) : directory.appendingPathComponent(p).standardizedFileURL }
}
