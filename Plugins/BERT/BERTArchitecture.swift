import Foundation
import ArchitectureKit
import NN
import TensorCore

/// BERT encoders (all-MiniLM-L6-v2 among them): BertModel, BertForSequenceClassification (pooler + `classifier`),
/// post-LN layers, erf GELU, absolute positions and token types — transformers' names.
public enum BERTArchitecture: ArchitecturePlugin {
    public static let name = "BERT"
    public static let modelTypes = ["bert"]
    /// PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["bert"].
    public static let defaultTargetModules = ["query", "value"]
    public static let outputHeadModules = ["classifier"]
    public static let classificationHeadModule: String? = "classifier"
    public static let baseModelPrefix: String? = "bert"
    /// Pre-training heads a checkpoint may carry (bert-base-uncased is a BertForPreTraining checkpoint) are not part
    /// of these models; transformers drops them too when loading BertModel or BertForSequenceClassification.
    public static let ignoredCheckpointSuffixes = [
        "cls.predictions.bias", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias",
        "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
        "cls.seq_relationship.weight", "cls.seq_relationship.bias",
    ]

    public static func supports(_ head: TaskHead) -> Bool { head != .causalLM }

    public static func makeModel(config: ModelConfig, head: TaskHead) throws -> any ArchitectureModel {
        guard supports(head) else { throw ArchitectureError.unsupported("BERT is an encoder: no causal-LM head") }
        return BERTModel(try BERTConfiguration(config), head: head)
    }
}

struct BERTConfiguration {
    var sizes: TransformerSizes
    var hidden: Int { sizes.hidden }
    var heads: Int { sizes.heads }
    var layers: Int { sizes.layers }
    var intermediate, positions, typeVocabulary: Int
    var eps: Float
    var activation: HiddenActivation
    /// hidden_dropout_prob (embeddings, each sub-layer's output, the pooled output), attention_probs_dropout_prob.
    var hiddenDropout, attentionDropout, classifierDropout: Float

    init(_ c: ModelConfig) throws {
        typealias L = ModelConfig.Limits
        sizes = try TransformerSizes(c)
        intermediate = try c.size("intermediate_size", limit: L.width)
        positions = try c.size("max_position_embeddings", default: 512, limit: L.positions)
        typeVocabulary = try c.size("type_vocab_size", default: 2, limit: L.vocabulary)
        eps = Float(try c.positive("layer_norm_eps", default: 1e-12))
        activation = try HiddenActivation(c, key: "hidden_act", default: "gelu", allowed: [.gelu, .geluNew, .relu])
        (hiddenDropout, attentionDropout) = (try c.dropout("hidden_dropout_prob"), try c.dropout("attention_probs_dropout_prob"))
        classifierDropout = c.values["classifier_dropout"] is NSNumber ? try c.dropout("classifier_dropout") : hiddenDropout
        let positionType = try c.string("position_embedding_type", default: "absolute")
        guard positionType == "absolute" else {
            throw ArchitectureError.unsupported("\(c.source): position_embedding_type \"\(positionType)\" is not supported")
        }
    }
}

/// `encoder.layer.N`: self-attention with its output block, then the feed-forward block, each post-LN.
final class BERTLayer: Module, TransformerBlock {
    let c: BERTConfiguration
    init(_ c: BERTConfiguration) {
        self.c = c
        super.init()
        let selfAttention = Module()
        for n in ["query", "key", "value"] { selfAttention.register(n, Linear(inFeatures: c.hidden, outFeatures: c.hidden, bias: true)) }
        let attentionOutput = Module()
        attentionOutput.register("dense", Linear(inFeatures: c.hidden, outFeatures: c.hidden, bias: true))
        attentionOutput.register("LayerNorm", LayerNorm(dimension: c.hidden, eps: c.eps))
        let attention = Module()
        attention.register("self", selfAttention)
        attention.register("output", attentionOutput)
        register("attention", attention)
        let intermediate = Module()
        intermediate.register("dense", Linear(inFeatures: c.hidden, outFeatures: c.intermediate, bias: true))
        register("intermediate", intermediate)
        let output = Module()
        output.register("dense", Linear(inFeatures: c.intermediate, outFeatures: c.hidden, bias: true))
        output.register("LayerNorm", LayerNorm(dimension: c.hidden, eps: c.eps))
        register("output", output)
    }

    func forward(_ h: Tensor, _ step: BlockStep) -> Tensor { forward(h, queries: h, step) }

    /// The outputs of the rows `hq` (B, Tq, hidden) of `h` (B, T, hidden): keys and values come from every row of
    /// `h`, everything else is per row. With every row as `hq` this is the layer.
    func forward(_ h: Tensor, queries hq: Tensor, _ step: BlockStep) -> Tensor {
        let (b, t, tq, hd) = (h.shape[0], h.shape[1], hq.shape[1], c.hidden / c.heads)
        let attention: Module = child("attention")
        let sa: Module = attention.child("self"), ao: Module = attention.child("output")
        let (q, k, v) = (sa.linear("query")(hq), sa.linear("key")(h), sa.linear("value")(h))
        let context = step.attention(query: q.reshaped([b, tq, c.heads, hd]), key: k.reshaped([b, t, c.heads, hd]),
                                     value: v.reshaped([b, t, c.heads, hd]), dropout: c.attentionDropout)
        let a = ao.child("LayerNorm", as: LayerNorm.self)(step.dropout(ao.linear("dense")(context), c.hiddenDropout) + hq)
        let inter = c.activation(child("intermediate", as: Module.self).linear("dense")(a))
        let out: Module = child("output")
        return out.child("LayerNorm", as: LayerNorm.self)(step.dropout(out.linear("dense")(inter), c.hiddenDropout) + a)
    }
}

