/// Gradient checkpointing (activation recomputation): trade compute for memory on the backward pass.
extension GradMode {
    /// Runs `body` with graph recording on (used to recompute a checkpointed block during backward).
    public static func withGrad<T>(_ body: () throws -> T) rethrows -> T {
        let previous = isEnabled
        isEnabled = true
        defer { isEnabled = previous }
        return try body()
    }
}

/// Runs `block` on `inputs` without keeping its internal activations; the backward pass recomputes the block and
/// backpropagates through the recomputation, like torch.utils.checkpoint. Gradients reach the inputs and every
/// trainable parameter the block uses (those accumulate directly into their `grad`).
///
/// The block must compute the same values when run again: anything random in it (dropout) must draw from state the
/// caller restores, or be off.
public func checkpointed(_ inputs: [Tensor], _ block: @escaping ([Tensor]) -> Tensor) -> Tensor {
    guard GradMode.isEnabled else { return block(inputs) }
    let out = GradMode.withoutGrad { block(inputs) }
    return out.recording("checkpoint", inputs) { g in
        GradMode.withGrad {
            let replay = inputs.map { x -> Tensor in
                let d = x.detached()
                d.requiresGrad = x.needsGrad
                return d
            }
            let y = block(replay)
            y.backward(seed: g)
            return replay.map { $0.grad }
        }
    }
}
