import Foundation
import TensorCore
import NN
@_exported import ModelFormats

/// The heads a model can be built with. The trainer picks one; a plugin says which it supports.
public enum TaskHead: Equatable, Sendable, CustomStringConvertible {
    /// Next-token logits (…ForCausalLM).
    case causalLM
    /// One logit vector per sequence (…ForSequenceClassification), with `numLabels` classes.
    case sequenceClassification(numLabels: Int)
    /// Last hidden states only (…Model / AutoModel).
    case base

    public var description: String {
        switch self {
        case .causalLM: return "causal-lm"
        case .sequenceClassification(let n): return "sequence-classification(\(n))"
        case .base: return "base"
        }
    }
}

/// One forward pass's inputs. Shapes: (B, T) for every integer tensor.
public struct ModelInput {
    public var inputIDs: IntTensor
    /// 1 = real token, 0 = padding. nil = all real.
    public var attentionMask: IntTensor?
    /// Explicit positions (packing restarts them per sample); nil = 0..<T (after the cache, when one is given).
    public var positionIDs: IntTensor?
    /// Sample ids for packed rows: tokens attend only within their sample.
    public var segmentIDs: IntTensor?
    /// token_type_ids for encoders that use them (BERT).
    public var tokenTypeIDs: IntTensor?
    /// Keys and values of earlier positions, extended in place by the forward pass (generation).
    public var cache: KVCache?
    /// Causal LMs on the decoder scaffold: compute logits only at these positions of the flattened (B·T) input,
    /// returning (count, vocab) in this order instead of (B, T, vocab). A prompt pass needs only its last
    /// position, and the lm_head is the widest product. nil = every position; other models ignore it (check the
    /// rank of what comes back).
    public var logitRows: [Int]?

    public init(inputIDs: IntTensor, attentionMask: IntTensor? = nil, positionIDs: IntTensor? = nil,
                segmentIDs: IntTensor? = nil, tokenTypeIDs: IntTensor? = nil, cache: KVCache? = nil, logitRows: [Int]? = nil) {
        self.inputIDs = inputIDs
        self.attentionMask = attentionMask
        self.positionIDs = positionIDs
        self.segmentIDs = segmentIDs
        self.tokenTypeIDs = tokenTypeIDs
        self.cache = cache
        self.logitRows = logitRows
    }

    public var batchSize: Int { inputIDs.shape[0] }
    public var length: Int { inputIDs.shape[1] }
}

/// Per-layer key/value store for incremental decoding. Keys/values are (B, S, Hkv, D) tensors: the filled
/// positions. A batch-1 cache keeps them at the start of a larger buffer of its own and writes new positions in
/// place (`append`), so `keys[l]` is then a view of that buffer.
public final class KVCache {
    public var keys: [Tensor?]
    public var values: [Tensor?]
    /// Per layer, the buffers this cache allocated itself (with room past the filled positions): only these are
    /// written in place; anything assigned from outside is copied before it grows.
    var keyBuffers: [Storage?]
    var valueBuffers: [Storage?]
    public init(layers: Int) {
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
        keyBuffers = Array(repeating: nil, count: layers)
        valueBuffers = Array(repeating: nil, count: layers)
    }
    /// Set by an owner that lays several rows out with room to grow (a server's batch): keys/values are then
    /// (B, capacity, Hkv, D) buffers whose first `filledLength` positions are written. `append` writes each row's
    /// new positions there in place and returns the whole buffers, so the forward's attention_mask must span the
    /// capacity and hide every position not written yet; the owner advances `filledLength` after the forward.
    public var filledLength: Int?
    /// Positions already stored.
    public var length: Int { filledLength ?? keys.first??.shape[1] ?? 0 }
}

/// A model built by a plugin: a module tree with Hugging Face names plus a forward pass.
public protocol ArchitectureModel: Module {
    /// The head this instance was built with.
    var head: TaskHead { get }
    /// causalLM: logits (B, T, vocab); sequenceClassification: (B, numLabels); base: hidden states (B, T, hidden).
    func forward(_ input: ModelInput) -> Tensor
    /// Parameter paths that share another path's tensor (a tied lm_head → the input embedding). Savers write the
    /// source only, counters count it once.
    var tiedParameters: [String: String] { get }
    /// An empty KV cache with one slot per block, sized from the plugin's own configuration (n_layer for GPT-2).
    func makeCache() -> KVCache
}

extension ArchitectureModel {
    public var tiedParameters: [String: String] { [:] }
    /// Without a plugin-supplied count: the blocks of the module tree (`….layers.N.…`, `….h.N.…`).
    public func makeCache() -> KVCache {
        KVCache(layers: ModelConfig.layerCount(inTensorNames: namedParameters().map(\.path)) ?? 0)
    }
}

/// A model that can recompute its layers during backward instead of keeping their activations.
public protocol GradientCheckpointable: AnyObject {
    var gradientCheckpointing: Bool { get set }
}

