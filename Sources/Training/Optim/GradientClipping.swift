import Foundation
import TensorCore

/// torch.nn.utils.clip_grad_norm_ with the 2-norm: the global norm over every gradient, and gradients scaled by
/// min(1, maxNorm / (norm + 1e−6)). Returns the norm before clipping (what Trainer logs as grad_norm); a
/// non-finite norm is returned unchanged and nothing is scaled, so the caller can stop on it.
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Double?) -> Double {
    var squares: Double = 0
    for p in parameters {
        guard let g = p.grad else { continue }
        // Per tensor in Float as torch does, then the norm of the norms.
        var s: Float = 0
        for i in 0..<g.count { s += g.data[i] * g.data[i] }
        squares += Double(s)
    }
    let norm = squares.squareRoot()
    guard let maxNorm, maxNorm > 0, norm.isFinite else { return norm }
    let coefficient = Float(maxNorm) / Float(norm + 1e-6)
    if coefficient < 1 {
        for p in parameters { if let g = p.grad { for i in 0..<g.count { g.data[i] *= coefficient } } }
    }
    return norm
}
