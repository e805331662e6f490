import XCTest
import LoRAKit

/// LoRA and DoRA layers against central finite differences (step 1e-2, |Δ| ≤ 2e-3 + 1e-2·|numeric|).
final class LoRAGradientTests: XCTestCase {
    func check(_ layer: LoRALinear, _ params: [Tensor], _ x: Tensor) {
        var gen = SeededGenerator(seed: 5)
        let r = Tensor.normal(layer(x).shape, std: 1, generator: &gen)
        func probe() -> Double { let y = GradMode.withoutGrad { layer(x) }; return (0..<y.count).reduce(0.0) { $0 + Double(y.data[$1] * r.data[$1]) } }
        for p in params { p.grad = nil }
        (layer(x) * r).sum().backward()
        for (n, p) in params.enumerated() {
            for i in 0..<p.count {
                let saved = p.data[i]
                p.data[i] = saved + 1e-2; let plus = probe()
                p.data[i] = saved - 1e-2; let minus = probe()
                p.data[i] = saved
                let numeric = Float((plus - minus) / 2e-2)
                XCTAssertLessThan(abs(p.grad!.data[i] - numeric), 2e-3 + 1e-2 * abs(numeric), "param \(n)[\(i)]")
            }
        }
    }

    func layer(dora: Bool) throws -> LoRALinear {
        var gen = SeededGenerator(seed: 9)
        let base = Linear(inFeatures: 5, outFeatures: 4, bias: true)
        try base.setParameter(at: "weight", .normal([4, 5], std: 1, generator: &gen))
        try base.setParameter(at: "bias", .normal([4], std: 1, generator: &gen))
        let l = LoRALinear(wrapping: base)
        try l.addAdapter("default", rank: 2, scaling: 1.5, dropout: 0, useDoRA: dora, initialization: .random, generator: &gen)
        return l
    }

    func testLoRAGradients() throws {
        let l = try layer(dora: false)
        let params = [l.loraA("default").weight, l.loraB("default").weight]
        for p in params { p.requiresGrad = true }
        check(l, params, randomInput())
    }

    func testDoRAGradientsIncludingMagnitude() throws {
        let l = try layer(dora: true)
        let params = [l.loraA("default").weight, l.loraB("default").weight, l.magnitude("default")!]
        for p in params { p.requiresGrad = true }
        // PEFT detaches the weight norm, which finite differences cannot: A and B are checked against PEFT's own
        // gradients in the llama-dora parity case; the magnitude's gradient is exact here.
        check(l, [params[2]], randomInput())
    }

    /// A and B of DoRA: PEFT's graph treats ‖W + s·BA‖ as a constant, so the reference is central differences of the
    /// forward with that norm frozen at its current value (computed here in Double), step 1e-3, same bound.
    func testDoRAGradientsOfAAndBWithTheNormDetachedAsPEFT() throws {
        let l = try layer(dora: true)
        let (a, b, m) = (l.loraA("default").weight, l.loraB("default").weight, l.magnitude("default")!)
        try l.child("lora_magnitude_vector")!.child("default")!.setParameter(at: "weight", m * 1.2)
        for p in [a, b] { p.requiresGrad = true; p.grad = nil }
        let x = randomInput()
        var gen = SeededGenerator(seed: 5)
        let probe = Tensor.normal([3, 4], std: 1, generator: &gen)
        (l(x) * probe).sum().backward()

        let w = l.base.parameter("weight")!.scalars.map(Double.init), bias = l.base.parameter("bias")!.scalars.map(Double.init)
        let mag = l.magnitude("default")!.scalars.map(Double.init), xs = x.scalars.map(Double.init), r = probe.scalars.map(Double.init)
        let s = 1.5
        func adaptedNorms(_ av: [Double], _ bv: [Double]) -> [Double] {
            (0..<4).map { i in (0..<5).reduce(0.0) { acc, j in
                let v = w[i * 5 + j] + s * (0..<2).reduce(0.0) { $0 + bv[i * 2 + $1] * av[$1 * 5 + j] }
                return acc + v * v
            }.squareRoot() }
        }
        let frozen = adaptedNorms(a.scalars.map(Double.init), b.scalars.map(Double.init))
        func objective(_ av: [Double], _ bv: [Double]) -> Double {
            var total = 0.0
            for row in 0..<3 {
                for i in 0..<4 {
                    let base = (0..<5).reduce(0.0) { $0 + w[i * 5 + $1] * xs[row * 5 + $1] }
                    let lora = (0..<2).reduce(0.0) { acc, k in acc + bv[i * 2 + k] * (0..<5).reduce(0.0) { $0 + av[k * 5 + $1] * xs[row * 5 + $1] } }
                    let f = mag[i] / frozen[i]
                    total += r[row * 4 + i] * (base + bias[i] + (f - 1) * base + f * s * lora)
                }
            }
            return total
        }
        var (av, bv) = (a.scalars.map(Double.init), b.scalars.map(Double.init))
        for i in 0..<av.count {
            let saved = av[i]
            av[i] = saved + 1e-3; let plus = objective(av, bv)
            av[i] = saved - 1e-3; let minus = objective(av, bv)
            av[i] = saved
            let numeric = (plus - minus) / 2e-3
            XCTAssertEqual(Double(a.grad!.data[i]), numeric, accuracy: 2e-3 + 1e-2 * abs(numeric), "A[\(i)]")
        }
        for i in 0..<bv.count {
            let saved = bv[i]
            bv[i] = saved + 1e-3; let plus = objective(av, bv)
            bv[i] = saved - 1e-3; let minus = objective(av, bv)
            bv[i] = saved
            let numeric = (plus - minus) / 2e-3
            XCTAssertEqual(Double(b.grad!.data[i]), numeric, accuracy: 2e-3 + 1e-2 * abs(numeric), "B[\(i)]")
        }
    }

    func randomInput() -> Tensor { var g = SeededGenerator(seed: 11); return Tensor.normal([3, 5], std: 1, generator: &g) }
}
