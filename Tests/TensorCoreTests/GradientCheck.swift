import XCTest
import TensorCore

/// Central finite differences against the autograd gradients.
///
/// The probe loss is Σ out ⊙ R with a fixed random R (so every output element matters with a different weight),
/// evaluated in Float64 from the Float32 outputs. With step 1e-2 in Float32 the difference quotient carries about
/// 1e-4 absolute noise, hence the tolerance: |analytic − numeric| ≤ 2e-3 + 1e-2 · |numeric|.
func checkGradients(_ name: String, inputs: [Tensor], step: Float = 1e-2, atol: Float = 2e-3, rtol: Float = 1e-2,
                    file: StaticString = #filePath, line: UInt = #line, _ f: () -> Tensor) {
    var gen = SeededGenerator(seed: 99)
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    let out = f()
    let r = Tensor.normal(out.shape, std: 1, generator: &gen)
    func probe() -> Double {
        let y = GradMode.withoutGrad { f() }
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
        return s
    }
    (out * r).sum().backward()
    for (n, x) in inputs.enumerated() {
        guard let grad = x.grad else { XCTFail("\(name): input \(n) got no gradient", file: file, line: line); continue }
        var worst: Float = 0
        for i in 0..<x.count {
            let saved = x.data[i]
            x.data[i] = saved + step; let plus = probe()
            x.data[i] = saved - step; let minus = probe()
            x.data[i] = saved
            let numeric = Float((plus - minus) / Double(2 * step))
            let err = abs(grad.data[i] - numeric) - rtol * abs(numeric)
            worst = max(worst, err)
            if err > atol {
                XCTFail("\(name): input \(n)[\(i)] analytic \(grad.data[i]) vs numeric \(numeric)", file: file, line: line)
                return
            }
        }
        _ = worst
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.normal(shape, std: std, generator: &g)
}
