import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit validate RECIPE`: schema errors with file:line:column, then the datasets read and counted.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a recipe: every key, type and dataset row.")

    @Argument(help: "The recipe YAML file.") var recipe: String
    @Option(name: .customLong("set"), help: "Override a key: --set training.max_steps=10 (repeatable).") var overrides: [String] = []

    func run() throws {
        do {
            let r = try Recipe.load(URL(fileURLWithPath: recipe), overrides: overrides)
            try PluginLoader.load(r.plugins.map(\.path))
            let rows = try LoadedRows.load(r.datasets, seed: r.training.seed)
            // The model and tokenizer too: vocabulary, position limits and sizes, which would otherwise stop training.
            let model = try RecipeSession.loadModel(r)
            let setup = try RecipeSession.tokenizerAndFormat(r, model: model)
            let data = try PreparedData.prepare(r, tokenizer: setup.tokenizer, format: setup.format)
            let notes = try RecipeChecks.check(r, model: model, tokenizer: setup.tokenizer, data: data)
            print("\(recipe): valid")
            print("  model \(r.model), task \(r.task.type.rawValue), template \(r.template)")
            print("  \(rows.train.count) training rows, \(rows.validation.count) validation rows, \(rows.filteredOut) filtered out, "
                  + "\(rows.skippedBadLines.count) malformed lines skipped")
            for e in rows.skippedBadLines.prefix(5) { print("    skipped \(e)") }
            print("  model: \(model.plugin.name), vocabulary \(model.vocabularySize.map(String.init) ?? "?"), tokenizer \(setup.tokenizer.vocabularySize) tokens, "
                  + "context \(model.contextLength.map(String.init) ?? "?")")
            print("  \(data.summary)")
            for note in notes { print("  note: \(note)") }
        } catch {
            // The error already says where and what; no usage text after it.
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
