import Foundation
import TensorCore
import ModelFormats
import LoRA

/// The non-tensor state of a run at a checkpoint: enough to continue as if it had never stopped.
public struct TrainerState: Codable, Equatable {
    public var globalStep: Int
    /// Data position: the epoch and the next micro-batch of that epoch's seeded plan.
    public var epoch: Int
    public var batchIndex: Int
    public var optimizerSteps: Int
    /// Generators the adapter draws from (LoRA dropout).
    public var adapterRandomState: [SeededGenerator]
    public var bestEvalLoss: Double?
    public var bestCheckpoint: String?
    public var evalsWithoutImprovement: Int
    /// The resolved configuration ("auto" replaced by numbers), so a resume uses the same batch size and rate.
    public var configuration: TrainerConfiguration
    /// The global data position: items (examples or packed rows) of the epoch's seeded order already trained on,
    /// over all ranks. Absent in checkpoints written before data-parallel training (position = batch_index × batch).
    public var dataPosition: Int?
    /// Ranks that trained together up to this checkpoint (absent = 1).
    public var worldSize: Int?

    enum CodingKeys: String, CodingKey {
        case globalStep = "global_step", epoch, batchIndex = "batch_index", optimizerSteps = "optimizer_steps"
        case adapterRandomState = "adapter_rng_state", bestEvalLoss = "best_eval_loss", bestCheckpoint = "best_checkpoint"
        case evalsWithoutImprovement = "evals_without_improvement", configuration
        case dataPosition = "data_position", worldSize = "world_size"
    }
}

/// checkpoint-{step}/ directories: adapter_model.safetensors + adapter_config.json (PEFT), optimizer.safetensors
/// (exact fp32 parameters and AdamW moments by parameter path), trainer_state.json, and any extra files (the recipe).
/// Each is written into a temporary directory that is renamed into place, so a crash never leaves half a checkpoint.
public enum Checkpoint {
    public static let stateFile = "trainer_state.json"
    public static let optimizerFile = "optimizer.safetensors"

    public static func directory(in outputDir: URL, step: Int) -> URL { outputDir.appendingPathComponent("checkpoint-\(step)") }

    /// Writes a checkpoint and returns its directory. Everything goes into `.checkpoint-N.tmp-PID`, is fsynced, and
    /// the complete directory is renamed to `checkpoint-N`; an existing `checkpoint-N` (a resumed run saving the same
    /// step again) is renamed aside first and deleted only afterwards, never emptied file by file. A kill at any
    /// moment leaves `checkpoint-N` complete or absent; `cleanUp` finishes or undoes the rest on the next run.
    @discardableResult
    public static func save(to outputDir: URL, state: TrainerState, optimizer: AdamW, adapter: AdapterHooks,
                            extraFiles: [String: Data]) throws -> URL {
        let fm = FileManager.default
        let final = directory(in: outputDir, step: state.globalStep)
        let temp = outputDir.appendingPathComponent(".checkpoint-\(state.globalStep).tmp-\(getpid())")
        do {
            try fm.createDirectory(at: outputDir, withIntermediateDirectories: true)
            try? fm.removeItem(at: temp)
            try fm.createDirectory(at: temp, withIntermediateDirectories: true)
            try adapter.save(temp)
            var tensors: [SafetensorsTensor] = []
            for (i, (path, p)) in optimizer.parameters.enumerated() {
                tensors.append(SafetensorsTensor(name: "param.\(path)", floats: p.scalars, shape: p.shape))
                tensors.append(SafetensorsTensor(name: "exp_avg.\(path)", floats: optimizer.firstMoments[i].scalars, shape: p.shape))
                tensors.append(SafetensorsTensor(name: "exp_avg_sq.\(path)", floats: optimizer.secondMoments[i].scalars, shape: p.shape))
            }
            try SafetensorsWriter.write(tensors, metadata: ["step": String(optimizer.stepCount)], to: temp.appendingPathComponent(optimizerFile))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(state).write(to: temp.appendingPathComponent(stateFile))
            for (name, data) in extraFiles { try data.write(to: temp.appendingPathComponent(name)) }
            try OutputPaths.replaceDirectory(final, with: temp)
        } catch {
            try? fm.removeItem(at: temp)
            if error is TrainingError { throw error }
            throw TrainingError.checkpoint("cannot write \(final.path): \(error is OutputPathError ? "\(error)" : OutputPaths.reason(error)); "
                + "the previous checkpoints are intact")
        }
        return final
    }

