import Foundation
import ArgumentParser
import LoRAKit

/// `lorakit`: every subcommand is a thin shell over a library call (one file per subcommand).
struct LoRAKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lorakit",
        abstract: "LoRA fine-tuning for language models on the CPU.",
        subcommands: [Train.self, Eval.self, Validate.self, Preprocess.self, Bench.self, Parity.self, Generate.self, Tokenize.self, Forward.self, Inspect.self, Models.self, Merge.self, Plugins.self, Serve.self])
}

registerBuiltinArchitectures()
do { try PluginLoader.loadFromEnvironment() } catch {
    FileHandle.standardError.write(Data("lorakit: \(error)\n".utf8))
    exit(2)
}
LoRAKitCommand.main()
