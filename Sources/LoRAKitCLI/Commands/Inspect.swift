import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit inspect M`: what a model is, as LoRAKit sees it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Architecture, parameter count, linear modules and default LoRA targets.")

    @Argument(help: "Model directory, .gguf file or alias.") var model: String
    @Option(help: "How frozen weights are stored for the 'weights' line: none, keep (a GGUF's own blocks), nf4, q8_0, q4_0.")
    var quantization = "keep"

    func run() throws {
        guard let q = WeightQuantization(rawValue: quantization) else {
            throw ValidationError("--quantization \(quantization): expected one of \(WeightQuantization.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let loaded = try ModelLoader.loadWithNaturalHead(model, quantization: q)
        var seen = Set<ObjectIdentifier>()
        var count = loaded.model.namedParameters().filter { seen.insert(ObjectIdentifier($0.tensor)).inserted }.reduce(0) { $0 + $1.tensor.count }
        for (_, module) in loaded.model.namedModules() {  // weights kept quantized are frozen weights, not parameters
            if let f = (module as? Linear)?.frozenWeight ?? (module as? Embedding)?.frozenWeight, seen.insert(ObjectIdentifier(f)).inserted {
                count += f.rows * f.columns
            }
        }
        let linear = loaded.model.namedModules().filter { $0.module is any LinearLayer }.map(\.path)
        let kinds = Set(linear.map { $0.split(separator: ".").last.map(String.init) ?? $0 }).sorted()
        print("model:            \(loaded.location.path)")
        print("architecture:     \(loaded.plugin.name) (model_type \(loaded.config.modelType ?? "?"))")
        print("parameters:       \(count) (\(String(format: "%.1f", Double(count) / 1e6))M)")
        print("weights:          \(q.rawValue): \(WeightMemory(loaded.model))")
        print("linear modules:   \(linear.count): \(kinds.joined(separator: ", "))")
        print("default targets:  \(loaded.plugin.defaultTargetModules.joined(separator: ", "))")
        print("output heads:     \(loaded.plugin.outputHeadModules.joined(separator: ", "))")
        let heads: [TaskHead] = [.causalLM, .sequenceClassification(numLabels: 2), .base]
        print("heads:            \(heads.filter { loaded.plugin.supports($0) }.map { "\($0)" }.joined(separator: ", "))")
        if let tied = Optional(loaded.model.tiedParameters), !tied.isEmpty {
            print("tied:             \(tied.map { "\($0.key) = \($0.value)" }.joined(separator: ", "))")
        }
    }
}
