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
        // A quantized base (GGUF blocks) is dequantized to fp32 and merged there, as PEFT merges into a dequantized
        // bnb base. Quantizing the result again rounds a second time, which can swallow much of a small ΔW.
        if let url = try? ModelReference.resolve(model), url.pathExtension.lowercased() == "gguf", let file = try? GGUFFile(url: url) {
            let types = Set(file.tensorInfos.map(\.type).filter { ![.F32, .F16, .BF16].contains($0) }).map(\.description).sorted()
            if !types.isEmpty {
                FileHandle.standardError.write(Data(("warning: the base is quantized (\(types.joined(separator: ", "))): merging dequantizes it and writes "
                    + "fp32; quantizing the merged model again rounds a second time, which can lose part of the adapter's change\n").utf8))
            }
        }
        let config = try MergedModelWriter.merge(model: model, adapter: URL(fileURLWithPath: adapter), to: URL(fileURLWithPath: out), force: force)
        print("merged the r=\(config.r)\(config.useDoRA ? " DoRA" : "") adapter into \(out) (config.json + model.safetensors)")
    }
}
