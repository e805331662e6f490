/// An op's input kept for its backward pass: the tensor itself, or, when the op that made it can remake it exactly
/// from what that op's own backward keeps anyway (`Tensor.remake`), the recipe. A LoRA layer behind an RMSNorm or
/// SwiGLU then holds no copy of its input between forward and backward: on SmolLM2 with every linear adapted that
/// is 2688 floats per token and layer (330 MB at 4 × 256 tokens), remade in backward by a pass over the data.
struct SavedActivation {
    private let tensor: Tensor?
    private let remake: (() -> Tensor)?

    init(_ x: Tensor) {
        if let remake = x.remake { (tensor, self.remake) = (nil, remake) } else { (tensor, remake) = (x, nil) }
    }

    /// The saved tensor, remade if it was not kept.
    func value() -> Tensor { tensor ?? remake!() }
}

extension Tensor {
    /// Attaches `remake` to this output when its op recorded a backward, which keeps `remake`'s inputs alive anyway;
    /// without one (no gradient, a checkpoint's probing pass) it would only keep those inputs alive.
    func remakeable(_ remake: @escaping () -> Tensor) -> Tensor {
        if !GradMode.isProbing, let fn = gradFn, fn.backward != nil { self.remake = remake }
        return self
    }
}
