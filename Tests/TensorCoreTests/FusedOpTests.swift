import XCTest
import Foundation
import TensorCore

/// The fused and chunked ops added for speed and memory: values against the unfused composition, gradients by
/// central finite differences (`checkGradients`).
final class FusedOpTests: XCTestCase {
    /// lm_head + cross-entropy in chunks equals crossEntropy(hidden · Wᵀ) to float rounding (1e-5 relative), with
    /// ignored rows skipped and several chunks (chunkElements = 2 rows of 7 logits).
    func testLinearCrossEntropyMatchesUnfusedAndGradients() {
        let hidden = randomTensor([2, 3, 5], seed: 50), weight = randomTensor([7, 5], seed: 51)
        let labels = IntTensor([3, -100, 0, 6, -100, 2] as [Int], shape: [6])
        for reduction in [LossReduction.mean, .sum] {
            let fused = GradMode.withoutGrad {
                linearCrossEntropy(hidden, weight: weight, labels: labels, reduction: reduction, chunkElements: 14).item
            }
            let plain = GradMode.withoutGrad {
                crossEntropy(hidden.reshaped([6, 5]).linear(weight), labels: labels, reduction: reduction).item
            }
            XCTAssertEqual(fused, plain, accuracy: 1e-5 * abs(plain))
        }
        checkGradients("linear_cross_entropy", inputs: [hidden, weight]) {
            linearCrossEntropy(hidden, weight: weight, labels: labels, chunkElements: 14)
        }
        checkGradients("linear_cross_entropy sum, one chunk", inputs: [hidden]) {
            linearCrossEntropy(hidden, weight: weight, labels: labels, reduction: .sum)
        }
    }

    /// Only the rows that need it get a gradient: a frozen weight gets none and no (V, D) work is done for it.
    func testLinearCrossEntropyFrozenWeightAndAllIgnored() {
        let hidden = randomTensor([4, 3], seed: 52), weight = randomTensor([6, 3], seed: 53)
        hidden.requiresGrad = true
        linearCrossEntropy(hidden, weight: weight, labels: IntTensor([1, 2, -100, 5] as [Int], shape: [4])).backward()
        XCTAssertNil(weight.grad)
        XCTAssertEqual(Array(hidden.grad!.scalars[6..<9]), [0, 0, 0], "an ignored row gets a zero gradient")
        let none = linearCrossEntropy(hidden, weight: weight, labels: IntTensor([-100, -100, -100, -100] as [Int], shape: [4]))
        XCTAssertEqual(none.item, 0)
    }

    /// Over quantized blocks the vocabulary is the outer loop (online softmax over panels of W's rows): loss and
    /// hidden gradient equal the token-chunked loop over the widened weight, with three panels (V = 20000 rows of 64,
    /// panels of 8192), tokens in passes of 7, ignored rows, labels in both panels and a row whose largest logit
    /// comes in the second panel (the running maximum and sum are rescaled).
    func testLinearCrossEntropyOverPanelsMatchesTheWidenedWeight() {
        let (v, d, n) = (20000, 64, 12)
        let w = randomTensor([v, d], seed: 54)
        for j in 0..<d { w.data[19_000 * d + j] = 3 * w.data[j] }  // a large logit late in the vocabulary
        let frozen = FrozenWeight(quantized: NF4Weight(quantizing: w.data, rows: v, columns: d))
        let widened = frozen.dequantized()
        let hidden = randomTensor([n, d], seed: 55)
        for j in 0..<d { hidden.data[j] = w.data[j] }  // row 0 aligns with rows 0 and 19000 of W
        let labels = IntTensor([19_000, 5, -100, 8_191, 8_192, 19_999, 7, -100, 0, 16_384, 16_383, 3] as [Int], shape: [n])
        XCTAssertGreaterThan(v, GEMM.panelFloats / d, "the vocabulary spans more than one panel")
        func run(_ useFrozen: Bool, _ reduction: LossReduction) -> (Float, [Float]) {
            let h = hidden.copy()
            h.requiresGrad = true
            let loss = useFrozen
                ? linearCrossEntropy(h, frozen: frozen, labels: labels, reduction: reduction, chunkElements: 7 * GEMM.panelFloats / d)
                : linearCrossEntropy(h, weight: widened, labels: labels, reduction: reduction, chunkElements: 5 * v)
            loss.backward()
            return (loss.item, h.grad!.scalars)
        }
        for reduction in [LossReduction.mean, .sum] {
            let (lp, gp) = run(true, reduction), (lc, gc) = run(false, reduction)
            XCTAssertEqual(lp, lc, accuracy: 1e-5 * abs(lc))
            for (i, (u, t)) in zip(gp, gc).enumerated() { XCTAssertEqual(u, t, accuracy: 1e-5 * max(1, abs(t)), "dHidden[\(i)]") }
            XCTAssertEqual(Array(gp[(2 * d)..<(3 * d)]), [Float](repeating: 0, count: d), "an ignored row gets a zero gradient")
        }
        let eval = GradMode.withoutGrad { linearCrossEntropy(hidden, frozen: frozen, labels: labels).item }
        XCTAssertEqual(eval, run(false, .mean).0, accuracy: 1e-5 * abs(eval), "without a gradient the same loss")
    }
}

