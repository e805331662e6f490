import ArchitectureKit
import NN
import TensorCore

extension LoRALinear {
    /// Folds adapter `name` into the base weight (PEFT's merge): W += scale·BA, or for DoRA
    /// W ← (m / ‖W + scale·BA‖) ⊙ (W + scale·BA) per output row.
    public func merge(_ name: String) throws {
        guard adapters[name] != nil, !mergedAdapters.contains(name) else { return }
        try requireWritableBase()
        let w = base.weightTensor
        GradMode.withoutGrad {
            if adapters[name]!.useDoRA, let m = magnitude(name) {
                let factor = doraFactor(name, magnitude: m)
                w.addInPlace(delta(name))
                scaleRows(w, by: factor)
            } else {
                w.addInPlace(delta(name))
            }
        }
        mergedAdapters.append(name)
    }

    /// Undoes `merge` (PEFT's unmerge): exact up to fp32 rounding.
    public func unmerge(_ name: String) throws {
        guard let i = mergedAdapters.firstIndex(of: name) else { return }
        try requireWritableBase()
        let w = base.weightTensor
        GradMode.withoutGrad {
            if adapters[name]!.useDoRA, magnitude(name) != nil {
                // W = W' / (m/n) − ΔW, with the factor m/n remembered at merge time.
                scaleRows(w, by: mergedFactors[name]!.map { 1 / $0 })
                w.addInPlace(delta(name), scale: -1)
            } else {
                w.addInPlace(delta(name), scale: -1)
            }
        }
        mergedAdapters.remove(at: i)
    }

    /// Merging writes into an fp32 base weight. A base stored frozen (quantized blocks, bf16) is widened to fp32 first
    /// — exactly the values the forward multiplied by — as PEFT dequantizes a bitsandbytes weight before adding ΔW.
    /// (`LoRAModel.mergeAdapter` widens all targeted layers up front, keeping tied storages tied.)
    private func requireWritableBase() throws {
        if let linear = base as? Linear, linear.frozenWeight != nil { linear.widenFrozenWeight() }
    }

    /// m / ‖W + ΔW‖ per output row, remembered for unmerge.
    private func doraFactor(_ name: String, magnitude m: Tensor) -> [Float] {
        let norms = rowNorms(name)
        let factor = (0..<outFeatures).map { m.data[$0] / norms.data[$0] }
        mergedFactors[name] = factor
        return factor
    }

    private func scaleRows(_ w: Tensor, by factor: [Float]) {
        if fanInFanOut {  // (in, out): the output index is the column
            let (r, c) = (w.shape[0], w.shape[1])
            for i in 0..<r { for j in 0..<c { w.data[i * c + j] *= factor[j] } }
        } else {
            let c = w.shape[1]
            for (i, f) in factor.enumerated() { for j in 0..<c { w.data[i * c + j] *= f } }
        }
    }
}

extension LoRAModel {
    /// Merges the active adapters (or `names`) into every wrapped layer, in order (PEFT's merge_adapter).
    public func mergeAdapter(_ names: [String]? = nil) throws {
        let bases = Set(loraLayers.map { ObjectIdentifier($0.1.base) })
        model.widenFrozenWeights { bases.contains(ObjectIdentifier($0)) }
        for (_, l) in loraLayers { for name in names ?? l.activeAdapters where l.adapters[name] != nil { try l.merge(name) } }
    }

    /// Unmerges everything merged, last merged first (PEFT's unmerge_adapter pops merged_adapters), so a DoRA
    /// factor is undone on the weight it was computed from.
    public func unmergeAdapter() throws {
        for (_, l) in loraLayers { for name in l.mergedAdapters.reversed() { try l.unmerge(name) } }
    }

    /// Merges the active adapter and puts the plain base layers (and trained head copies) back in the tree:
    /// a model with no LoRA left (PEFT's merge_and_unload).
    @discardableResult
    public func mergeAndUnload() throws -> any ArchitectureModel {
        try mergeAdapter()
        return unload()
    }

    /// Removes every LoRA layer without merging (PEFT's unload); heads keep the active adapter's trained copy.
    @discardableResult
    public func unload() -> any ArchitectureModel {
        for (path, l) in loraLayers { model.replaceModule(at: path, with: l.base) }
        for (path, w) in savedModules {
            model.replaceModule(at: path, with: w.activeAdapter.flatMap { w.copy($0) } ?? w.original)
        }
        return model
    }
}
