import ArgumentParser
import Benchmarks
import Foundation
import LoRAKit

/// `lorakit bench train`: tokens/s, seconds per update and peak RSS of LoRA training on random-token batches, as
/// one JSON line (the same measurement as the PyTorch + PEFT reference script).
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train",
        abstract: "LoRA training speed and memory on random tokens (fp32, no dropout, AdamW 2e-4), after 2 warm-up steps.")

    @Option(help: "Model directory, .gguf file or alias.") var model = "smollm2-135m-instruct"
    @Option(help: "Tokens per row.") var seq = 256
    @Option(help: "Rows per update.") var batch = 4
    @Option(help: "Measured updates (after the warm-up).") var steps = 5
    @Option(help: "Warm-up updates, not measured.") var warmup = 2
    @Option(help: "LoRA rank.") var rank = 16
    @Option(help: "LoRA target modules, comma-separated, or all-linear.") var targets = "q_proj,k_proj,v_proj,o_proj"
    @Option(help: "causal-lm, or classification (random labels; the head trains in full as modules_to_save, as PEFT's SEQ_CLS).")
    var task = "causal-lm"
    @Option(help: "Classes for --task classification.") var labels = 2
    @Flag(help: "Also print milliseconds per step by op kind (GEMM, attention, norms, …) as a second JSON line on stderr.")
    var profile = false
    @Flag(name: .customLong("gradient-checkpointing"), help: "Recompute each layer in backward.") var gradientCheckpointing = false
    @Flag(help: "Also print each measured step's seconds on stderr.") var verbose = false
    @Option(help: "Frozen base weights: fp32 or bf16 (LoRA, optimizer, norms and loss stay fp32).") var precision = "fp32"
    @Option(help: "Frozen weights stored as: none (fp32), keep (a GGUF's own blocks), nf4, q8_0 or q4_0 (products widen one panel at a time). Default: as lorakit train, keep (none with --precision bf16).")
    var quantization: String?
    @Option(name: .customLong("random-weights"), help: "A config.json: train a model of its shapes with seeded random weights instead of --model.")
    var randomWeights: String?

    func validate() throws {
        guard ["causal-lm", "classification"].contains(task) else {
            throw ValidationError("--task must be causal-lm or classification, not \(task)")
        }
        guard labels >= 2 else { throw ValidationError("--labels must be at least 2") }
    }

    func run() throws {
        guard let weightPrecision = WeightPrecision(rawValue: precision) else {
            throw ValidationError("--precision \(precision): expected \(WeightPrecision.allCases.map(\.rawValue).joined(separator: " or "))")
        }
        let classification = task == "classification"
        let quantization = self.quantization ?? WeightQuantization.defaultStorage(for: weightPrecision).rawValue
        guard let q = WeightQuantization(rawValue: quantization) else {
            throw ValidationError("--quantization \(quantization): expected one of \(WeightQuantization.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if randomWeights != nil && classification { throw ValidationError("--random-weights trains a causal LM; drop --task classification") }
        let loaded = try randomWeights.map { try ModelLoader.loadRandom(config: URL(fileURLWithPath: $0), quantization: q) }
            ?? ModelLoader.load(model, head: classification ? .sequenceClassification(numLabels: labels) : .causalLM, quantization: q)
        var s = TrainBenchmark.Settings()
        s.sequenceLength = seq
        s.batchSize = batch
        s.steps = steps
        s.warmupSteps = warmup
        s.rank = rank
        s.targets = targets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        s.gradientCheckpointing = gradientCheckpointing
        s.precision = weightPrecision
        s.classificationLabels = classification ? labels : nil
        s.profile = profile
        let result = try TrainBenchmark.run(model: loaded.model, plugin: loaded.plugin,
                                            vocabularySize: try loaded.config.int("vocab_size"), settings: s)
        // Counted after the run: what the steps held (bf16 storage under --precision bf16, the adapter included).
        let memory = WeightMemory(loaded.model)
        FileHandle.standardError.write(Data("gemm \(GEMM.backend.kind.rawValue), \(ComputeEnvironment.current.threads) threads; \(result.precisionSummary)\n".utf8))
        FileHandle.standardError.write(Data("quantization \(q.rawValue): \(memory)\n".utf8))
        if verbose {
            FileHandle.standardError.write(Data("step seconds: \(result.stepTimes.map { String(format: "%.3f", $0) }.joined(separator: " "))\n".utf8))
            FileHandle.standardError.write(Data((result.memoryLine + "\n").utf8))
        }
        if let line = result.profileLine { FileHandle.standardError.write(Data("profile ms/step: \(line)\n".utf8)) }
        if let line = result.topOpsLine() { FileHandle.standardError.write(Data("costliest ops, ms/step with what they nest: \(line)\n".utf8)) }
        // The JSON line plus the weights' bytes (additive key, so existing readers keep working).
        print(String(result.jsonLine.dropLast()) + String(format: #","weights_mb":%.1f,"quantization":"%@"}"#, Double(memory.totalBytes) / 1e6, q.rawValue))
    }
}
