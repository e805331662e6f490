import TensorCore

/// What `storeFrozenWeights` did, for the training log.
public struct FrozenWeightsSummary: Sendable, CustomStringConvertible {
    public var precision: WeightPrecision
    /// Distinct weight tensors stored (a tied embedding and lm_head count once).
    public var tensors = 0
    public var bytesBefore = 0, bytesAfter = 0

    public var description: String {
        if precision == .fp32 { return "precision fp32: frozen weights stay fp32" }
        let mb = { (b: Int) in String(format: "%.1f MB", Double(b) / 1e6) }
        return "precision \(precision.rawValue): \(tensors) frozen weight tensor(s) stored in \(precision.rawValue), "
            + "\(mb(bytesBefore)) → \(mb(bytesAfter))"
    }
}

extension Module {
    /// Stores every frozen `Linear` weight of the tree (and an `Embedding` table tied to one) in `precision`,
    /// replacing its fp32 parameter, so the fp32 copy is freed. Call after LoRA injection and freezing: weights that
    /// require a gradient (trained layers, modules_to_save) stay fp32 parameters, as do biases and norms.
    /// fp32 changes nothing.
    @discardableResult
    public func storeFrozenWeights(_ precision: WeightPrecision) -> FrozenWeightsSummary {
        var summary = FrozenWeightsSummary(precision: precision)
        guard precision != .fp32 else { return summary }
        var stored: [ObjectIdentifier: FrozenWeight] = [:]
        let modules = namedModules()
        for (_, module) in modules {
            guard let linear = module as? Linear, let w = linear.parameter("weight"), !w.requiresGrad else { continue }
            let frozen = stored[ObjectIdentifier(w)] ?? {
                let f = FrozenWeight(w, precision: precision)
                stored[ObjectIdentifier(w)] = f
                summary.tensors += 1
                summary.bytesBefore += w.count * 4
                summary.bytesAfter += f.byteCount
                return f
            }()
            linear.removeParameter(at: "weight")
            linear.frozenWeight = frozen
        }
        // An embedding table tied to a stored lm_head shares its storage; an untied one keeps its fp32 parameter.
        for (_, module) in modules {
            guard let e = module as? Embedding, let w = e.parameter("weight"), !w.requiresGrad,
                  let frozen = stored[ObjectIdentifier(w)] else { continue }
            e.removeParameter(at: "weight")
            e.frozenWeight = frozen
        }
        return summary
    }
}

extension Linear {
    /// Replaces the fp32 weight parameter by `frozen` (a quantized weight built at load time).
    public func install(frozen: FrozenWeight) {
        precondition(frozen.rows == outFeatures && frozen.columns == inFeatures, "frozen weight [\(frozen.rows), \(frozen.columns)] for a Linear(\(inFeatures) → \(outFeatures))")
        removeParameter(at: "weight")
        frozenWeight = frozen
    }
}

extension Embedding {
    /// Replaces the fp32 table by `frozen`; lookups widen only the rows they read.
    public func install(frozen: FrozenWeight) {
        removeParameter(at: "weight")
        frozenWeight = frozen
    }
}

extension Linear {
    /// Puts a frozen weight back as an fp32 parameter (its exact widening) that merging can write into. Only this
    /// layer: `Module.widenFrozenWeights` also re-ties modules that share the storage.
    public func widenFrozenWeight() {
        guard let frozen = frozenWeight else { return }
        register(parameter: "weight", frozen.dequantized())
        frozenWeight = nil
    }
}

extension Module {
    /// Widens the frozen weights of the Linear layers `select` picks back to fp32 parameters (merging an adapter into
    /// a quantized or bf16 base), one tensor at a time. Any other Linear or Embedding that shares one of those
    /// storages (an embedding tied to lm_head) gets the same widened tensor, so the tie survives the merge.
    public func widenFrozenWeights(of select: (Linear) -> Bool) {
        var widened: [ObjectIdentifier: Tensor] = [:]
        let modules = namedModules().map(\.1)
        for case let linear as Linear in modules {
            guard let frozen = linear.frozenWeight, select(linear) else { continue }
            widened[ObjectIdentifier(frozen)] = widened[ObjectIdentifier(frozen)] ?? frozen.dequantized()
        }
        for module in modules {
            if let linear = module as? Linear, let frozen = linear.frozenWeight, let w = widened[ObjectIdentifier(frozen)] {
                linear.register(parameter: "weight", w)
                linear.frozenWeight = nil
            } else if let e = module as? Embedding, let frozen = e.frozenWeight, let w = widened[ObjectIdentifier(frozen)] {
                e.register(parameter: "weight", w)
                e.frozenWeight = nil
            }
        }
    }
}
