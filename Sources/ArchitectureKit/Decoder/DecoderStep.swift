import NN
import TensorCore

/// One block of a transformer stack (`model.layers.N`, `transformer.h.N`, `encoder.layer.N`). The scaffold runs
/// the loop, the cache, checkpointing and dropout; the block only says how its own layer computes.
public protocol TransformerBlock: Module {
    /// h: (B, T, hidden) → (B, T, hidden).
    func forward(_ h: Tensor, _ step: BlockStep) -> Tensor
}

/// The random stream of a model's own dropout (embd/resid/attn/hidden dropout), separate from LoRA's per-layer
/// streams. The trainer saves and restores it with a checkpoint (`ModelDropout`), so a resumed run redraws the
/// same masks.
public final class DropoutStream {
    public var generator = SeededGenerator(seed: 0)
    public init() {}
}

/// A model whose forward draws dropout masks in training mode.
public protocol ModelDropout: AnyObject {
    var dropoutStream: DropoutStream { get }
}

/// What one block sees during one forward pass: rotary table, mask, KV cache, its index, and whether dropout is on.
public struct BlockStep {
    /// Rotary table for this pass's positions; nil for models with learned or no positions.
    public let rope: RotaryTable?
    public let mask: AttentionMask
    /// nil while training and during a checkpointed block's recomputation.
    public let cache: KVCache?
    public let layer: Int
    /// Train mode: dropout draws from `stream`; eval mode: every dropout is the identity (transformers' model.eval()).
    public let training: Bool
    let stream: DropoutStream

    public init(rope: RotaryTable?, mask: AttentionMask, cache: KVCache?, layer: Int, training: Bool, stream: DropoutStream) {
        self.rope = rope
        self.mask = mask
        self.cache = cache
        self.layer = layer
        self.training = training
        self.stream = stream
    }

    /// The same step for layer `layer` (a plugin that runs a layer outside `runBlocks` asks for its step here).
    public func at(layer: Int, cache: KVCache?) -> BlockStep {
        BlockStep(rope: rope, mask: mask, cache: cache, layer: layer, training: training, stream: stream)
    }

    /// torch's nn.Dropout(p) in this mode: inverted dropout when training with p > 0, else x itself.
    public func dropout(_ x: Tensor, _ p: Float) -> Tensor {
        guard training && p > 0 else { return x }
        return x.dropout(p, generator: &stream.generator)
    }

    /// Self-attention over this step's keys: k and v are appended to the cache (when there is one) first.
    /// q: (B, T, H, D), k and v: (B, T, Hkv, D) → (B, T, H·D). `dropout` is the attention-probability dropout
    /// (transformers' attn_pdrop / attention_dropout); while it is active the attention runs unfused, because the
    /// fused kernel keeps no probabilities to drop.
    public func attention(query q: Tensor, key k: Tensor, value v: Tensor, scale: Float? = nil, dropout p: Float = 0) -> Tensor {
        var (k, v) = (k, v)
        if let cache { (k, v) = cache.append(layer: layer, keys: k, values: v) }
        let (b, t, h, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        if training && p > 0 {
            return unfusedAttention(query: q, key: k, value: v, mask: mask, scale: scale ?? 1 / Float(d).squareRoot(),
                                    dropout: p, generator: &stream.generator)
        }
        return scaledDotProductAttention(query: q, key: k, value: v, mask: mask, scale: scale).reshaped([b, t, h * d])
    }
}

/// Runs `layers` in order over h, recomputing each block in backward when `checkpointing` (never with a cache:
/// generation keeps no graph). Dropout inside a checkpointed block replays its masks (`RandomReplay`).
public func runBlocks(_ layers: Module, count: Int, _ h: Tensor, _ step: BlockStep, checkpointing: Bool) -> Tensor {
    var h = h
    for i in 0..<count {
        let block = layers.child(String(i), as: (any TransformerBlock).self)
        let layerStep = step.at(layer: i, cache: step.cache)
        if checkpointing && step.cache == nil {
            h = checkpointed([h]) { block.forward($0[0], layerStep) }
        } else {
            h = block.forward(h, layerStep)
        }
    }
    return h
}

/// Attention with dropout on the probabilities, from differentiable ops, one head at a time (train mode with
/// attention dropout; p = 0 gives the fused kernel's result, which the tests check):
/// scores (B, T, S) = q_h · k_hᵀ · scale + mask, softmax, dropout, · v_h. Masked scores are −1e30 rather than −∞,
/// as transformers' additive masks use the dtype's minimum: a row with every key masked stays finite.
/// q: (B, T, H, D), k and v: (B, S, Hkv, D) → (B, T, H·D).
public func unfusedAttention(query q: Tensor, key k: Tensor, value v: Tensor, mask: AttentionMask, scale: Float,
                          dropout p: Float, generator: inout SeededGenerator) -> Tensor {
    let (b, t, h, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (s, hkv) = (k.shape[1], k.shape[2])
    let additive = Tensor(zeros: [b, t, s])
    for bi in 0..<b {
        for i in 0..<t {
            let row = additive.data + (bi * t + i) * s, qi = s - t + i
            for j in 0..<s {
                let hidden = (mask.causal && j > qi)
                    || (mask.keyPadding.map { $0.values[bi * s + j] == 0 } ?? false)
                    || (mask.segments.map { $0.values[bi * s + j] != $0.values[bi * s + qi] } ?? false)
                if hidden { row[j] = -1e30 }
            }
        }
    }
    let (qs, ks, vs) = (q.reshaped([b, t, h * d]), k.reshaped([b, s, hkv * d]), v.reshaped([b, s, hkv * d]))
    let group = h / hkv
    let heads = (0..<h).map { hi -> Tensor in
        let kv = (hi / group) * d
        let qh = qs.slice(lastAxis: (hi * d)..<(hi * d + d))                                   // (B, T, D)
        let scores = qh.matmul(ks.slice(lastAxis: kv..<(kv + d)), transposeB: true) * scale + additive  // (B, T, S)
        let probs = scores.softmax().dropout(p, generator: &generator)
        return probs.matmul(vs.slice(lastAxis: kv..<(kv + d)))                                 // (B, T, D)
    }
    return concatLastAxis(heads)                                                               // (B, T, H·D)
}
