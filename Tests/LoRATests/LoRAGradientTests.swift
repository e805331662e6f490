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

    func randomInput() -> Tensor { var g = SeededGenerator(seed: 11); return Tensor.normal([3, 5], std: 1, generator: &g) }
}