/// An architecture: everything the core needs to know about it, so the core never names one.
///
/// Built-ins are registered by the CLI (`ArchitectureRegistry.shared.register(LlamaArchitecture.self)`); a user's
/// plugin registers itself from a dynamic library's entry point or is described by a declarative file.
public protocol ArchitecturePlugin {
    /// Human-readable name, e.g. "Llama".
    static var name: String { get }
    /// config.json `model_type` values served.
    static var modelTypes: [String] { get }
    /// GGUF `general.architecture` values served (empty when the plugin does not read GGUF).
    static var ggufArchitectures: [String] { get }
    /// PEFT's default `target_modules` for this model type.
    static var defaultTargetModules: [String] { get }
    /// Paths of heads that are not LoRA targets for "all-linear" (e.g. `lm_head`, `score`, `classifier`).
    static var outputHeadModules: [String] { get }
    /// The module that a classification head adds (PEFT puts it in modules_to_save), e.g. "score" or "classifier".
    static var classificationHeadModule: String? { get }
    /// transformers' `base_model_prefix` ("model", "transformer", "bert"): checkpoints of the bare model omit it,
    /// checkpoints of a model with a head include it; the loader maps between the two.
    static var baseModelPrefix: String? { get }
    /// Checkpoint tensors that are buffers, not weights (e.g. GPT-2's causal-mask `attn.bias`), by path suffix.
    static var ignoredCheckpointSuffixes: [String] { get }
    /// Heads `makeModel` can build.
    static func supports(_ head: TaskHead) -> Bool

    /// Builds an uninitialised model from a Hugging Face config.json object.
    static func makeModel(config: ModelConfig, head: TaskHead) throws -> any ArchitectureModel

    /// A Hugging Face config.json object equivalent to a GGUF file's metadata.
    static func config(fromGGUF metadata: GGUFMetadata) throws -> ModelConfig
    /// The Hugging Face parameter path for a GGUF tensor name, and how to fix its values (nil = unknown tensor).
    static func hfTensor(forGGUF name: String, config: ModelConfig) -> GGUFTensorMapping?

    /// GGUF export: llama.cpp's tensor names for a model with `config`, in the order its converter writes them (a
    /// tied output matrix left out). Each maps back through `hfTensor(forGGUF:config:)`. Empty = no GGUF export.
    static func ggufTensorNames(config: ModelConfig) -> [String]
    /// GGUF export: the `<arch>.*` hyperparameter keys llama.cpp requires for `config` (inverse of `config(fromGGUF:)`).
    static func ggufHyperparameters(config: ModelConfig) throws -> [(key: String, value: GGUFValue)]
}

extension ArchitecturePlugin {
    public static var ggufArchitectures: [String] { [] }
    public static var classificationHeadModule: String? { nil }
    public static var baseModelPrefix: String? { nil }
    public static var ignoredCheckpointSuffixes: [String] { [] }
    public static func config(fromGGUF metadata: GGUFMetadata) throws -> ModelConfig {
        throw ArchitectureError.unsupported("\(name) does not read GGUF files")
    }
    public static func hfTensor(forGGUF name: String, config: ModelConfig) -> GGUFTensorMapping? { nil }
    public static func ggufTensorNames(config: ModelConfig) -> [String] { [] }
    public static func ggufHyperparameters(config: ModelConfig) throws -> [(key: String, value: GGUFValue)] {
        throw ArchitectureError.unsupported("\(name) cannot be exported to GGUF: LoRAKit has no llama.cpp mapping for it")
    }
}

/// Where a GGUF tensor goes and how its values must be rearranged on the way.
public struct GGUFTensorMapping {
    public var path: String
    /// llama.cpp's converter permutes Q/K rows for its rotary layout; this undoes it (heads = that projection's heads).
    public var undoRotaryPermutation: Int?
    /// The GGUF holds the Hugging Face matrix transposed (GPT-2's Conv1D (in, out) weights as llama.cpp's (out, in)).
    public var transposed: Bool
    /// A fused QKV whose Hugging Face rows are grouped per KV head ([its query heads, k, v] per group, Falcon) and
    /// whose llama.cpp rows are [all q, all k, all v].
    public var groupedQKV: (heads: Int, kvHeads: Int)?
    public init(path: String, undoRotaryPermutation heads: Int? = nil, transposed: Bool = false, groupedQKV: (heads: Int, kvHeads: Int)? = nil) {
        self.path = path
        self.undoRotaryPermutation = heads
        self.transposed = transposed
        self.groupedQKV = groupedQKV
    }
}

/// GGUF metadata as read by ModelFormats.
public typealias GGUFMetadata = [String: GGUFValue]

public enum ArchitectureError: Error, CustomStringConvertible {
    case unsupported(String)
    case badConfig(String)
    case unknownArchitecture(String)

    public var description: String {
        switch self {
        case .unsupported(let s): return s
        case .badConfig(let s): return "config: \(s)"
        case .unknownArchitecture(let s): return s
        }
    }
}
