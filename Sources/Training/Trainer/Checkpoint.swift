import Foundation
import TensorCore
import ModelFormats

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

    /// Writes a checkpoint and returns its directory.
    @discardableResult
    public static func save(to outputDir: URL, state: TrainerState, optimizer: AdamW, adapter: AdapterHooks,
                            extraFiles: [String: Data]) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: outputDir, withIntermediateDirectories: true)
        let final = directory(in: outputDir, step: state.globalStep)
        let temp = outputDir.appendingPathComponent(".checkpoint-\(state.globalStep).tmp-\(getpid())")
        try? fm.removeItem(at: temp)
        try fm.createDirectory(at: temp, withIntermediateDirectories: true)
        do {
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
            if fm.fileExists(atPath: final.path) { try fm.removeItem(at: final) }
            guard rename(temp.path, final.path) == 0 else {
                throw TrainingError.checkpoint("cannot rename \(temp.path) to \(final.path): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? fm.removeItem(at: temp)
            throw error
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

    /// Deletes all but the newest `keep` checkpoints, never `protected` (the best one).
    public static func rotate(in outputDir: URL, keep: Int, protected: String?) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDir.path)) ?? []
        let steps = names.compactMap { n -> Int? in n.hasPrefix("checkpoint-") ? Int(n.dropFirst("checkpoint-".count)) : nil }.sorted()
        for step in steps.dropLast(max(keep, 1)) where "checkpoint-\(step)" != protected {
            try? FileManager.default.removeItem(at: directory(in: outputDir, step: step))
        }
    }
}
