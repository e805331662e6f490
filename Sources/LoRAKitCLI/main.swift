import Foundation
import ArgumentParser
import LoRAKit

/// `lorakit`: every subcommand is a thin shell over a library call (one file per subcommand).
struct LoRAKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lorakit",
        abstract: "LoRA fine-tuning for language models on the CPU.",
        subcommands: [Train.self, Eval.self, Validate.self, Preprocess.self, Bench.self, Parity.self, Generate.self, Tokenize.self, Forward.self, Inspect.self, Models.self, Merge.self, Plugins.self, Export.self, Serve.self])
}

// oneDNN runs on libgomp, whose idle threads spin ("active" wait) between parallel regions and steal the cores
// LoRAKit's own loops need: measured 2× slower training on 2 cores. libgomp reads OMP_WAIT_POLICY once, when it is
// loaded, so the policy is set by re-executing once with it; a user's own setting is left alone.
if getenv("OMP_WAIT_POLICY") == nil {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)  // returns only on failure: then run on with libgomp's default
}

registerBuiltinArchitectures()
_ = ComputeEnvironment.current  // LORAKIT_GEMM, LORAKIT_THREADS: applied on the main thread; a bad value exits 1
do { try PluginLoader.loadFromEnvironment() } catch {
    FileHandle.standardError.write(Data("lorakit: \(error)\n".utf8))
    exit(2)
}
LoRAKitCommand.main()
