import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit merge`: fold a PEFT adapter into the base weights and write a Hugging Face model directory.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Merge an adapter into its base model (merge_and_unload) and save it in HF format.")

    @Option(help: "Model directory, .gguf file or alias.") var model: String
    @Option(help: "PEFT adapter directory.") var adapter: String
    @Option(help: "Output directory (config.json + model.safetensors); must not exist or be empty.") var out: String
    @Flag(help: "Replace a non-empty --out (atomically: the new directory is renamed over it).") var force = false

    func run() throws {
        let config = try MergedModelWriter.merge(model: model, adapter: URL(fileURLWithPath: adapter), to: URL(fileURLWithPath: out), force: force)
        print("merged the r=\(config.r)\(config.useDoRA ? " DoRA" : "") adapter into \(out) (config.json + model.safetensors)")
    }
}