/// The vectorised exact GELU against the scalar erff formula (A&S 7.1.26 erf: ≤ 1.5e-7 absolute, so GELU within
/// 2e-7 · (1 + |x|)); its gradient is checked in OpGradientTests.testActivations.
final class VectorGELUTests: XCTestCase {
    func testGELUMatchesScalarErf() {
        let x = Tensor((0..<4001).map { Float($0 - 2000) / 250 }, shape: [4001])  // −8 … 8, with a scalar tail
        let y = GradMode.withoutGrad { x.gelu() }
        for i in 0..<x.count {
            let v = x.data[i], reference = 0.5 * v * (1 + erff(v * Float(M_SQRT1_2)))
            XCTAssertEqual(y.data[i], reference, accuracy: 2e-7 * (1 + abs(v)), "gelu(\(v))")
        }
    }
}

/// The vectorised SwiGLU over several 16-lane blocks plus a scalar tail: value against the scalar formula (1e-6
/// relative, the vector exp is within a few ulp of expf) and gradients by finite differences.
final class VectorSwiGLUTests: XCTestCase {
    func testSwiGLUValuesAndGradients() {
        let gate = randomTensor([5, 9], seed: 92, std: 3), up = randomTensor([5, 9], seed: 93)
        let y = GradMode.withoutGrad { swiglu(gate: gate, up: up) }
        for i in 0..<y.count {
            let x = gate.data[i], reference = x / (1 + expf(-x)) * up.data[i]
            XCTAssertEqual(y.data[i], reference, accuracy: 1e-6 * max(1, abs(reference)))
        }
        checkGradients("swiglu, vector lanes", inputs: [gate, up]) { swiglu(gate: gate, up: up) }
    }
}

/// The fused LoRA linear op against base + scale · B(A(dropout(x))) built from plain ops.
final class LoRALinearOpTests: XCTestCase {
    func unfused(_ x: Tensor, _ w: Tensor, _ inputMajor: Bool, _ bias: Tensor?, _ a: Tensor, _ b: Tensor, _ s: Float,
                 _ p: Float, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let base = inputMajor ? x.matmul(w) : x.linear(w)
        let y = bias.map { base + $0 } ?? base
        return y + x.dropout(p, generator: &g).linear(a).linear(b) * s
    }

    func testValuesMatchTheUnfusedGraphWithAndWithoutDropout() {
        let x = randomTensor([2, 3, 6], seed: 80), w = randomTensor([5, 6], seed: 81), wt = randomTensor([6, 5], seed: 82)
        let bias = randomTensor([5], seed: 83), a = randomTensor([2, 6], seed: 84), b = randomTensor([5, 2], seed: 85)
        for (p, inputMajor) in [(Float(0), false), (0.4, false), (0.4, true)] {
            let weight = inputMajor ? wt : w
            var g = SeededGenerator(seed: 7)
            let fused = GradMode.withoutGrad {
                loraLinear(x, weight: weight, weightIsInputMajor: inputMajor, bias: bias, loraA: a, loraB: b, scale: 1.5,
                           dropout: p, generator: &g)
            }
            let plain = GradMode.withoutGrad { unfused(x, weight, inputMajor, bias, a, b, 1.5, p, seed: 7) }
            XCTAssertEqual(fused.shape, [2, 3, 5])
            for (u, v) in zip(fused.scalars, plain.scalars) { XCTAssertEqual(u, v, accuracy: 1e-5) }
            var advanced = SeededGenerator(seed: 7)
            if p > 0 { for _ in 0..<x.count { _ = advanced.nextUniform() } }
            XCTAssertEqual(g, advanced, "the generator moves past exactly one mask")
        }
    }

    func testGradientsWithDropoutBiasAndConv1DLayout() {
        let x = randomTensor([4, 6], seed: 86), w = randomTensor([5, 6], seed: 87), wt = randomTensor([6, 5], seed: 88)
        let bias = randomTensor([5], seed: 89), a = randomTensor([3, 6], seed: 90), b = randomTensor([5, 3], seed: 91)
        checkGradients("lora_linear", inputs: [x, w, bias, a, b]) {
            var g = SeededGenerator(seed: 3)
            return loraLinear(x, weight: w, bias: bias, loraA: a, loraB: b, scale: 2, generator: &g)
        }
        checkGradients("lora_linear dropout", inputs: [x, a, b]) {
            var g = SeededGenerator(seed: 3)
            return loraLinear(x, weight: w, bias: nil, loraA: a, loraB: b, scale: 2, dropout: 0.3, generator: &g)
        }
        checkGradients("lora_linear Conv1D layout", inputs: [x, wt, a, b]) {
            var g = SeededGenerator(seed: 3)
            return loraLinear(x, weight: wt, weightIsInputMajor: true, bias: nil, loraA: a, loraB: b, scale: 0.5,
                              dropout: 0.2, generator: &g)
        }
    }

