import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit eval RECIPE [--adapter DIR]`: loss and perplexity (accuracy for classification) on the recipe's
/// held-out examples, with a trained adapter or the base model.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate the base model or an adapter on a recipe's validation data.")

    @Argument(help: "The recipe YAML file.") var recipe: String
    @Option(name: .customLong("set"), help: "Override a key (repeatable).") var overrides: [String] = []
    @Option(help: "A PEFT adapter directory (e.g. output_dir/checkpoint-60); without it the base model is evaluated.") var adapter: String?
    @Option(name: .customLong("batch-size"), help: "Examples per forward pass.") var batchSize: Int?

    func run() throws {
        let r = try Recipe.load(URL(fileURLWithPath: recipe), overrides: overrides)
        let run = try RecipeRun(recipe: r)
        let (result, split) = try run.evaluate(adapter: adapter.map { URL(fileURLWithPath: $0) }, batchSize: batchSize)
        // (No %@ with Swift strings: it is not portable to Linux.)
        var line = "\(adapter ?? "base model") on \(result.targetCount) \(split) targets: "
            + String(format: "loss %.4f, perplexity %.3f", result.loss, result.perplexity)
        if let a = result.accuracy { line += String(format: ", accuracy %.4f", a) }
        print(line)
        if let table = result.confusionTable(labels: r.task.labels) { print("confusion matrix:\n" + table) }
    }
}
