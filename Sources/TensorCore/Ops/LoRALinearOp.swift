import Foundation

/// A linear layer with one LoRA adapter, fused: out = x · op(W) + bias + scale · (dropout(x) · Aᵀ) · Bᵀ.
///
/// x: (…, in); weight: (out, in), or (in, out) when `weightIsInputMajor` (GPT-2's Conv1D); bias: (out);
/// a: (r, in); b: (out, r). out: (…, out).
///
/// Against the unfused graph (base, dropout, A, B, scale, add) this makes no (…, out) temporaries for the adapter
/// path (B's product accumulates straight into the output) and keeps only the (…, r) product x·Aᵀ for backward. The
/// dropout mask is not stored at all: backward redraws it from the generator state saved before the forward drew
/// it, so the same mask costs 32 bytes instead of two (…, in) tensors (the mask and the dropped-out input).
public func loraLinear(_ x: Tensor, weight: Tensor, weightIsInputMajor: Bool = false, bias: Tensor?,
                       loraA a: Tensor, loraB b: Tensor, scale: Float, dropout p: Float = 0,
                       generator: inout SeededGenerator) -> Tensor {
    loraLinear(x, base: .tensor(weight, inputMajor: weightIsInputMajor), bias: bias, loraA: a, loraB: b, scale: scale,
               dropout: p, generator: &generator)
}

/// The same over a frozen base weight (bf16 or quantized blocks): its products go through `GEMM.frozenProduct`
/// panel by panel, and it gets no gradient. Without this, a quantized base would pay the unfused adapter path's
/// (…, out) temporaries in every adapted layer.
public func loraLinear(_ x: Tensor, frozen weight: FrozenWeight, bias: Tensor?, loraA a: Tensor, loraB b: Tensor,
                       scale: Float, dropout p: Float = 0, generator: inout SeededGenerator) -> Tensor {
    if case .fp32(let w) = weight.storage {
        return loraLinear(x, weight: w, bias: bias, loraA: a, loraB: b, scale: scale, dropout: p, generator: &generator)
    }
    return loraLinear(x, base: .frozen(weight), bias: bias, loraA: a, loraB: b, scale: scale, dropout: p, generator: &generator)
}

/// The base weight of a fused LoRA linear: a tensor (trainable or not, either layout) or a frozen weight.
private enum LoRABase {
    case tensor(Tensor, inputMajor: Bool)
    case frozen(FrozenWeight)
}

