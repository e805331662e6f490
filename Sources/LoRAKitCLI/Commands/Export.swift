import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit export`: GGUF files for llama.cpp — a LoRA adapter (`--adapter` alone) or a merged model (`--model`,
/// optionally with `--adapter`).
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export to llama.cpp: a GGUF LoRA adapter (--adapter) or a merged GGUF model (--model [--adapter]).")

    @Option(help: "The model to merge into (directory, .gguf or alias): writes a merged model GGUF.") var model: String?
    @Option(help: "PEFT adapter directory.") var adapter: String?
    @Option(help: "Output format: gguf, or peft to turn a GGUF LoRA (--adapter a.gguf --base M) back into a PEFT adapter directory.") var format = "gguf"
    @Option(help: "Tensor type: f32, f16, bf16, q8_0 (adapters and models) or q4_0 (models).") var type = "f32"
    @Option(help: "Adapter export only: its base model (default: the adapter's base_model_name_or_path).") var base: String?
    @Option(help: "Output .gguf file.") var out: String
    @Flag(help: "Replace --out if it exists.") var force = false

    func validate() throws {
        if format == "peft" {
            guard let adapter, adapter.hasSuffix(".gguf"), model == nil, base != nil else {
                throw ValidationError("--format peft reads a GGUF LoRA: give --adapter FILE.gguf and its --base model, without --model")
            }
            return
        }
        guard format == "gguf" else { throw ValidationError("--format: gguf or peft (for a Hugging Face checkpoint use `lorakit merge`)") }
        guard GGUFExportType(rawValue: type) != nil else {
            throw ValidationError("--type: expected one of \(GGUFExportType.allCases.map(\.rawValue).joined(separator: ", ")), found '\(type)'")
        }
        guard model != nil || adapter != nil else { throw ValidationError("give --adapter (a GGUF LoRA) or --model (a merged GGUF)") }
        if base != nil && (adapter == nil || model != nil) { throw ValidationError("--base names an adapter export's base: give it with --adapter and without --model") }
    }

    func run() throws {
        let output = URL(fileURLWithPath: out)
        let report: GGUFExportReport
        let what: String
        do {
            guard let kind = GGUFExportType(rawValue: type) else { throw GGUFExportError("--type '\(type)' is not a GGUF type") }
            if format == "peft" {
                try GGUFAdapterImport.writePEFT(from: URL(fileURLWithPath: adapter!), base: base!, to: output, overwrite: force)
                print("wrote \(out): PEFT adapter from \(adapter!)")
                return
            }
            if let adapter, model == nil {
                report = try GGUFAdapterExport.export(adapter: URL(fileURLWithPath: adapter), model: base, type: kind, to: output, overwrite: force)
                what = "LoRA adapter"
            } else {
                report = try GGUFModelExport.export(model: model!, adapter: adapter.map { URL(fileURLWithPath: $0) }, type: kind,
                                                    to: output, overwrite: force)
                what = adapter == nil ? "model" : "merged model"
            }
        } catch {
            FileHandle.standardError.write(Data("lorakit export: \(error)\n".utf8))
            throw ExitCode(1)
        }
        for note in report.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        if !report.fallbacks.isEmpty {
            FileHandle.standardError.write(Data("note: \(report.fallbacks.count) tensor(s) stored as F16, e.g. \(report.fallbacks[0])\n".utf8))
        }
        print("wrote \(out): \(what), \(report.tensorCount) tensors, \(type)")
    }
}
