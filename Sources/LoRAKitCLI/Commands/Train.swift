import ArgumentParser
import DistributedTraining
import Foundation
import LoRAKit

/// `lorakit train RECIPE [--set k=v]… [--resume [DIR]]`: fine-tune as the recipe says. Under `mpirun -np N` the N
/// processes train one model data-parallel (MPILaunch decides; a plain run never initialises MPI).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a LoRA adapter as a recipe says (checkpoints, metrics.jsonl and loss.svg in its output_dir).",
        discussion: "Data-parallel over several processes or machines: mpirun -np N lorakit train RECIPE (README: Several machines).")

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
        let communicator: any Communicator
        do { communicator = try MPILaunch.communicator() } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let mpi = communicator as? MPICommunicator
        // Ranks other than 0 print nothing but their errors, prefixed with their rank.
        let prefix = mpi.map { "rank \($0.rank): " } ?? ""
        do {
            let r = try Recipe.load(URL(fileURLWithPath: recipe), overrides: overrides)
            let run = try RecipeRun(recipe: r, reporter: ProgressReporter(mode: communicator.isMain ? .automatic : .quiet))
            run.communicator = communicator
            let checkpoint = resume ? try run.checkpointToResume(resumeDirectory) : nil
            try run.train(resume: checkpoint, stoppingAt: stopAt, force: force)
        } catch let error as TrainingError {
            fail(prefix, error, mpi)
        } catch let error as RecipeError {
            fail(prefix, error, mpi)
        } catch let error as OutputPathError {
            fail(prefix, error, mpi)
        } catch let error as DistributedError {
            fail(prefix, error, mpi)
        } catch {
            // Any other error under mpirun must still end the other ranks rather than leave them waiting.
            if let mpi { fail(prefix, error, mpi) }
            throw error
        }
        mpi?.finalize()
    }

    /// Prints the error; under mpirun also aborts the job so that no other rank waits for this one.
    private func fail(_ prefix: String, _ error: any Error, _ mpi: MPICommunicator?) -> Never {
        FileHandle.standardError.write(Data("error: \(prefix)\(error)\n".utf8))
        if let mpi { mpi.abort(code: 1) }
        Foundation.exit(1)
    }
}
