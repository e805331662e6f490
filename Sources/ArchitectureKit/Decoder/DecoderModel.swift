import NN
import TensorCore

/// The transformers attribute names of the parts the scaffold owns, for one architecture.
public struct DecoderLayout: Sendable {
    /// base_model_prefix: the module holding the body under a head (`model`, `transformer`, `gpt_neox`). The bare
    /// model (`.base`, AutoModel) has the body's modules at its root, as transformers names them.
    public var body: String
    /// Token embeddings (`embed_tokens`, `wte`, `word_embeddings`, `embed_in`).
    public var embedding: String
    /// A learned position table added to the token embeddings (GPT-2's `wpe`); nil for rotary models.
    public var positionEmbedding: String?
    /// The block list (`layers`, `h`).
    public var layers: String
    /// The final norm (`norm`, `ln_f`, `final_layer_norm`).
    public var finalNorm: String
    /// The causal-LM head (`lm_head`; GPT-NeoX: `embed_out`) and the classification head (`score`).
    public var outputHead: String
    public var classificationHead: String

    public init(body: String, embedding: String, positionEmbedding: String? = nil, layers: String, finalNorm: String,
                outputHead: String = "lm_head", classificationHead: String = "score") {
        self.body = body
        self.embedding = embedding
        self.positionEmbedding = positionEmbedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.outputHead = outputHead
        self.classificationHead = classificationHead
    }
}

/// The part of a decoder's config the scaffold uses; the plugin's block reads the rest of its own configuration.
public struct DecoderSettings {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layers: Int
    /// Rows of a learned position table (GPT-2's n_positions); nil without one.
    public var learnedPositions: Int?
    /// Rotary embeddings over the first `dimension` channels of each head; nil for learned positions.
    public var rotary: RotaryParameters?
    public var tieWordEmbeddings: Bool
    /// Sequence classification pools the rightmost token that is not this id (the last token without one).
    public var padTokenID: Int?
    /// Dropout on the embeddings' sum (GPT-2 embd_pdrop, GPT-NeoX hidden_dropout), train mode only.
    public var embeddingDropout: Float

    public init(vocabularySize: Int, hiddenSize: Int, layers: Int, learnedPositions: Int? = nil, rotary: RotaryParameters? = nil,
                tieWordEmbeddings: Bool, padTokenID: Int?, embeddingDropout: Float = 0) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.learnedPositions = learnedPositions
        self.rotary = rotary
        self.tieWordEmbeddings = tieWordEmbeddings
        self.padTokenID = padTokenID
        self.embeddingDropout = embeddingDropout
    }

    /// From the sizes every transformer config gives.
    public init(_ sizes: TransformerSizes, learnedPositions: Int? = nil, rotary: RotaryParameters? = nil, tieWordEmbeddings: Bool,
                padTokenID: Int?, embeddingDropout: Float = 0) {
        self.init(vocabularySize: sizes.vocabularySize, hiddenSize: sizes.hidden, layers: sizes.layers, learnedPositions: learnedPositions,
                  rotary: rotary, tieWordEmbeddings: tieWordEmbeddings, padTokenID: padTokenID, embeddingDropout: embeddingDropout)
    }
}

/// A decoder-only transformer with transformers' heads — …ForCausalLM (logits), …ForSequenceClassification (the
/// last non-pad token, scored) and the bare …Model (last hidden states) — built around a plugin's block:
/// embeddings (+ learned positions) → dropout → blocks → final norm → head. It owns tying, pooling, positions,
/// masks, rotary tables, the KV cache, gradient checkpointing and model dropout, so a plugin supplies only names,
/// its configuration and its block.
public final class DecoderModel: Module, ArchitectureModel, GradientCheckpointable, ChunkedLossModel, ModelDropout {
    public let head: TaskHead
    public let layout: DecoderLayout
    public let settings: DecoderSettings
    /// Recompute each block during backward instead of keeping its activations.
    public var gradientCheckpointing = false
    public let dropoutStream = DropoutStream()

