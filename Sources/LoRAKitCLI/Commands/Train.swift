import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit train RECIPE [--set k=v]… [--resume [DIR]]`: fine-tune as the recipe says.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a LoRA adapter as a recipe says (checkpoints, metrics.jsonl and loss.svg in its output_dir).")

    @Argument(help: "The recipe YAML file.") var recipe: String
    @Option(name: .customLong("set"), help: "Override a key: --set training.max_steps=10 (repeatable).") var overrides: [String] = []
    /// `--resume [DIR]`: a flag plus an optional positional, since an option cannot have an optional value.
    @Flag(help: "Continue from the latest checkpoint in output_dir, or from DIR when given after it.") var resume = false
    @Argument(help: ArgumentHelp("With --resume: a checkpoint directory (or an output_dir).", valueName: "DIR")) var resumeDirectory: String?
    @Flag(help: "Start over in an output_dir that holds an earlier run (its checkpoints and metrics are deleted).") var force = false
    @Option(name: .customLong("stop-at"), help: "Stop after this update with a checkpoint (continue later with --resume).") var stopAt: Int?

    func run() throws {
        if resumeDirectory != nil && !resume { throw ValidationError("a checkpoint directory is given without --resume") }
        if resume && force { throw ValidationError("--resume continues a run and --force deletes it: give one of them") }
        do {
            let r = try Recipe.load(URL(fileURLWithPath: recipe), overrides: overrides)
            let run = try RecipeRun(recipe: r)
            let checkpoint = resume ? try run.checkpointToResume(resumeDirectory) : nil
            try run.train(resume: checkpoint, stoppingAt: stopAt, force: force)
        } catch let error as TrainingError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        } catch let error as RecipeError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        } catch let error as OutputPathError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
