import NN
import TensorCore

/// PEFT's add_weighted_adapter for the combination types "linear", "cat" and "svd".
public enum CombinationType: String { case linear, cat, svd }

extension LoRAModel {
    /// Builds adapter `name` from weighted existing adapters, as PEFT does: the new config copies the first
    /// adapter's with r = new rank, lora_alpha = r (scale 1 without rsLoRA), the union of targets, no patterns.
    /// - linear: same rank required; A = Σ sign·√|wᵢsᵢ|·Aᵢ, B = Σ √|wᵢsᵢ|·Bᵢ (sign on A only).
    /// - cat: rank Σrᵢ; A = [wᵢsᵢ·Aᵢ] stacked by rows, B = [Bᵢ] side by side — exactly Σ wᵢ·ΔWᵢ.
    /// - svd: rank `svdRank` or max rᵢ; the top singular triplets of Σ wᵢ·ΔWᵢ, B = U·S, A = Vᵀ.
    public func addWeightedAdapter(_ adapters: [String], weights: [Double], name: String,
                                   combination: CombinationType, svdRank: Int? = nil) throws {
        precondition(adapters.count == weights.count && !adapters.isEmpty, "one weight per adapter")
        for a in adapters where configs[a] == nil { throw LoRAError.unknownAdapter(a) }
        let ranks = adapters.map { configs[$0]!.r }
        let newRank: Int
        switch combination {
        case .linear:
            guard Set(ranks).count == 1 else { throw LoRAError.adapterFile("combination \"linear\" needs adapters of one rank, got \(ranks)") }
            newRank = ranks[0]
        case .cat: newRank = ranks.reduce(0, +)
        case .svd: newRank = svdRank ?? ranks.max()!
        }
        var config = configs[adapters[0]]!
        config.r = newRank
        config.loraAlpha = Double(newRank)
        config.rankPattern = [:]
        config.alphaPattern = [:]
        config.initLoRAWeights = .kaiming
        var names: [String] = []
        for a in adapters {
            switch configs[a]!.targetModules {
            case .names(let n)?: names += n.filter { !names.contains($0) }
            default: break
            }
        }
        let targetPaths = loraLayers.filter { l in adapters.contains { l.layer.adapters[$0] != nil } }.map(\.path)
        config.targetModules = .names(targetPaths)
        try addAdapter(name, config: config)
        config.targetModules = names.isEmpty ? configs[adapters[0]]!.targetModules : .names(names)
        setConfig(config, for: name)

        for (_, layer) in loraLayers where layer.adapters[name] != nil {
            let present = zip(adapters, weights).filter { layer.adapters[$0.0] != nil }
            let (a, b) = try GradMode.withoutGrad { () -> (Tensor, Tensor) in
                switch combination {
                case .cat:
                    let parts = present.map { ($0.0, Float($0.1) * layer.adapters[$0.0]!.scaling) }
                    let aRows = parts.flatMap { (n, f) in (layer.loraA(n).weight * f).scalars }
                    let bs = parts.map { layer.loraB($0.0).weight }
                    return (Tensor(aRows, shape: [newRank, layer.inFeatures]), concatLastAxis(bs))
                case .linear:
                    var a = Tensor(zeros: [newRank, layer.inFeatures]), b = Tensor(zeros: [layer.outFeatures, newRank])
                    for (n, w) in present {
                        let ws = Float(w) * layer.adapters[n]!.scaling
                        let root = abs(ws).squareRoot()
                        a = a + layer.loraA(n).weight * (ws < 0 ? -root : root)
                        b = b + layer.loraB(n).weight * root
                    }
                    return (a, b)
                case .svd:
                    var delta: Tensor? = nil
                    for (n, w) in present {
                        let d = layer.delta(n) * Float(w)
                        delta = delta.map { $0 + d } ?? d
                    }
                    let m = layer.fanInFanOut ? delta!.transposed2D() : delta!
                    let (u, s, vt) = m.svd()
                    let k = s.count
                    guard newRank <= k else { throw LoRAError.adapterFile("svd rank \(newRank) exceeds the matrix rank bound \(k)") }
                    let b = Tensor(zeros: [layer.outFeatures, newRank]), a = Tensor(zeros: [newRank, layer.inFeatures])
                    for i in 0..<layer.outFeatures { for j in 0..<newRank { b.data[i * newRank + j] = u.data[i * k + j] * s.data[j] } }
                    for i in 0..<newRank { for j in 0..<layer.inFeatures { a.data[i * layer.inFeatures + j] = vt.data[i * layer.inFeatures + j] } }
                    return (a, b)
                }
            }
            try layer.loraA(name).setParameter(at: "weight", a)
            try layer.loraB(name).setParameter(at: "weight", b)
        }
        setActiveAdapter(activeAdapter)
    }
}