    /// Over a frozen NF4 base the fused op gives what it gives over that weight widened to fp32: the output and the
    /// gradients of x, A, B and the bias (the frozen weight takes none), with and without dropout. (NF4's product
    /// multiplies the widened panel in fp32 on every CPU; a bf16 base may use bf16 kernels, which round x too.)
    func testFrozenBaseMatchesTheWidenedWeight() {
        let x = randomTensor([7, 64], seed: 92), w = randomTensor([5, 64], seed: 93), bias = randomTensor([5], seed: 94)
        let frozen = FrozenWeight(quantized: NF4Weight(quantizing: w.data, rows: 5, columns: 64))
        let widened = frozen.dequantized()
        for p: Float in [0, 0.3] {
            func run(_ useFrozen: Bool) -> (Tensor, [Tensor]) {
                let (xi, a, b, bi) = (x.copy(), randomTensor([3, 64], seed: 95), randomTensor([5, 3], seed: 96), bias.copy())
                for t in [xi, a, b, bi] { t.requiresGrad = true }
                var g = SeededGenerator(seed: 4)
                let y = useFrozen
                    ? loraLinear(xi, frozen: frozen, bias: bi, loraA: a, loraB: b, scale: 1.5, dropout: p, generator: &g)
                    : loraLinear(xi, weight: widened, bias: bi, loraA: a, loraB: b, scale: 1.5, dropout: p, generator: &g)
                (y * y).sum().backward()
                return (y, [xi, a, b, bi].map { $0.grad! })
            }
            let (yf, gf) = run(true), (yt, gt) = run(false)
            for (u, v) in zip(yf.scalars, yt.scalars) { XCTAssertEqual(u, v, accuracy: 1e-5 * max(1, abs(v))) }
            for (f, t) in zip(gf, gt) {
                for (u, v) in zip(f.scalars, t.scalars) { XCTAssertEqual(u, v, accuracy: 1e-4 * max(1, abs(v))) }
            }
        }
    }
}

/// A LoRA layer fed by an RMSNorm or SwiGLU keeps no copy of its input: backward remakes it from what the norm or
/// SwiGLU keeps anyway. The gradients are bit for bit those of the same graph with the input kept (an extra `* 1`
/// gives the LoRA layer a tensor nobody can remake), with and without dropout; and the forward really holds less.
final class RemadeActivationTests: XCTestCase {
    func testLoRAOverNormAndSwiGLUGetsIdenticalGradientsAndHoldsLess() {
        let (n, d, f, r) = (37, 48, 80, 4)
        let w = randomTensor([f, d], seed: 70), wDown = randomTensor([d, f], seed: 71), norm = randomTensor([d], seed: 72)
        for p: Float in [0, 0.25] {
            /// Gradients of h, the norm weight and every A and B; `keep` multiplies the LoRA inputs by 1 first.
            func run(keep: Bool) -> (grads: [[Float]], held: Int) {
                let h = randomTensor([n, d], seed: 73)
                // (A, B) for gate and up (d → f) and down (f → d).
                let adapters: [(Tensor, Tensor)] = [
                    (randomTensor([r, d], seed: 80), randomTensor([f, r], seed: 90)),
                    (randomTensor([r, d], seed: 81), randomTensor([f, r], seed: 91)),
                    (randomTensor([r, f], seed: 82), randomTensor([d, r], seed: 92)),
                ]
                let nw = norm.copy()
                let trained: [Tensor] = [h, nw] + adapters.flatMap { [$0.0, $0.1] }
                for t in trained { t.requiresGrad = true }
                var g = SeededGenerator(seed: 6)
                func lora(_ x: Tensor, _ weight: Tensor, _ i: Int) -> Tensor {
                    loraLinear(keep ? x * Float(1) : x, weight: weight, bias: nil, loraA: adapters[i].0,
                               loraB: adapters[i].1, scale: 0.5, dropout: p, generator: &g)
                }
                let before = Storage.live.bytes
                var y: Tensor! = h.rmsNorm(weight: nw, eps: 1e-5)
                let down = lora(swiglu(gate: lora(y, w, 0), up: lora(y, w, 1)), wDown, 2)
                y = nil
                let loss = (down * h).sum()
                let held = Storage.live.bytes - before
                loss.backward()
                return (trained.map { $0.grad!.scalars }, held)
            }
            let (remade, kept) = (run(keep: false), run(keep: true))
            XCTAssertEqual(remade.grads, kept.grads, "dropout \(p): remade inputs give the very same gradients")
            // Kept: two `* 1` copies of the norm output (n·d each) and one of the SwiGLU output (n·f). Remade: none of
            // them, nor the norm and SwiGLU outputs themselves (which a LoRA layer keeping its input would hold).
            XCTAssertLessThan(remade.held + 4 * n * (d + f), kept.held, "dropout \(p): the forward holds less")
        }
    }
}

