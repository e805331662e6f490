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
    @Option(help: "How to load the base, as the adapter was trained: none | keep | nf4 | q8_0 | q4_0 (the adapter is merged into those weights, dequantized).")
    var quantization = "none"
    @Option(help: "Type of the written weights: f32 | bf16 | f16 (config.json's torch_dtype says which).") var dtype = "f32"

    func run() throws {
        guard let q = WeightQuantization(rawValue: quantization) else {
            throw ValidationError("--quantization \(quantization): expected one of \(WeightQuantization.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let type = MergedModelWriter.DType(rawValue: dtype) else {
            throw ValidationError("--dtype \(dtype): expected one of \(MergedModelWriter.DType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        // A quantized base is dequantized and merged in fp32, as PEFT merges into a dequantized bnb base. Quantizing
        // the result again rounds a second time, which can swallow much of a small ΔW.
        var quantized: [String] = []
        if let url = try? ModelReference.resolve(model), url.pathExtension.lowercased() == "gguf", let file = try? GGUFFile(url: url) {
            quantized = Set(file.tensorInfos.map(\.type).filter { ![.F32, .F16, .BF16].contains($0) }).map(\.description).sorted()
        }
        if [.nf4, .q8_0, .q4_0].contains(q) { quantized.append("\(q.rawValue) on load") }
        if !quantized.isEmpty {
            FileHandle.standardError.write(Data(("warning: the base is quantized (\(quantized.joined(separator: ", "))): merging dequantizes it and writes "
                + "\(type.rawValue); quantizing the merged model again rounds a second time, which can lose part of the adapter's change\n").utf8))
        }
        let config = try MergedModelWriter.merge(model: model, adapter: URL(fileURLWithPath: adapter), to: URL(fileURLWithPath: out), force: force,
                                                 quantization: q, dtype: type)
        print("merged the r=\(config.r)\(config.useDoRA ? " DoRA" : "") adapter into \(out) (config.json + model.safetensors, \(type.rawValue))")
    }
}