/// BertModel (`.base`, paths without a prefix) or BertForSequenceClassification (`bert.` + `classifier`).
public final class BERTModel: Module, ArchitectureModel, GradientCheckpointable, ModelDropout {
    public let head: TaskHead
    let c: BERTConfiguration
    public var gradientCheckpointing = false
    public let dropoutStream = DropoutStream()

    init(_ c: BERTConfiguration, head: TaskHead) {
        self.c = c
        self.head = head
        super.init()
        let body = head == .base ? self : Module()
        let embeddings = Module()
        embeddings.register("word_embeddings", Embedding(count: c.sizes.vocabularySize, dimension: c.hidden))
        embeddings.register("position_embeddings", Embedding(count: c.positions, dimension: c.hidden))
        embeddings.register("token_type_embeddings", Embedding(count: c.typeVocabulary, dimension: c.hidden))
        embeddings.register("LayerNorm", LayerNorm(dimension: c.hidden, eps: c.eps))
        body.register("embeddings", embeddings)
        let encoder = Module()
        encoder.register("layer", ModuleList((0..<c.layers).map { _ in BERTLayer(c) }))
        body.register("encoder", encoder)
        let pooler = Module()
        pooler.register("dense", Linear(inFeatures: c.hidden, outFeatures: c.hidden, bias: true))
        body.register("pooler", pooler)
        if case .sequenceClassification(let n) = head {
            register("bert", body)
            register("classifier", Linear(inFeatures: c.hidden, outFeatures: n, bias: true))
        }
    }

    var body: Module { head == .base ? self : child("bert", as: Module.self) }

    /// The last hidden states (B, T, hidden), or with `firstTokensOnly` each row's first one (B, hidden).
    ///
    /// The pooler reads only the first token, so for classification the last layer computes that token alone: its
    /// query, attention row, output block and feed-forward, with keys and values from every token. The logits and
    /// gradients are those of the whole layer (rows do not mix after attention), for a sixth less work in MiniLM.
    /// Packed rows (segment ids) take the whole layer: their first tokens are not at a fixed place.
    func encode(_ input: ModelInput, firstTokensOnly: Bool = false) -> Tensor {
        let e: Module = body.child("embeddings")
        let (b, t) = (input.batchSize, input.length)
        let positions = input.positionIDs ?? ModelInput.defaultPositions(batch: b, length: t, offset: 0)
        let types = input.tokenTypeIDs ?? IntTensor([Int32](repeating: 0, count: b * t), shape: [b, t])
        var h = e.child("word_embeddings", as: Embedding.self)(input.inputIDs)
            + e.child("position_embeddings", as: Embedding.self)(positions)
            + e.child("token_type_embeddings", as: Embedding.self)(types)
        let mask = AttentionMask(causal: false, keyPadding: input.keyPaddingMask(pastLength: 0), segments: input.segmentIDs)
        let step = BlockStep(rope: nil, mask: mask, cache: nil, layer: 0, training: isTraining, stream: dropoutStream)
        h = step.dropout(e.child("LayerNorm", as: LayerNorm.self)(h), c.hiddenDropout)
        let layers: Module = body.child("encoder", as: Module.self).child("layer")
        let firstOnly = firstTokensOnly && input.segmentIDs == nil && c.layers > 0
        h = runBlocks(layers, count: firstOnly ? c.layers - 1 : c.layers, h, step, checkpointing: gradientCheckpointing)
        let firstTokens = { (h: Tensor) in h.gatherRows(Array(repeating: 0, count: b)) }
        guard firstOnly else { return firstTokensOnly ? firstTokens(h) : h }
        let last = layers.child(String(c.layers - 1), as: BERTLayer.self), lastStep = step.at(layer: c.layers - 1, cache: nil)
        let run = { (x: [Tensor]) in last.forward(x[0], queries: firstTokens(x[0]).reshaped([b, 1, self.c.hidden]), lastStep) }
        return (gradientCheckpointing ? checkpointed([h], run) : run([h])).reshaped([b, c.hidden])
    }

    public func forward(_ input: ModelInput) -> Tensor {
        guard case .sequenceClassification = head else { return encode(input) }
        // BertPooler: tanh(dense(h[:, 0])), then the classifier.
        let first = encode(input, firstTokensOnly: true)
        let pooled = body.child("pooler", as: Module.self).linear("dense")(first).tanh()
        let dropped = isTraining && c.classifierDropout > 0 ? pooled.dropout(c.classifierDropout, generator: &dropoutStream.generator) : pooled
        return linear("classifier")(dropped)
    }
}
