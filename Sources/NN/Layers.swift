import TensorCore

/// Anything that maps (…, in) → (…, out) like torch.nn.Linear: the base layers LoRA wraps, and the wrappers.
public protocol LinearLayer: Module {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// torch.nn.Linear: weight (out, in), optional bias (out).
public final class Linear: Module, LinearLayer {
    /// The weight as a frozen storage (bf16, …) once `storeFrozenWeights` replaced the fp32 parameter; it is then no
    /// longer a parameter of the tree.
    public internal(set) var frozenWeight: FrozenWeight?
    /// The fp32 weight: the parameter, or a widened copy of the frozen storage (reading it costs a full fp32 copy).
    public var weight: Tensor { parameter("weight") ?? frozenWeight!.dequantized() }
    public var bias: Tensor? { parameter("bias") }
    public var inFeatures: Int { frozenWeight?.columns ?? weight.shape[1] }
    public var outFeatures: Int { frozenWeight?.rows ?? weight.shape[0] }

    public init(inFeatures: Int, outFeatures: Int, bias: Bool) {
        super.init()
        register(parameter: "weight", Tensor(zeros: [outFeatures, inFeatures]))
        if bias { register(parameter: "bias", Tensor(zeros: [outFeatures])) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let frozenWeight { return x.linear(frozen: frozenWeight, bias: bias) }
        return x.linear(weight, bias: bias)
    }
}

/// GPT-2's Conv1D: a linear layer whose weight is stored transposed, (in, out) — PEFT's `fan_in_fan_out`.
public final class Conv1D: Module, LinearLayer {
    public var weight: Tensor { parameter("weight")! }
    public var bias: Tensor? { parameter("bias") }
    public var inFeatures: Int { weight.shape[0] }
    public var outFeatures: Int { weight.shape[1] }

    public init(inFeatures: Int, outFeatures: Int) {
        super.init()
        register(parameter: "weight", Tensor(zeros: [inFeatures, outFeatures]))
        register(parameter: "bias", Tensor(zeros: [outFeatures]))
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = x.matmul(weight)
        return bias.map { y + $0 } ?? y
    }
}

/// torch.nn.Embedding: weight (num_embeddings, dim).
public final class Embedding: Module {
    /// Frozen storage of the table (a table tied to a bf16 lm_head shares its storage); no longer a parameter then.
    public internal(set) var frozenWeight: FrozenWeight?
    public var weight: Tensor { parameter("weight") ?? frozenWeight!.dequantized() }

    public init(count: Int, dimension: Int) {
        super.init()
        register(parameter: "weight", Tensor(zeros: [count, dimension]))
    }

    public func callAsFunction(_ ids: IntTensor) -> Tensor {
        guard let frozenWeight else { return embedding(ids, weight: weight) }
        // A frozen table gets no gradient: each looked-up row is widened straight into the output.
        let d = frozenWeight.columns
        let out = Tensor(zeros: ids.shape + [d])
        for (i, id) in ids.values.enumerated() {
            precondition(id >= 0 && Int(id) < frozenWeight.rows, "token id \(id) outside the embedding table of \(frozenWeight.rows) rows")
            frozenWeight.dequantizeRows(Int(id)..<Int(id) + 1, into: out.data + i * d)
        }
        return out
    }
}

/// A normalization over the last axis (RMSNorm, LayerNorm): what a decoder's final norm is.
public protocol NormalizationLayer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// Llama's RMSNorm.
public final class RMSNorm: Module, NormalizationLayer {
    public let eps: Float
    public init(dimension: Int, eps: Float) {
        self.eps = eps
        super.init()
        register(parameter: "weight", Tensor(filled: 1, shape: [dimension]))
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.rmsNorm(weight: parameter("weight")!, eps: eps) }
}

/// torch.nn.LayerNorm with affine weight and (optionally) bias.
public final class LayerNorm: Module, NormalizationLayer {
    public let eps: Float
    public init(dimension: Int, eps: Float, bias: Bool = true) {
        self.eps = eps
        super.init()
        register(parameter: "weight", Tensor(filled: 1, shape: [dimension]))
        if bias { register(parameter: "bias", Tensor(zeros: [dimension])) }
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.layerNorm(weight: parameter("weight")!, bias: parameter("bias"), eps: eps)
    }
}

/// torch.nn.ModuleList: children named "0", "1", … .
public final class ModuleList<Element: Module>: Module {
    public private(set) var count = 0
    public init(_ modules: [Element]) {
        super.init()
        for m in modules { append(m) }
    }
    public func append(_ m: Element) { register(String(count), m); count += 1 }
    public subscript(_ i: Int) -> Element { child(String(i)) }
}

/// A linear child ready to be called: `linear("q_proj")(x)`.
///
/// A struct rather than the bare existential because calling an `any LinearLayer` through callAsFunction sugar
/// crashes the Swift 6.3 compiler (SILGen); `.layer` is the module itself.
public struct LinearCall {
    public let layer: any LinearLayer
    @inline(__always) public func callAsFunction(_ x: Tensor) -> Tensor { layer.callAsFunction(x) }
}

extension Module {
    /// The child `name` as a linear layer (plain, Conv1D or a LoRA wrapper), callable.
    public func linear(_ name: String) -> LinearCall { LinearCall(layer: child(name, as: (any LinearLayer).self)) }
}
