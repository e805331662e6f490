import Foundation

/// One recorded operation: where its inputs' gradients go and a closure mapping the output gradient to them.
///
/// The node does not hold its input tensors: an intermediate input is reached through its own node, a leaf
/// (a parameter) directly. So a tensor stays alive after its op only if some backward closure captured it (saved
/// activations), not merely because it fed another op. Running the closure once sets it to nil, which releases
/// what it saved as soon as it has been used rather than at the end of the backward pass.
final class GradFn {
    /// Where one input's gradient goes: its node when it was computed, itself when it is a leaf that trains.
    struct Target {
        let node: GradFn?
        let leaf: Tensor?
        let shape: [Int]
    }

    let name: String
    /// One per input; nil for inputs that need no gradient.
    let targets: [Target?]
    var backward: ((Tensor) -> [Tensor?])?
    /// Where the profiler charges this op's backward (decided when the op ran, so LoRA's scope is kept).
    let kind: OpKind

    init(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        targets = inputs.map { x in
            guard x.needsGrad else { return nil }
            let node = x.gradFn?.backward == nil ? nil : x.gradFn
            return Target(node: node, leaf: x.requiresGrad ? x : nil, shape: x.shape)
        }
        self.backward = backward
        kind = Profiler.isEnabled ? (Profiler.scope ?? OpKind.of(op: name)) : .other
    }

    /// The node every op's output gets while `GradMode.probing` runs: it says "a gradient would flow here" and
    /// holds nothing, so no activation is saved and no graph is built. It is never run (the probed output is
    /// detached before anything can differentiate it).
    nonisolated(unsafe) static let probe = GradFn("probe", []) { _ in
        preconditionFailure("a probed graph (the first pass of a checkpointed block) was differentiated")
    }
}

/// Switches graph recording on and off (inference, optimizer updates, evaluation), per thread: a server decoding
/// on one thread without gradients must not switch recording off for a training step on another.
public enum GradMode {
    /// Recording is on unless this thread's slot holds a mark; a fresh thread records, like PyTorch's default.
    private static let disabledKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    public internal(set) static var isEnabled: Bool {
        get { pthread_getspecific(disabledKey) == nil }
        set { pthread_setspecific(disabledKey, newValue ? nil : UnsafeRawPointer(bitPattern: 1)) }
    }

    /// This thread's probing mark (see `probing`).
    private static let probingKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static var isProbing: Bool {
        get { pthread_getspecific(probingKey) != nil }
        set { pthread_setspecific(probingKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }

    /// Runs `body` recording only *whether* each result would need a gradient (`needsGrad`), not how to compute
    /// it: ops keep no saved tensors and build no nodes. A checkpointed block's first pass runs this way;
    /// `probing(false)` records for real again (its recomputation in backward).
    static func probing<T>(_ on: Bool = true, _ body: () throws -> T) rethrows -> T {
        let previous = isProbing
        isProbing = on
        defer { isProbing = previous }
        return try body()
    }

    /// Runs `body` without recording operations, like `torch.no_grad()`.
    public static func withoutGrad<T>(_ body: () throws -> T) rethrows -> T {
        let previous = isEnabled
        isEnabled = false
        defer { isEnabled = previous }
        return try body()
    }
}

extension Tensor {
    /// Records `self` as computed from `inputs` when any of them needs a gradient. Ops call this on their output.
    /// The backward closure receives the output gradient and returns one gradient (or nil) per input.
    /// `always` records even when no input needs a gradient (a checkpointed block whose parameters train).
    @discardableResult
    func recording(_ name: String, _ inputs: [Tensor], always: Bool = false,
                   _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        Profiler.mark(op: name)
        if GradMode.isEnabled && (always || inputs.contains(where: \.needsGrad)) {
            gradFn = GradMode.isProbing ? GradFn.probe : GradFn(name, inputs, backward)
        }
        return self
    }

    /// Reverse-mode differentiation from this scalar (or from `seed` when given): accumulates into `grad` of every
    /// leaf with `requiresGrad`, then frees the graph.
    public func backward(seed: Tensor? = nil) {
        let seed = seed ?? Tensor(filled: 1, shape: shape)
        precondition(seed.shape == shape, "backward seed \(seed.shape) for \(shape)")
        guard needsGrad else { return }
        defer { gradFn = nil }
        guard let root = gradFn, root.backward != nil else {
            if let existing = grad { existing.addInPlace(seed) } else { grad = seed.copy() }
            return
        }

        // Topological order by iterative DFS over the nodes still to run.
        var order: [GradFn] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(GradFn, Bool)] = [(root, false)]
        while let (fn, expanded) = stack.popLast() {
            if expanded { order.append(fn); continue }
            guard visited.insert(ObjectIdentifier(fn)).inserted else { continue }
            stack.append((fn, true))
            for case let node? in fn.targets.map({ $0?.node }) where node.backward != nil && !visited.contains(ObjectIdentifier(node)) {
                stack.append((node, false))
            }
        }

        // Gradients may alias each other (add's backward returns its input twice): never mutate them.
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        var leaves: [(Tensor, Tensor)] = []
        var leafIndex: [ObjectIdentifier: Int] = [:]
        for fn in order.reversed() {
            guard let g = pending.removeValue(forKey: ObjectIdentifier(fn)), let run = fn.backward else { continue }
            let grads = Profiler.backward(fn.kind, op: fn.name) { GradMode.withoutGrad { run(g) } }
            fn.backward = nil
            for (target, grad) in zip(fn.targets, grads) {
                guard let target, let grad else { continue }
                precondition(grad.shape == target.shape, "\(fn.name) backward gave \(grad.shape) for input \(target.shape)")
                if let node = target.node, node.backward != nil {
                    let key = ObjectIdentifier(node)
                    pending[key] = pending[key].map { $0.adding(grad) } ?? grad
                }
                if let leaf = target.leaf {
                    let key = ObjectIdentifier(leaf)
                    if let i = leafIndex[key] { leaves[i].1 = leaves[i].1.adding(grad) } else {
                        leafIndex[key] = leaves.count
                        leaves.append((leaf, grad))
                    }
                }
            }
        }
        for (leaf, g) in leaves {
            // A leaf's grad is owned (copied once) so accumulation across micro-batches can be in place.
            if let existing = leaf.grad { existing.addInPlace(g) } else { leaf.grad = g.copy() }
        }
    }
}
