import Foundation

/// One recorded operation: its inputs and a closure mapping the output gradient to input gradients.
///
/// The closure captures what the backward pass needs (saved activations). Running it once sets it to nil, which
/// releases those activations as soon as they have been used rather than at the end of the backward pass.
final class GradFn {
    let name: String
    let inputs: [Tensor]
    var backward: ((Tensor) -> [Tensor?])?

    init(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
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
    @discardableResult
    func recording(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        if GradMode.isEnabled && inputs.contains(where: \.needsGrad) {
            gradFn = GradFn(name, inputs, backward)
        }
        return self
    }

    /// Reverse-mode differentiation from this scalar (or from `seed` when given): accumulates into `grad` of every
    /// leaf with `requiresGrad`, then frees the graph.
    public func backward(seed: Tensor? = nil) {
        let seed = seed ?? Tensor(filled: 1, shape: shape)
        precondition(seed.shape == shape, "backward seed \(seed.shape) for \(shape)")
        guard needsGrad else { return }

        // Topological order by iterative DFS over tensors that need gradients.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            guard visited.insert(ObjectIdentifier(t)).inserted else { continue }
            stack.append((t, true))
            for input in t.gradFn?.inputs ?? [] where input.needsGrad && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }

        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        for t in order.reversed() {
            guard let g = pending.removeValue(forKey: ObjectIdentifier(t)) else { continue }
            if let fn = t.gradFn {
                let grads = GradMode.withoutGrad { fn.backward!(g) }
                fn.backward = nil
                for (input, grad) in zip(fn.inputs, grads) {
                    guard let grad, input.needsGrad else { continue }
                    precondition(grad.shape == input.shape, "\(fn.name) backward gave \(grad.shape) for input \(input.shape)")
                    let key = ObjectIdentifier(input)
                    // Gradients may alias each other (add's backward returns its input twice): never mutate them.
                    pending[key] = pending[key].map { $0.adding(grad) } ?? grad
                }
                t.gradFn = nil
            }
            if t.requiresGrad {
                // A leaf's grad is owned (copied once) so accumulation across micro-batches can be in place.
                if let existing = t.grad { existing.addInPlace(g) } else { t.grad = g.copy() }
            }
        }
    }
}