    /// - Parameters:
    ///   - block: builds block i.
    ///   - norm: builds the final norm.
    public init(layout: DecoderLayout, settings s: DecoderSettings, head: TaskHead,
                block: (Int) -> any TransformerBlock, norm: () -> any NormalizationLayer) {
        self.head = head
        self.layout = layout
        settings = s
        super.init()
        let body = head == .base ? self : Module()
        body.register(layout.embedding, Embedding(count: s.vocabularySize, dimension: s.hiddenSize))
        if let wpe = layout.positionEmbedding, let n = s.learnedPositions { body.register(wpe, Embedding(count: n, dimension: s.hiddenSize)) }
        let blocks = Module()
        for i in 0..<s.layers { blocks.register(String(i), block(i)) }
        body.register(layout.layers, blocks)
        body.register(layout.finalNorm, norm())
        if head != .base { register(layout.body, body) }
        switch head {
        case .causalLM:
            register(layout.outputHead, Linear(inFeatures: s.hiddenSize, outFeatures: s.vocabularySize, bias: false))
            for (target, source) in tiedParameters { try! tie(target, to: source) }
        case .sequenceClassification(let n):
            register(layout.classificationHead, Linear(inFeatures: s.hiddenSize, outFeatures: n, bias: false))
        case .base:
            break
        }
    }

    public var tiedParameters: [String: String] {
        guard settings.tieWordEmbeddings && head == .causalLM else { return [:] }
        return ["\(layout.outputHead).weight": "\(layout.body).\(layout.embedding).weight"]
    }

    /// The module holding embeddings, blocks and final norm: the root for `.base`, else the prefixed child.
    public var body: Module { head == .base ? self : child(layout.body, as: Module.self) }

    public var outputHead: Module? { head == .causalLM ? child(layout.outputHead) : nil }

    /// The final norm's output (B, T, hidden).
    public func hiddenStates(_ input: ModelInput) -> Tensor {
        let body = self.body
        let past = input.cache?.length ?? 0
        let positions = input.positionIDs ?? ModelInput.defaultPositions(batch: input.batchSize, length: input.length, offset: past)
        var h = body.child(layout.embedding, as: Embedding.self)(input.inputIDs)
        if let wpe = layout.positionEmbedding { h = h + body.child(wpe, as: Embedding.self)(positions) }
        let step = BlockStep(rope: settings.rotary.map { RotaryTable(rotaryDim: $0.dimension, theta: $0.theta, positions: positions) },
                             mask: AttentionMask(causal: true, keyPadding: input.keyPaddingMask(pastLength: past), segments: input.segmentIDs),
                             cache: input.cache, layer: 0, training: isTraining, stream: dropoutStream)
        h = step.dropout(h, settings.embeddingDropout)
        h = runBlocks(body.child(layout.layers), count: settings.layers, h, step, checkpointing: gradientCheckpointing)
        return body.child(layout.finalNorm, as: (any NormalizationLayer).self).callAsFunction(h)
    }

    public func forward(_ input: ModelInput) -> Tensor {
        let h = hiddenStates(input)
        switch head {
        case .causalLM:
            guard let rows = input.logitRows else { return linear(layout.outputHead)(h) }
            let (b, t) = (input.batchSize, input.length)
            precondition(rows.allSatisfy { (0..<(b * t)).contains($0) }, "logitRows \(rows) outside the \(b)×\(t) input")
            let flat = h.reshaped([b * t, h.lastDim])
            return linear(layout.outputHead)(concatRows(rows.map { flat.rows($0..<($0 + 1)) }))
        case .sequenceClassification:
            // transformers' …ForSequenceClassification: the rightmost token that is not pad_token_id, or the last.
            return linear(layout.classificationHead)(h.gatherRows(input.lastTokenIndices(padTokenID: settings.padTokenID)))
        case .base:
            return h
        }
    }

    /// One cache slot per block: the plugin's own layer count, whatever its config calls it (n_layer, num_hidden_layers).
    public func makeCache() -> KVCache { KVCache(layers: settings.layers) }
}
