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

/// The random draws of one checkpointed block: the first run records the state of every generator a dropout
/// draws from, in call order; the recomputation in backward replays the same states, so it draws the same masks
/// without advancing (or depending on) the callers' generators a second time.
final class RandomReplay {
    nonisolated(unsafe) static var current: RandomReplay?

    private var states: [SeededGenerator] = []
    private var next = 0
    private var replaying = false

    /// The generator a draw should use: the caller's own (recorded) on the first run, its recorded state on replay.
    func generator(for caller: SeededGenerator) -> SeededGenerator? {
        if replaying {
            precondition(next < states.count, "a checkpointed block drew more random numbers when recomputed than when first run")
            defer { next += 1 }
            return states[next]
        }
        states.append(caller)
        return nil
    }

    func run<T>(replay: Bool, _ body: () -> T) -> T {
        let previous = RandomReplay.current
        RandomReplay.current = self
        replaying = replay
        next = 0
        defer { RandomReplay.current = previous }
        return body()
    }
}

/// Runs `block` on `inputs` without keeping its internal activations; the backward pass recomputes the block and
/// backpropagates through the recomputation, like torch.utils.checkpoint. Gradients reach the inputs and every
/// trainable parameter the block uses (those accumulate directly into their `grad`).
///
/// Dropout inside the block draws the same masks when recomputed (`RandomReplay`), as torch's checkpoint does by
/// restoring the RNG state; anything else random must be off.
public func checkpointed(_ inputs: [Tensor], _ block: @escaping ([Tensor]) -> Tensor) -> Tensor {
    guard GradMode.isEnabled else { return block(inputs) }
    let randomness = RandomReplay()
    // The first run only needs to learn whether the output depends on something that trains — a parameter inside
    // the block counts even when no input needs a gradient (the first decoder layer, whose input is a frozen
    // embedding). It probes: no node is built and no activation saved. (It used to build the whole graph and
    // drop it, which leaked the block's activations every step through any op whose backward read its own output.)
    let first = randomness.run(replay: false) { GradMode.probing { block(inputs) } }
    guard first.needsGrad else { return first }
    let out = first.detached()
    return out.recording("checkpoint", inputs, always: true) { g in
        GradMode.withGrad { GradMode.probing(false) {
            let replay = inputs.map { x -> Tensor in
                let d = x.detached()
                d.requiresGrad = x.needsGrad
                return d
            }
            let y = Profiler.forwardPass { randomness.run(replay: true) { block(replay) } }
            y.backward(seed: g)
            return replay.map { $0.grad }
        } }
    }
}
