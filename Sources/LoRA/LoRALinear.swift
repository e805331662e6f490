import Foundation
import NN
import TensorCore

/// PEFT's lora.Linear: the original layer as `base_layer` plus, per adapter name, `lora_A.<name>` (r × in),
/// `lora_B.<name>` (out × r) and, for DoRA, `lora_magnitude_vector.<name>.weight` (out).
///
/// y = base(x) + scale · B(A(dropout(x))) for every active, unmerged adapter. DoRA follows PEFT's DoraLinearLayer:
/// y = base(x) + (m/‖W + scale·BA‖ − 1)·(base(x) − bias) + m/‖…‖ · scale · B(A(x)), the norm taken per output row
/// and detached from the graph as PEFT does.
public final class LoRALinear: Module, LinearLayer {
    public struct Adapter {
        public var scaling: Float
        public var dropout: Float
        public var useDoRA: Bool
    }

    public internal(set) var adapters: [String: Adapter] = [:]
    /// Adapters applied in forward (PEFT's active_adapters).
    public var activeAdapters: [String] = []
    /// Adapters currently folded into the base weight.
    public internal(set) var mergedAdapters: [String] = []
    /// Skip every adapter (PEFT's disable_adapter context).
    public var disabled = false
    /// The base weight is stored (in, out) (GPT-2's Conv1D).
    public let fanInFanOut: Bool
    /// DoRA merge factors m/‖W + ΔW‖ per merged adapter, for an exact unmerge.
    var mergedFactors: [String: [Float]] = [:]
    /// Batched inference across adapters: when set (and not training), each batch row gets its own adapters from
    /// here instead of `activeAdapters` (see LoRARowRouting).
    public var rowRouting: LoRARowRouting?
    /// Dropout masks come from here so that a run (and a resumed run) replays exactly.
    public var generator = SeededGenerator(seed: 0)

    public var base: any LinearLayer { child("base_layer", as: (any LinearLayer).self) }
    public var inFeatures: Int { base.inFeatures }
    public var outFeatures: Int { base.outFeatures }

    public init(wrapping base: any LinearLayer) {
        fanInFanOut = base is Conv1D
        super.init()
        register("base_layer", base)
        register("lora_A", Module())
        register("lora_B", Module())
    }

    public func loraA(_ name: String) -> Linear { child("lora_A", as: Module.self).child(name, as: Linear.self) }
    public func loraB(_ name: String) -> Linear { child("lora_B", as: Module.self).child(name, as: Linear.self) }
    public func magnitude(_ name: String) -> Tensor? {
        child("lora_magnitude_vector")?.child(name)?.parameter("weight")
    }

    /// Adds adapter `name` with rank r; A and B initialised per `initialization` from `generator`.
    public func addAdapter(_ name: String, rank r: Int, scaling: Double, dropout: Double, useDoRA: Bool,
                           initialization: LoRAConfig.Initialization, generator gen: inout SeededGenerator) throws {
        let a = Linear(inFeatures: inFeatures, outFeatures: r, bias: false)
        let b = Linear(inFeatures: r, outFeatures: outFeatures, bias: false)
        // nn.Linear's default init: kaiming_uniform(a=√5) → U(−1/√fan_in, 1/√fan_in).
        let boundA = 1 / Float(inFeatures).squareRoot(), boundB = 1 / Float(r).squareRoot()
        switch initialization {
        case .kaiming, .pissa:
            try a.setParameter(at: "weight", .uniform([r, inFeatures], low: -boundA, high: boundA, generator: &gen))
        case .gaussian:
            try a.setParameter(at: "weight", .normal([r, inFeatures], std: 1 / Float(r), generator: &gen))
        case .random:
            try a.setParameter(at: "weight", .uniform([r, inFeatures], low: -boundA, high: boundA, generator: &gen))
            try b.setParameter(at: "weight", .uniform([outFeatures, r], low: -boundB, high: boundB, generator: &gen))
        }
        child("lora_A", as: Module.self).register(name, a)
        child("lora_B", as: Module.self).register(name, b)
        adapters[name] = Adapter(scaling: Float(scaling), dropout: Float(dropout), useDoRA: useDoRA)
        if initialization == .pissa { try initializePiSSA(name, rank: r, scaling: Float(scaling)) }
        if useDoRA {
            if child("lora_magnitude_vector") == nil { register("lora_magnitude_vector", Module()) }
            let holder = Module()
            holder.register(parameter: "weight", GradMode.withoutGrad { rowNorms(name) })
            child("lora_magnitude_vector", as: Module.self).register(name, holder)
        }
        if !activeAdapters.contains(name) && activeAdapters.isEmpty { activeAdapters = [name] }
    }

