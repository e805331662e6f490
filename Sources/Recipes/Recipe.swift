import Foundation
import LoRA
import TensorCore
import Training

/// A training recipe: what to fine-tune, on which data, how. Documented key by key in recipes/README.md.
public struct Recipe {
    /// The recipe file (relative paths inside it are relative to its directory).
    public var file: URL
    /// The YAML text after `--set` overrides, stored in every checkpoint.
    public var resolvedText: String

    /// `model`: a directory, a GGUF file, or an alias such as `smollm2-135m-instruct`.
    public var model: String
    /// `quantization` (top level or under `model:`): how frozen base weights are stored; nil = the default, `keep`
    /// (a GGUF's own blocks; fp32 for other models), or `none` under `precision: bf16` (`storedQuantization`).
    public var quantization: WeightQuantization?
    /// What the model is loaded as: `quantization`, or the default for `training.precision`.
    public var storedQuantization: WeightQuantization { quantization ?? .defaultStorage(for: training.precision) }
    /// `tokenizer`: a tokenizer.json or directory overriding the model's own.
    public var tokenizer: String?
    /// `plugins`: architecture plugins to load before the model (declarations or compiled libraries), resolved
    /// against the recipe's directory — the recipe-file form of LORAKIT_PLUGINS.
    public var plugins: [URL] = []
    public var template: TemplateChoice
    public var datasets: [DatasetSpec]
    public var task: TaskSettings
    /// The `lora` section: PEFT's LoraConfig keys, decoded by the LoRA layer's adapter_config.json decoder (PEFT
    /// defaults for keys it leaves out).
    public var loraConfig: LoRAConfig
    public var training: TrainingSettings
    public var eval: EvalSettings
    public var save: SaveSettings
    public var loggingEvery: Int
    public var sample: SampleSettings?

    public var directory: URL { file.deletingLastPathComponent() }

    /// `template`: how rows become text.
    public enum TemplateChoice: Equatable, Sendable {
        case alpaca, chatml, llama3
        /// The model's own chat_template (tokenizer_config.json or GGUF metadata).
        case model
        /// Jinja template text given in the recipe (`template: {source: "…"}`) or a file (`{file: path}`).
        case custom(String)
    }

    public enum TaskType: String, Sendable, CaseIterable {
        case causalLM = "causal_lm", sft, classification
    }

    public struct TaskSettings: Equatable, Sendable {
        public var type: TaskType = .sft
        /// Which tokens are trained; defaults: causal_lm → all, sft → every response (assistant turn).
        public var masking: LabelMasking
        /// classification: label names in class order.
        public var labels: [String] = []
    }

    public struct TrainingSettings: Equatable, Sendable {
        public var maxSteps: Int?
        public var epochs: Double?
        public var learningRate: AutoValue<Double> = .value(2e-4)
        public var schedule: LearningRateSchedule = .linear
        public var warmupSteps: Int?
        public var warmupRatio: Double?
        public var batchSize: AutoValue<Int> = .value(4)
        public var gradientAccumulationSteps = 1
        public var maxGradNorm: Double? = 1.0
        public var weightDecay = 0.0
        public var adamBeta1 = 0.9, adamBeta2 = 0.999, adamEpsilon = 1e-8
        public var seed: UInt64 = 42
        public var maxSeqLength = 512
        public var packing = false
        public var gradientCheckpointing = false
        /// Storage and compute of the frozen base weights (`precision: fp32|bf16`).
        public var precision: WeightPrecision = .fp32
        /// Memory budget for `batch_size: auto`, in GB (default: half the available memory).
        public var memoryBudgetGB: Double?
    }

    public struct EvalSettings: Equatable, Sendable {
        public var every: Int?
        public var maxBatches: Int?
    }

    public struct SaveSettings: Equatable, Sendable {
        public var outputDir: URL
        public var saveEvery: Int?
        public var keepLast: Int?
        public var saveBest = false
        public var earlyStoppingPatience: Int?
    }

    /// `sample`: a generation printed before and after training.
    public struct SampleSettings: Equatable, Sendable {
        public var prompt: String
        public var maxNewTokens = 48
    }
}
