import Foundation
import TensorCore

/// torch.optim.AdamW (the default, non-amsgrad, non-fused path), step for step:
///
///     p ← p − lr·λ·p                       (decoupled weight decay, before the moment update)
///     m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// Scalars are computed in Double as Python floats are, elementwise math in Float32 as torch's CPU kernel.
public final class AdamW {
    public struct Hyperparameters: Codable, Equatable, Sendable {
        public var beta1: Double = 0.9
        public var beta2: Double = 0.999
        public var epsilon: Double = 1e-8
        public var weightDecay: Double = 0
        public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }
    }

    public let parameters: [(path: String, tensor: Tensor)]
    public var hyperparameters: Hyperparameters
    /// exp_avg and exp_avg_sq per parameter, in `parameters` order.
    public private(set) var firstMoments: [Tensor]
    public private(set) var secondMoments: [Tensor]
    /// Completed steps (PyTorch's per-parameter `step`, shared here because every parameter steps together).
    public private(set) var stepCount = 0

    public init(parameters: [(path: String, tensor: Tensor)], hyperparameters: Hyperparameters = Hyperparameters()) {
        self.parameters = parameters
        self.hyperparameters = hyperparameters
        firstMoments = parameters.map { Tensor(zeros: $0.tensor.shape) }
        secondMoments = parameters.map { Tensor(zeros: $0.tensor.shape) }
    }

    /// One update with learning rate `lr` from each parameter's `grad` (parameters without a gradient are skipped,
    /// as PyTorch does).
    public func step(learningRate lr: Double) {
        stepCount += 1
        let h = hyperparameters
        let t = Double(stepCount)
        let bias1 = 1 - pow(h.beta1, t), bias2 = 1 - pow(h.beta2, t)
        let stepSize = Float(lr / bias1)
        let bias2Sqrt = Float(bias2.squareRoot())
        let decay = Float(1 - lr * h.weightDecay)
        // 1 − β is formed in Double and then rounded, as torch receives it from a Python float.
        let (oneMinusB1, b2, oneMinusB2, eps) = (Float(1 - h.beta1), Float(h.beta2), Float(1 - h.beta2), Float(h.epsilon))
        for (i, (_, p)) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let (pp, gp, mp, vp) = (p.data, g.data, firstMoments[i].data, secondMoments[i].data)
            for j in 0..<p.count {
                if h.weightDecay != 0 { pp[j] *= decay }
                let gj = gp[j]
                // torch: exp_avg.lerp_(grad, 1 − β₁) = m + (1 − β₁)(g − m); exp_avg_sq.mul_(β₂).addcmul_(g, g, 1 − β₂).
                mp[j] += oneMinusB1 * (gj - mp[j])
                vp[j] = vp[j] * b2 + oneMinusB2 * gj * gj
                let denom = vp[j].squareRoot() / bias2Sqrt + eps
                pp[j] -= stepSize * (mp[j] / denom)
            }
        }
    }

    /// Clears every parameter's gradient (`zero_grad(set_to_none=True)`).
    public func zeroGrad() { for (_, p) in parameters { p.grad = nil } }

    /// Restores moments and the step count from a checkpoint.
    public func restore(firstMoments m: [[Float]], secondMoments v: [[Float]], stepCount: Int) throws {
        guard m.count == parameters.count, v.count == parameters.count else {
            throw TrainingError.checkpoint("optimizer state has \(m.count) tensors, the model has \(parameters.count) trainable parameters")
        }
        for i in parameters.indices {
            guard m[i].count == parameters[i].tensor.count, v[i].count == parameters[i].tensor.count else {
                throw TrainingError.checkpoint("optimizer state for \(parameters[i].path) has \(m[i].count) values, expected \(parameters[i].tensor.count)")
            }
            firstMoments[i].buffer.update(fromContentsOf: m[i])
            secondMoments[i].buffer.update(fromContentsOf: v[i])
        }
        self.stepCount = stepCount
    }
}
