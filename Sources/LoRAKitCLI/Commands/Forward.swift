import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit forward`: logits for given ids, written as safetensors (`logits` [T, vocab] F32).
struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the logits of one sequence to a safetensors file.")

    @Option(help: "Model directory, .gguf file or alias.") var model: String
    @Option(help: "A PEFT adapter directory to apply.") var adapter: String?
    @Option(help: "Comma-separated token ids.") var ids: String
    @Option(help: "Output .safetensors file.") var out: String
    @Flag(help: "Replace --out if it exists.") var force = false
    @Option(help: "Frozen weights stored as: none (fp32), keep (a GGUF's own blocks), nf4, q8_0, q4_0.") var quantization = "none"

    func run() throws {
        let tokens = try ids.split(separator: ",").map { piece -> Int in
            guard let v = Int(piece.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--ids: '\(piece)' is not an integer") }
            return v
        }
        guard !tokens.isEmpty else { throw ValidationError("--ids is empty") }
        try OutputPaths.checkTarget(URL(fileURLWithPath: out), force: force)
        guard let q = WeightQuantization(rawValue: quantization) else {
            throw ValidationError("--quantization \(quantization): expected one of \(WeightQuantization.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let loaded = try ModelLoader.load(model, quantization: q)
        if let adapter { try loaded.applyAdapter(adapter) }
        try loaded.checkInput(tokens, source: "--ids")
        let logits = GradMode.withoutGrad { loaded.model.forward(ModelInput(inputIDs: IntTensor(tokens, shape: [1, tokens.count]))) }
        guard logits.scalars.allSatisfy(\.isFinite) else {
            throw GenerationError.nonFiniteLogits(step: 0)
        }
        try SafetensorsWriter.write([SafetensorsTensor(name: "logits", floats: logits.scalars, shape: [tokens.count, logits.lastDim])],
                                    metadata: ["format": "pt"], to: URL(fileURLWithPath: out))
    }
}
