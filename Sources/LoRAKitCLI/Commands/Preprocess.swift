import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit preprocess RECIPE --debug [--n 3]`: the tokens of the first examples with their labels, masked ones
/// marked, as Axolotl's preprocess --debug shows them.
struct Preprocess: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tokenize a recipe's data and show tokens with their labels.")

    @Argument(help: "The recipe YAML file.") var recipe: String
    @Option(name: .customLong("set"), help: "Override a key (repeatable).") var overrides: [String] = []
    @Flag(help: "Print the first examples token by token with their labels.") var debug = false
    @Option(name: .customLong("n"), help: "How many examples to show with --debug.") var count = 3

    func run() throws {
        let r = try Recipe.load(URL(fileURLWithPath: recipe), overrides: overrides)
        let setup = try RecipeSession.tokenizerAndFormat(r)
        let data = try PreparedData.prepare(r, tokenizer: setup.tokenizer, format: setup.format)
        print(data.summary)
        let tokens = data.train.reduce(0) { $0 + $1.count }
        print("training tokens: \(tokens), trained (unmasked) tokens: \(data.train.reduce(0) { $0 + $1.trainedTokenCount })")
        if debug {
            let color = isatty(STDOUT_FILENO) == 1
            if !color { print("(tokens shown as text(id, label); a leading · marks a masked token, label −100)") }
            for e in data.train.prefix(count) { print(PreprocessView.render(e, tokenizer: setup.tokenizer, color: color)) }
        }
    }
}
