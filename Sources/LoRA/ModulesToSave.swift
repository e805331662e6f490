import NN
import TensorCore

/// PEFT's ModulesToSaveWrapper for a linear head (`score`, `classifier`): the frozen `original_module` and, per
/// adapter, a fully trainable copy under `modules_to_save.<name>`; forward uses the active adapter's copy.
public final class ModulesToSaveWrapper: Module, LinearLayer {
    public var activeAdapter: String?
    public var disabled = false

    public init(wrapping original: any LinearLayer) {
        super.init()
        register("original_module", original)
        register("modules_to_save", Module())
    }

    public var original: any LinearLayer { child("original_module", as: (any LinearLayer).self) }
    public var inFeatures: Int { original.inFeatures }
    public var outFeatures: Int { original.outFeatures }

    public func copy(_ name: String) -> (any LinearLayer)? { child("modules_to_save")?.child(name) as? any LinearLayer }

    /// Adds a trainable copy of the original for adapter `name`.
    public func addAdapter(_ name: String) throws {
        let source = original
        let copy: any LinearLayer
        if let conv = source as? Conv1D {
            copy = Conv1D(inFeatures: conv.inFeatures, outFeatures: conv.outFeatures)
        } else {
            copy = Linear(inFeatures: source.inFeatures, outFeatures: source.outFeatures, bias: source.parameter("bias") != nil)
        }
        for (path, t) in source.namedParameters() {
            let c = t.copy()
            c.requiresGrad = true
            try copy.setParameter(at: path, c)
        }
        child("modules_to_save", as: Module.self).register(name, copy)
        if activeAdapter == nil { activeAdapter = name }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        if !disabled, let name = activeAdapter, let c = copy(name) { return c.callAsFunction(x) }
        return original.callAsFunction(x)
    }
}