private func loraLinear(_ x: Tensor, base: LoRABase, bias: Tensor?, loraA a: Tensor, loraB b: Tensor, scale: Float,
                        dropout p: Float, generator: inout SeededGenerator) -> Tensor {
    let (n, inF, r) = (x.rowCount, x.lastDim, a.shape[0])
    let weight: Tensor?, weightIsInputMajor: Bool, outF: Int
    switch base {
    case let .tensor(w, inputMajor):
        (weight, weightIsInputMajor) = (w, inputMajor)
        outF = inputMajor ? w.shape[1] : w.shape[0]
        precondition(w.count == inF * outF, "loraLinear: weight \(w.shape) for input \(x.shape)")
    case let .frozen(w):
        (weight, weightIsInputMajor, outF) = (nil, false, w.rows)
        precondition(w.columns == inF, "loraLinear: a frozen weight [\(w.rows), \(w.columns)] for input \(x.shape)")
    }
    precondition(a.shape == [r, inF] && b.shape == [outF, r], "loraLinear: lora_A \(a.shape), lora_B \(b.shape) for \(inF) → \(outF)")
    precondition(bias == nil || bias!.shape == [outF], "loraLinear: bias \(bias!.shape) for \(outF) outputs")
    precondition(p >= 0 && p < 1, "dropout probability \(p) must be in [0, 1)")

    // The mask's generator state: the caller's (then advanced past the mask), or on a checkpoint's recomputation
    // the state the first run recorded (the caller's generator is then left alone).
    var maskState: SeededGenerator?
    let keep = 1 / (1 - p)
    var dropped = x  // dropout(x) for the forward only: backward redraws the mask rather than keep it
    if p > 0 {
        let replayed = RandomReplay.current?.generator(for: generator)
        var g = replayed ?? generator
        maskState = g
        let xd = Tensor(uninitialized: [n, inF])
        let (px, pd) = (x.data, xd.data)
        g.forEachUniform(n * inF) { i, u in pd[i] = u < p ? 0 : px[i] * keep }
        if replayed == nil { generator = g }
        dropped = xd
    }
    let ldw = weightIsInputMajor ? outF : inF
    let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [outF])
    Profiler.measure(.gemm) {
        if let weight {
            GEMM.sgemm(transB: !weightIsInputMajor, m: n, n: outF, k: inF, a: x.data, lda: inF, b: weight.data, ldb: ldw,
                       c: out.data, ldc: outF)
        } else if case let .frozen(w) = base {
            GEMM.frozenProduct(w, transposed: true, m: n, a: x.data, c: out.data)
        }
    }
    if let bias {
        let (po, pb) = (out.data, bias.data)
        Parallel.forEachChunk(n, costPerItem: outF) { rows in
            for row in rows { for j in 0..<outF { po[row * outF + j] += pb[j] } }
        }
    }
    let u = Tensor(uninitialized: [n, r])
    GEMM.sgemm(transB: true, m: n, n: r, k: inF, a: dropped.data, lda: inF, b: a.data, ldb: inF, c: u.data, ldc: r)
    GEMM.sgemm(transB: true, m: n, n: outF, k: r, alpha: scale, a: u.data, lda: r, b: b.data, ldb: r,
               beta: 1, c: out.data, ldc: outF)

    // A frozen weight is no graph input: it has no gradient slot (grads below are listed in the same order).
    var inputs = [x] + (weight.map { [$0] } ?? []) + [a, b]
    if let bias { inputs.append(bias) }
    // x for dA (and a trained base weight's dW): kept, or remade in backward when a norm or SwiGLU made it.
    let savedX = SavedActivation(x), (xNeedsGrad, xShape) = (x.needsGrad, x.shape)
    return out.recording("lora_linear", inputs) { g in
        let pg = g.data
        // gB = g · B: (n, r), shared by dA and the adapter's share of dx.
        let gB = Tensor(uninitialized: [n, r])
        GEMM.sgemm(m: n, n: r, k: outF, a: pg, lda: outF, b: b.data, ldb: r, c: gB.data, ldc: r)
        var dx: Tensor?, dw: Tensor?, da: Tensor?, db: Tensor?, dbias: Tensor?
        if xNeedsGrad {
            let t = Tensor(uninitialized: xShape)
            Profiler.measure(.gemm) {  // g · op(W)ᵀ
                if let weight {
                    GEMM.sgemm(transB: weightIsInputMajor, m: n, n: inF, k: outF, a: pg, lda: outF, b: weight.data, ldb: ldw,
                               c: t.data, ldc: inF)
                } else if case let .frozen(w) = base {
                    GEMM.frozenProduct(w, transposed: false, m: n, a: pg, c: t.data)
                }
            }
            if maskState == nil {  // + scale · gB · A
                GEMM.sgemm(m: n, n: inF, k: r, alpha: scale, a: gB.data, lda: r, b: a.data, ldb: inF, beta: 1, c: t.data, ldc: inF)
            }
            dx = t
        }
        let x = a.needsGrad || (weight?.needsGrad ?? false) ? savedX.value() : nil
        // With dropout: one pass redraws the mask, rebuilding dropout(x) for dA and masking the adapter's share of dx.
        var xd = x
        if var g = maskState, a.needsGrad || xNeedsGrad {
            let share = xNeedsGrad ? Tensor(uninitialized: [n, inF]) : nil
            if let share {
                GEMM.sgemm(m: n, n: inF, k: r, alpha: scale * keep, a: gB.data, lda: r, b: a.data, ldb: inF, c: share.data, ldc: inF)
            }
            let rebuilt = a.needsGrad ? Tensor(uninitialized: [n, inF]) : nil
            let (px, pr, ps, pdx) = (x?.data, rebuilt?.data, share?.data, dx?.data)
            g.forEachUniform(n * inF) { i, u in
                let kept = u >= p
                if let pr, let px { pr[i] = kept ? px[i] * keep : 0 }
                if kept, let ps, let pdx { pdx[i] += ps[i] }
            }
            if let rebuilt { xd = rebuilt }
        }
        if let weight, weight.needsGrad, let x {
            let t = Tensor(uninitialized: weight.shape)
            Profiler.measure(.gemm) {
                if weightIsInputMajor {  // W (in, out): dW = xᵀ · g
                    GEMM.sgemm(transA: true, m: inF, n: outF, k: n, a: x.data, lda: inF, b: pg, ldb: outF, c: t.data, ldc: outF)
                } else {                 // W (out, in): dW = gᵀ · x
                    GEMM.sgemm(transA: true, m: outF, n: inF, k: n, a: pg, lda: outF, b: x.data, ldb: inF, c: t.data, ldc: inF)
                }
            }
            dw = t
        }
        if let bias, bias.needsGrad {
            let t = Tensor(zeros: [outF])
            for row in 0..<n { for j in 0..<outF { t.data[j] += pg[row * outF + j] } }
            dbias = t
        }
        if a.needsGrad, let xd {  // dA = scale · gBᵀ · dropout(x)
            let t = Tensor(uninitialized: a.shape)
            GEMM.sgemm(transA: true, m: r, n: inF, k: n, alpha: scale, a: gB.data, lda: r, b: xd.data, ldb: inF, c: t.data, ldc: inF)
            da = t
        }
        if b.needsGrad {  // dB = scale · gᵀ · u
            let t = Tensor(uninitialized: b.shape)
            GEMM.sgemm(transA: true, m: outF, n: r, k: n, alpha: scale, a: pg, lda: outF, b: u.data, ldb: r, c: t.data, ldc: r)
            db = t
        }
        var grads: [Tensor?] = weight == nil ? [dx, da, db] : [dx, dw, da, db]
        if bias != nil { grads.append(dbias) }
        return grads
    }
}
