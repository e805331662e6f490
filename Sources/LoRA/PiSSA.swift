import NN
import TensorCore

extension LoRALinear {
    /// PEFT's pissa_init (full SVD): W = V·S·Uᵀ; A = √(S_r/scale)·Uᵀ_r, B = V_r·√(S_r/scale); the base keeps
    /// W − scale·B·A, so the wrapped layer computes W exactly at step 0 while A, B hold the principal components.
    func initializePiSSA(_ name: String, rank r: Int, scaling: Float) throws {
        let w = fanInFanOut ? base.weightTensor.transposed2D() : base.weightTensor.copy()
        // LAPACK's SVD fails (and would stop the process) on NaN or infinite entries.
        guard w.scalars.allSatisfy(\.isFinite) else {
            throw LoRAError.nonFinite("PiSSA: the base weight of this layer has NaN or infinite values; the model file is corrupt")
        }
        let (v, s, uh) = w.svd()
        let (out, inF) = (w.shape[0], w.shape[1])
        let root = (0..<r).map { (s.data[$0] / scaling).squareRoot() }
        let a = Tensor(zeros: [r, inF]), b = Tensor(zeros: [out, r])
        for i in 0..<r { for j in 0..<inF { a.data[i * inF + j] = root[i] * uh.data[i * inF + j] } }
        for i in 0..<out { for j in 0..<r { b.data[i * r + j] = v.data[i * v.shape[1] + j] * root[j] } }
        try loraA(name).setParameter(at: "weight", a)
        try loraB(name).setParameter(at: "weight", b)
        let residual = GradMode.withoutGrad { w - b.matmul(a) * scaling }
        try base.setParameter(at: "weight", fanInFanOut ? residual.transposed2D() : residual)
    }
}