    public func deleteAdapter(_ name: String) {
        precondition(!mergedAdapters.contains(name), "unmerge adapter '\(name)' before deleting it")
        adapters[name] = nil
        activeAdapters.removeAll { $0 == name }
        for holder in ["lora_A", "lora_B", "lora_magnitude_vector"] { child(holder)?.unregister(name) }
    }

    /// The adapter's weight delta in the base weight's layout: scale · B·A, (out, in) — or (in, out) for Conv1D.
    public func delta(_ name: String) -> Tensor {
        let s = adapters[name]!.scaling
        let ba = loraB(name).weight.matmul(loraA(name).weight) * s
        return fanInFanOut ? ba.transposed2D() : ba
    }

    /// ‖W + scale·BA‖ over each output row, the W used by DoRA (outside the graph).
    func rowNorms(_ name: String) -> Tensor {
        GradMode.withoutGrad {
            let w = base.weightTensor.adding(delta(name))
            let rows = fanInFanOut ? w.transposed2D() : w
            let (n, d) = (rows.shape[0], rows.shape[1])
            let out = Tensor(zeros: [n])
            for i in 0..<n {
                var s: Double = 0
                for j in 0..<d { let v = Double(rows.data[i * d + j]); s += v * v }
                out.data[i] = Float(s.squareRoot())
            }
            return out
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let routing = rowRouting, !isTraining, !disabled {
            // Serving: each batch row gets its own adapters (LoRARowRouting), never the fused single-adapter path.
            let y = base(x)
            addRoutedDeltas(x, into: y, routing: routing)
            return y
        }
        if let fused = fusedForward(x) { return fused }
        let y = base(x)
        if disabled { return y }
        return Profiler.scoped(.lora) { addingAdapters(to: y, input: x) }
    }

    /// The common case — one active, unmerged plain LoRA adapter over a Linear or Conv1D — as the single fused op
    /// `loraLinear` (no adapter-sized temporaries, dropout mask redrawn in backward instead of stored).
    private func fusedForward(_ x: Tensor) -> Tensor? {
        guard !disabled, activeAdapters.count == 1, let name = activeAdapters.first, !mergedAdapters.contains(name),
              let adapter = adapters[name], !adapter.useDoRA, base is Linear || base is Conv1D
        else { return nil }
        if let frozen = (base as? Linear)?.frozenWeight {  // bf16 or quantized blocks: products panel by panel
            return loraLinear(x, frozen: frozen, bias: base.biasTensor, loraA: loraA(name).weight,
                              loraB: loraB(name).weight, scale: adapter.scaling,
                              dropout: isTraining ? adapter.dropout : 0, generator: &generator)
        }
        return loraLinear(x, weight: base.weightTensor, weightIsInputMajor: fanInFanOut, bias: base.biasTensor,
                          loraA: loraA(name).weight, loraB: loraB(name).weight, scale: adapter.scaling,
                          dropout: isTraining ? adapter.dropout : 0, generator: &generator)
    }

    /// y plus every active, unmerged adapter's contribution for input x.
    private func addingAdapters(to baseOutput: Tensor, input x: Tensor) -> Tensor {
        var y = baseOutput
        for name in activeAdapters where !mergedAdapters.contains(name) {
            guard let adapter = adapters[name] else { continue }
            let xd = isTraining && adapter.dropout > 0 ? x.dropout(adapter.dropout, generator: &generator) : x
            let lora = loraB(name)(loraA(name)(xd))
            if adapter.useDoRA, let m = magnitude(name) {
                // PEFT: mag_norm_scale = m / ‖W + s·BA‖ (norm detached); base_result excludes the bias.
                let scale = m * Tensor(rowNorms(name).scalars.map { 1 / $0 }, shape: [outFeatures])
                // With dropout active PEFT recomputes the base term from the dropped-out input.
                let baseNoBias = xd === x ? (base.biasTensor.map { y - $0 } ?? y)
                    : (fanInFanOut ? xd.matmul(base.weightTensor) : xd.linear(base.weightTensor))
                y = y + baseNoBias * (scale - Tensor(filled: 1, shape: [outFeatures])) + lora * (scale * adapter.scaling)
            } else {
                y = y + lora * adapter.scaling
            }
        }
        return y
    }
}

extension Module {
    /// Removes the child `name` (deleting an adapter's A/B).
    func unregister(_ name: String) { removeChild(name) }
}

extension LinearLayer {
    /// The base weight tensor, whatever the layer's layout (a widened copy when it is stored frozen in bf16).
    var weightTensor: Tensor { parameter("weight") ?? (self as? Linear)!.weight }
    var biasTensor: Tensor? { parameter("bias") }
}

extension Tensor {
    /// The transpose of a matrix, copied, outside the graph.
    func transposed2D() -> Tensor {
        let (r, c) = (shape[0], shape[1])
        let out = Tensor(zeros: [c, r])
        for i in 0..<r { for j in 0..<c { out.data[j * r + i] = data[i * c + j] } }
        return out
    }
}
