import NN
import TensorCore

/// PEFT's add_weighted_adapter for the combination types "linear", "cat" and "svd".
public enum CombinationType: String { case linear, cat, svd }

extension LoRAModel {
    /// Builds adapter `name` from weighted existing adapters exactly as PEFT's add_weighted_adapter does
    /// (lora/model.py). With sᵢ the scaling of adapter i in a layer and wᵢ its weight:
    /// - linear (also forced for a single adapter): all ranks equal; A = Σ sign(wᵢsᵢ)·√|wᵢsᵢ|·Aᵢ,
    ///   B = Σ √|wᵢsᵢ|·Bᵢ (the sign on A only, or two negatives would cancel);
    /// - cat: rank Σ rᵢ; A = [wᵢsᵢ·Aᵢ] stacked by rows, B = [Bᵢ] side by side, so B·A = Σ wᵢ·sᵢ·BᵢAᵢ exactly;
    /// - svd: rank `svdRank` or max rᵢ; the top singular triplets of Σ wᵢsᵢ·ΔWᵢ, where ΔWᵢ = sᵢ·BᵢAᵢ already holds
    ///   the scaling (PEFT applies it twice here), B = U·S, A = Vᵀ.
    /// A rank here is an adapter's maximum over its rank_pattern, as PEFT sizes the new tensors. The new config is
    /// the first adapter's with r = lora_alpha = new rank (scale 1 without rsLoRA), no patterns, and the union of the
    /// target lists (or the regexes joined by "|"). Rows a layer's adapters leave unused stay zero.
    public func addWeightedAdapter(adapters: [String], weights: [Double], name: String,
                                   combinationType requested: CombinationType, svdRank: Int? = nil) throws {
        guard adapters.count == weights.count, !adapters.isEmpty else {
            throw LoRAError.weightedAdapter("give one weight per adapter (\(adapters.count) adapters, \(weights.count) weights)")
        }
        guard configs[name] == nil else { throw LoRAError.weightedAdapter("an adapter named '\(name)' exists") }
        for a in adapters where configs[a] == nil { throw LoRAError.unknownAdapter(a) }
        if savedModules.contains(where: { w in adapters.filter { w.wrapper.copy($0) != nil }.count > 1 }) {
            throw LoRAError.weightedAdapter("several of \(adapters) train the same modules_to_save head, which cannot be combined")
        }
        let combination = adapters.count == 1 ? .linear : requested
        let ranks = adapters.map { a in configs[a]!.rankPattern.values.reduce(configs[a]!.r, max) }
        let newRank: Int
        switch combination {
        case .linear:
            guard Set(ranks).count == 1 else { throw LoRAError.weightedAdapter("combination \"linear\" needs adapters of one rank, got \(ranks)") }
            newRank = ranks[0]
        case .cat: newRank = ranks.reduce(0, +)
        case .svd:
            if let r = svdRank, r < 1 { throw LoRAError.weightedAdapter("svd_rank is \(r); it must be at least 1") }
            newRank = svdRank ?? ranks.max()!
        }

        var config = configs[adapters[0]]!
        config.r = newRank
        config.loraAlpha = Double(newRank)
        config.rankPattern = [:]
        config.alphaPattern = [:]
        config.initLoRAWeights = .kaiming
        config.targetModules = try combinedTargets(adapters)
        // Inject on exactly the layers the sources occupy, then record PEFT's combined targets.
        var injection = config
        injection.targetModules = .names(loraLayers.filter { l in adapters.contains { l.layer.adapters[$0] != nil } }.map(\.path))
        injection.excludeModules = nil
        injection.layersToTransform = nil
        injection.layersPattern = nil
        try addAdapter(name, config: injection)
        setConfig(config, for: name)

        for (path, layer) in loraLayers where layer.adapters[name] != nil {
            let present = zip(adapters, weights).filter { layer.adapters[$0.0] != nil }
            let (a, b) = try GradMode.withoutGrad { () -> (Tensor, Tensor) in
                let (inF, outF) = (layer.inFeatures, layer.outFeatures)
                switch combination {
                case .cat:
                    let a = Tensor(zeros: [newRank, inF]), b = Tensor(zeros: [outF, newRank])
                    var row = 0
                    for (n, w) in present {
                        let (ai, bi) = (layer.loraA(n).weight, layer.loraB(n).weight)
                        let f = Float(w) * layer.adapters[n]!.scaling, r = ai.shape[0]
                        for i in 0..<r { for j in 0..<inF { a.data[(row + i) * inF + j] = ai.data[i * inF + j] * f } }
                        for i in 0..<outF { for j in 0..<r { b.data[i * newRank + row + j] = bi.data[i * r + j] } }
                        row += r
                    }
                    return (a, b)
                case .linear:
                    var a = Tensor(zeros: [newRank, inF]), b = Tensor(zeros: [outF, newRank])
                    for (n, w) in present {
                        let ws = Float(w) * layer.adapters[n]!.scaling
                        let root = abs(ws).squareRoot()
                        guard layer.loraA(n).weight.shape[0] == newRank else {
                            throw LoRAError.weightedAdapter("\(path): adapter '\(n)' has rank \(layer.loraA(n).weight.shape[0]) here, \"linear\" needs \(newRank)")
                        }
                        a = a + layer.loraA(n).weight * (ws < 0 ? -root : root)
                        b = b + layer.loraB(n).weight * root
                    }
                    return (a, b)
                case .svd:
                    var delta = Tensor(zeros: layer.fanInFanOut ? [inF, outF] : [outF, inF])
                    for (n, w) in present { delta = delta + layer.delta(n) * (Float(w) * layer.adapters[n]!.scaling) }
                    let (u, s, vt) = (layer.fanInFanOut ? delta.transposed2D() : delta).svd()
                    let k = s.count
                    guard newRank <= k else {
                        throw LoRAError.weightedAdapter("\(path): svd rank \(newRank) exceeds min(out, in) = \(k)")
                    }
                    let b = Tensor(zeros: [outF, newRank]), a = Tensor(zeros: [newRank, inF])
                    for i in 0..<outF { for j in 0..<newRank { b.data[i * newRank + j] = u.data[i * k + j] * s.data[j] } }
                    for i in 0..<newRank { for j in 0..<inF { a.data[i * inF + j] = vt.data[i * inF + j] } }
                    return (a, b)
                }
            }
            try layer.loraA(name).setParameter(at: "weight", a)
            try layer.loraB(name).setParameter(at: "weight", b)
        }
        setActiveAdapter(activeAdapter)
    }

    /// PEFT's new target_modules: all lists → their union; all regexes → "(r1)|(r2)"; a mix is an error.
    private func combinedTargets(_ adapters: [String]) throws -> LoRAConfig.TargetModules? {
        let rules = adapters.map { configs[$0]!.targetModules ?? .names(plugin.defaultTargetModules) }
        var names: [String] = [], regexes: [String] = []
        for rule in rules {
            switch rule {
            case .names(let n): names += n.filter { !names.contains($0) }
            case .regex(let r): regexes.append("(\(r))")
            case .allLinear: regexes.append("(all-linear)")
            }
        }
        if !names.isEmpty && !regexes.isEmpty {
            throw LoRAError.weightedAdapter("the adapters mix target_modules lists and strings, which PEFT cannot combine")
        }
        if case .allLinear? = rules.count == 1 ? rules.first : nil { return .allLinear }
        return regexes.isEmpty ? .names(names) : .regex(regexes.joined(separator: "|"))
    }
}