/// Dropout inside a checkpointed block draws the same mask when the block is recomputed in backward.
final class CheckpointedDropoutTests: XCTestCase {
    final class GeneratorBox { var generator = SeededGenerator(seed: 5) }

    func testRecomputationReplaysDropoutMasks() {
        let w = randomTensor([6, 6], seed: 60), x = randomTensor([4, 6], seed: 61)
        let box = GeneratorBox()
        func block(_ t: [Tensor]) -> Tensor { t[0].dropout(0.5, generator: &box.generator).linear(w).silu() }
        w.requiresGrad = true; x.requiresGrad = true
        block([x]).sum().backward()
        let (gw, gx, after) = (w.grad!.scalars, x.grad!.scalars, box.generator)
        w.grad = nil; x.grad = nil
        box.generator = SeededGenerator(seed: 5)
        checkpointed([x], block).sum().backward()
        XCTAssertEqual(w.grad!.scalars, gw, "same mask, same weight gradient")
        XCTAssertEqual(x.grad!.scalars, gx, "same mask, same input gradient")
        XCTAssertEqual(box.generator, after, "the recomputation does not advance the caller's generator again")
    }

    /// A block whose input is constant but whose parameter trains (the first decoder layer over a frozen
    /// embedding) still passes gradients to that parameter.
    func testParametersTrainWhenNoInputNeedsAGradient() {
        let w = randomTensor([6, 6], seed: 66), x = randomTensor([4, 6], seed: 67)
        func block(_ t: [Tensor]) -> Tensor { t[0].linear(w).silu() }
        w.requiresGrad = true
        block([x]).sum().backward()
        let plain = w.grad!.scalars
        w.grad = nil
        checkpointed([x], block).sum().backward()
        XCTAssertEqual(w.grad?.scalars, plain)
        XCTAssertNil(x.grad)
    }

    func testRecomputationReplaysFusedLoRADropout() {
        let w = randomTensor([5, 6], seed: 62), a = randomTensor([2, 6], seed: 63), b = randomTensor([5, 2], seed: 64)
        let x = randomTensor([4, 6], seed: 65)
        let box = GeneratorBox()
        func block(_ t: [Tensor]) -> Tensor {
            loraLinear(t[0], weight: w, bias: nil, loraA: a, loraB: b, scale: 2, dropout: 0.5, generator: &box.generator).silu()
        }
        a.requiresGrad = true; b.requiresGrad = true; x.requiresGrad = true
        block([x]).sum().backward()
        let (ga, gb, gx) = (a.grad!.scalars, b.grad!.scalars, x.grad!.scalars)
        a.grad = nil; b.grad = nil; x.grad = nil
        box.generator = SeededGenerator(seed: 5)
        checkpointed([x], block).sum().backward()
        XCTAssertEqual(a.grad!.scalars, ga)
        XCTAssertEqual(b.grad!.scalars, gb)
        XCTAssertEqual(x.grad!.scalars, gx)
    }
}

/// The profiler charges each op's forward and backward to its kind, and the kinds add up to the elapsed time.
final class ProfilerTests: XCTestCase {
    func testOpsAreChargedToTheirKinds() {
        let x = randomTensor([64, 32], seed: 70), w = randomTensor([32, 32], seed: 71)
        w.requiresGrad = true
        let start = DispatchTime.now().uptimeNanoseconds
        Profiler.setEnabled(true)
        defer { Profiler.setEnabled(false) }
        let y = x.linear(w).rmsNorm(weight: Tensor(filled: 1, shape: [32]), eps: 1e-6)
        let loss = Profiler.scoped(.lora) { y.silu() }.sum()
        loss.backward()
        Profiler.measure(.optimizer) { w.grad = nil }
        Profiler.flush()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let ms = Profiler.milliseconds()
        for kind in [OpKind.gemm, .norms, .lora] { XCTAssertGreaterThan(ms[kind]!, 0, "\(kind.label) got no time") }
        XCTAssertEqual(ms[.attention], 0)
        XCTAssertEqual(ms[.crossEntropy], 0)
        let total = ms.values.reduce(0, +)
        XCTAssertLessThanOrEqual(total, elapsed, "no time is charged twice")
        XCTAssertGreaterThan(total, 0.5 * elapsed, "most of the time is charged somewhere")
    }
}
