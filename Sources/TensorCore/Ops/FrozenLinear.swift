extension Tensor {
    /// x: (…, in), weight: frozen (out, in) as in torch.nn.Linear, bias: (out). out: (…, out).
    /// The weight gets no gradient; dX = dY · W goes through the same frozen product.
    public func linear(frozen weight: FrozenWeight, bias: Tensor? = nil) -> Tensor {
        if case .fp32(let w) = weight.storage { return linear(w, bias: bias) }  // exactly today's fp32 path
        precondition(lastDim == weight.columns, "linear: input \(shape) against a frozen weight [\(weight.rows), \(weight.columns)]")
        let x = self, m = rowCount, inputShape = shape
        let y = Tensor(uninitialized: Array(shape.dropLast()) + [weight.rows])
        GEMM.frozenProduct(weight, transposed: true, m: m, a: x.data, c: y.data)
        // Backward needs only the weight: capturing x (even for its shape) would keep every frozen layer's input
        // alive until backward, 260 MB on SmolLM2 at 4 × 256 tokens.
        y.recording("linear_frozen", [x]) { g in
            let dx = Tensor(uninitialized: inputShape)
            GEMM.frozenProduct(weight, transposed: false, m: m, a: g.data, c: dx.data)
            return [dx]
        }
        guard let bias else { return y }
        return y + bias
    }
}
