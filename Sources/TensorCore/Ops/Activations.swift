import Foundation

/// Pointwise activations. Each saves its input and recomputes what the derivative needs.
extension Tensor {
    private func pointwise(_ name: String, _ f: @escaping (Float) -> Float, derivative: @escaping (Float) -> Float) -> Tensor {
        let x = self
        let out = Tensor(uninitialized: shape)
        let (px, po) = (x.data, out.data)
        Parallel.forEachChunk(count, costPerItem: 8) { r in for i in r { po[i] = f(px[i]) } }
        return out.recording(name, [x]) { g in
            let dx = Tensor(uninitialized: x.shape)
            let (pg, pd, px) = (g.data, dx.data, x.data)
            Parallel.forEachChunk(x.count, costPerItem: 8) { r in for i in r { pd[i] = pg[i] * derivative(px[i]) } }
            return [dx]
        }
    }

    /// GELU with the exact erf form (BERT's "gelu"): x · Φ(x), vectorised (`VectorMath.gelu`).
    public func gelu() -> Tensor {
        let x = self
        let out = Tensor(uninitialized: shape)
        let (px, po) = (x.data, out.data)
        Parallel.forEachChunk(count, costPerItem: 8) { r in
            VectorMath.gelu(px + r.lowerBound, into: po + r.lowerBound, count: r.count)
        }
        return out.recording("gelu", [x]) { g in
            let dx = Tensor(uninitialized: x.shape)
            let (pg, pd) = (g.data, dx.data)
            Parallel.forEachChunk(x.count, costPerItem: 8) { r in
                VectorMath.geluBackward(px + r.lowerBound, pg + r.lowerBound, into: pd + r.lowerBound, count: r.count)
            }
            return [dx]
        }
    }

    /// GELU, tanh approximation (GPT-2's "gelu_new", PyTorch approximate="tanh").
    public func geluTanh() -> Tensor {
        let c = Float(0.7978845608028654)  // sqrt(2/π)
        return pointwise("gelu_tanh", { x in 0.5 * x * (1 + tanhf(c * (x + 0.044715 * x * x * x))) }, derivative: { x in
            let u = c * (x + 0.044715 * x * x * x)
            let t = tanhf(u)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
        })
    }

    /// SiLU (swish): x · σ(x).
    public func silu() -> Tensor {
        pointwise("silu", { x in x / (1 + expf(-x)) }, derivative: { x in
            let s = 1 / (1 + expf(-x))
            return s * (1 + x * (1 - s))
        })
    }

    public func tanh() -> Tensor {
        pointwise("tanh", { x in tanhf(x) }, derivative: { x in let t = tanhf(x); return 1 - t * t })
    }

    public func relu() -> Tensor {
        pointwise("relu", { x in max(x, 0) }, derivative: { x in x > 0 ? 1 : 0 })
    }
}

/// SwiGLU as Llama's MLP uses it: silu(gate) ⊙ up, fused so the silu output is never stored (`VectorMath.swiglu`).
public func swiglu(gate: Tensor, up: Tensor) -> Tensor {
    precondition(gate.shape == up.shape, "swiglu gate \(gate.shape) vs up \(up.shape)")
    let out = Tensor(uninitialized: gate.shape)
    let (pg, pu, po) = (gate.data, up.data, out.data)
    Parallel.forEachChunk(gate.count, costPerItem: 8) { r in
        VectorMath.swiglu(pg + r.lowerBound, pu + r.lowerBound, into: po + r.lowerBound, count: r.count)
    }
    let recorded = out.recording("swiglu", [gate, up]) { g in
        let dGate = gate.needsGrad ? Tensor(uninitialized: gate.shape) : nil
        let dUp = up.needsGrad ? Tensor(uninitialized: up.shape) : nil
        let (pgr, pdg, pdu) = (g.data, dGate?.data, dUp?.data)
        Parallel.forEachChunk(gate.count, costPerItem: 8) { r in
            let o = r.lowerBound
            VectorMath.swigluBackward(pg + o, pu + o, pgr + o, dGate: pdg.map { $0 + o }, dUp: pdu.map { $0 + o }, count: r.count)
        }
        return [dGate, dUp]
    }
    // The output again from the gate and up its backward keeps, chunked as above, so bit for bit.
    return recorded.remakeable {
        let y = Tensor(uninitialized: gate.shape)
        let py = y.data
        Parallel.forEachChunk(gate.count, costPerItem: 8) { r in
            VectorMath.swiglu(pg + r.lowerBound, pu + r.lowerBound, into: py + r.lowerBound, count: r.count)
        }
        withExtendedLifetime((gate, up)) {}  // what pg and pu point into
        return y
    }
}