    /// Reads a checkpoint into the optimizer's parameters and moments; returns the trainer state.
    public static func load(from dir: URL, optimizer: AdamW) throws -> TrainerState {
        let stateURL = dir.appendingPathComponent(stateFile)
        guard let data = try? Data(contentsOf: stateURL) else { throw TrainingError.checkpoint("\(stateURL.path) is missing or unreadable") }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw TrainingError.checkpoint("\(stateURL.path): \(error)")
        }
        let file = try SafetensorsFile(url: dir.appendingPathComponent(optimizerFile))
        var m: [[Float]] = [], v: [[Float]] = []
        for (path, p) in optimizer.parameters {
            guard file.contains("param.\(path)") else {
                throw TrainingError.checkpoint("\(dir.path)/\(optimizerFile) has no tensor param.\(path): was it written for another adapter?")
            }
            let values = try file.floats("param.\(path)")
            guard values.count == p.count else {
                throw TrainingError.checkpoint("param.\(path) has \(values.count) values, the model's parameter has \(p.count)")
            }
            p.buffer.update(fromContentsOf: values)
            m.append(try file.floats("exp_avg.\(path)"))
            v.append(try file.floats("exp_avg_sq.\(path)"))
        }
        try optimizer.restore(firstMoments: m, secondMoments: v, stepCount: state.optimizerSteps)
        return state
    }

    /// The checkpoint with the highest step in `outputDir`, if any.
    public static func latest(in outputDir: URL) -> URL? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDir.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix("checkpoint-"), let step = Int(name.dropFirst("checkpoint-".count)) else { return nil }
            let url = outputDir.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: url.appendingPathComponent(stateFile).path) ? (step, url) : nil
        }.max { $0.0 < $1.0 }?.1
    }

    /// Deletes all but the newest `keep` checkpoints, never `protected` (the best one). Each is first renamed to a
    /// trash name, so a kill during the deletion leaves no half-deleted `checkpoint-N` that looks resumable.
    public static func rotate(in outputDir: URL, keep: Int, protected: String?) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDir.path)) ?? []
        let steps = names.compactMap { n -> Int? in n.hasPrefix("checkpoint-") ? Int(n.dropFirst("checkpoint-".count)) : nil }.sorted()
        for step in steps.dropLast(max(keep, 1)) where "checkpoint-\(step)" != protected {
            let trash = outputDir.appendingPathComponent(".checkpoint-\(step).trash-\(getpid())")
            guard rename(directory(in: outputDir, step: step).path, trash.path) == 0 else { continue }
            try? FileManager.default.removeItem(at: trash)
        }
    }

    /// Resuming from `step` starts that run's future again: checkpoints after it are removed (renamed to trash
    /// first), as metrics.jsonl drops its lines after `step`, so a later plain `--resume` cannot pick a checkpoint
    /// whose metrics were dropped. A deterministic run re-creates them with the same bytes. Returns their names.
    @discardableResult
    public static func discardCheckpoints(after step: Int, in outputDir: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDir.path)) ?? []
        let newer = names.compactMap { n -> Int? in n.hasPrefix("checkpoint-") ? Int(n.dropFirst("checkpoint-".count)) : nil }
            .filter { $0 > step }.sorted()
        for s in newer {
            let trash = outputDir.appendingPathComponent(".checkpoint-\(s).trash-\(getpid())")
            guard rename(directory(in: outputDir, step: s).path, trash.path) == 0 else { continue }
            try? FileManager.default.removeItem(at: trash)
        }
        return newer.map { "checkpoint-\($0)" }
    }

    /// Finishes what a killed run left half done in `outputDir` (call it holding the directory's lock): removes
    /// temporary checkpoint, staging and trash directories and temporary files, and puts back a complete
    /// checkpoint that was renamed aside when its replacement never arrived. Returns the names it handled.
    @discardableResult
    public static func cleanUp(in outputDir: URL) -> [String] {
        let fm = FileManager.default
        var handled: [String] = []
        for name in ((try? fm.contentsOfDirectory(atPath: outputDir.path)) ?? []).sorted() where name.hasPrefix(".") {
            let url = outputDir.appendingPathComponent(name)
            if name.hasPrefix(".checkpoint-"), let range = name.range(of: ".old-") {
                // `.checkpoint-N.old-PID`: complete (it was renamed, not written); restore it if checkpoint-N is gone.
                let original = outputDir.appendingPathComponent(String(name.dropFirst().prefix(upTo: range.lowerBound)))
                if !fm.fileExists(atPath: original.path), fm.fileExists(atPath: url.appendingPathComponent(stateFile).path),
                   rename(url.path, original.path) == 0 {
                    handled.append(name)
                    continue
                }
            }
            let temporary = [".tmp-", ".trash-", ".old-", ".lorakit-write-test-"].contains { name.contains($0) }
            guard temporary, name.contains("checkpoint-") || name.contains("metrics.jsonl") || name.contains("loss.svg")
                    || name.hasPrefix(".lorakit-write-test-") else { continue }
            try? fm.removeItem(at: url)
            handled.append(name)
        }
        return handled
    }

    /// Prepares `outputDir` for a run: takes its lock (a second run refuses), cleans up after a killed run, and —
    /// unless `resuming` — refuses a directory that already holds checkpoints or metrics of another run, or with
    /// `force` moves them out of the way (renamed to trash names, then deleted).
    public static func prepareOutputDirectory(_ outputDir: URL, resuming: Bool, force: Bool,
                                              report: (String) -> Void = { _ in }) throws -> OutputDirectoryLock {
        let lock = try OutputDirectoryLock(directory: outputDir)
        let cleaned = cleanUp(in: outputDir)
        if !cleaned.isEmpty { report("cleaned up after an interrupted run in \(outputDir.path): \(cleaned.joined(separator: ", "))") }
        guard !resuming else { return lock }
        let fm = FileManager.default
        let earlier = ((try? fm.contentsOfDirectory(atPath: outputDir.path)) ?? []).filter {
            $0.hasPrefix("checkpoint-") || $0 == "metrics.jsonl" || $0 == "loss.svg"
        }.sorted()
        guard !earlier.isEmpty else { return lock }
        guard force else {
            throw TrainingError.configuration("\(outputDir.path) already holds an earlier run (\(earlier.prefix(3).joined(separator: ", "))"
                + "\(earlier.count > 3 ? ", …" : "")); continue it with --resume, start over with --force (deletes them), or set another save.output_dir")
        }
        for name in earlier {
            let trash = outputDir.appendingPathComponent(".\(name).trash-\(getpid())")
            try OutputPaths.rename(outputDir.appendingPathComponent(name), trash)
            try? fm.removeItem(at: trash)
        }
        report("--force: removed \(earlier.count) item(s) of an earlier run from \(outputDir.path)")
        return lock
    }
}
