import Foundation
import NN
import TensorCore

extension ModelLoader {
    /// A model of `config.json`'s shapes with seeded random weights (`bench train --random-weights`): memory and speed
    /// at scale without a download. Linear weights and embeddings are normal(0, initializer_range); norms keep their
    /// ones and biases their zeros. Quantized, each weight is drawn and quantized on its own and its fp32 draw freed,
    /// so the model never exists in fp32 (the zero placeholders are untouched mapped pages until written).
    public static func loadRandom(config url: URL, quantization: WeightQuantization = .none, seed: UInt64 = 0,
                                  registry: ArchitectureRegistry = .shared) throws -> LoadedModel {
        var config = try ModelConfig(contentsOf: url)
        guard let type = config.modelType else { throw ArchitectureError.badConfig("\(url.path): missing \"model_type\"") }
        let (plugin, declaration) = try registry.resolve(modelType: type)
        if let declaration { config = try declaration.apply(to: config) }
        let model = try plugin.makeModel(config: config, head: .causalLM)
        for suffix in declaration?.removeParameters ?? [] {
            for (path, _) in model.namedParameters() where path.hasSuffix("." + suffix) || path == suffix { model.removeParameter(at: path) }
        }
        let std = Float(try config.double("initializer_range", default: 0.02))
        var generator = SeededGenerator(seed: seed)
        let tiedTargets = Set(model.tiedParameters.keys)
        var frozenByPath: [String: FrozenWeight] = [:]
        for (path, module) in QuantizedLoading.candidates(model) where !tiedTargets.contains(path) {
            guard let shape = module.parameter("weight")?.shape, shape.count == 2 else { continue }
            let w = Tensor.normal(shape, std: std, generator: &generator)
            if let frozen = QuantizedLoading.quantize(w.data, rows: shape[0], columns: shape[1], as: quantization) {
                if let linear = module as? Linear { linear.install(frozen: frozen) } else { (module as? Embedding)?.install(frozen: frozen) }
                frozenByPath[path] = frozen
            } else {
                try model.setParameter(at: path, w)
            }
            Tensor.releaseCachedBuffers()  // the fp32 draw and the placeholder it replaced go back to the system
        }
        for (target, origin) in model.tiedParameters {
            if let frozen = frozenByPath[origin], let module = model.namedModules().first(where: { $0.path + ".weight" == target })?.module {
                if let linear = module as? Linear { linear.install(frozen: frozen) } else { (module as? Embedding)?.install(frozen: frozen) }
            } else {
                try model.tie(target, to: origin)
            }
        }
        return LoadedModel(plugin: plugin, config: config, model: model, location: url, ggufMetadata: nil)
    }
}

/// What a model's weights take in memory, by storage (`inspect`, `bench train`, the training log).
public struct WeightMemory: CustomStringConvertible {
    /// Storage name ("fp32", "Q4_1", "NF4", …) → (tensors, bytes). A weight shared by tied layers counts once.
    public var byStorage: [String: (tensors: Int, bytes: Int)] = [:]
    public var totalBytes: Int { byStorage.values.reduce(0) { $0 + $1.bytes } }

    public init(_ model: Module) {
        var seen = Set<ObjectIdentifier>()
        for (_, t) in model.namedParameters() where seen.insert(ObjectIdentifier(t)).inserted {
            byStorage["fp32", default: (0, 0)].tensors += 1
            byStorage["fp32", default: (0, 0)].bytes += t.count * 4
        }
        for (_, module) in model.namedModules() {
            let frozen = (module as? Linear)?.frozenWeight ?? (module as? Embedding)?.frozenWeight
            guard let frozen, seen.insert(ObjectIdentifier(frozen)).inserted else { continue }
            byStorage[frozen.storageName, default: (0, 0)].tensors += 1
            byStorage[frozen.storageName, default: (0, 0)].bytes += frozen.byteCount
        }
    }

    public var description: String {
        let mb = { (b: Int) in String(format: "%.1f MB", Double(b) / 1e6) }
        let parts = byStorage.sorted { $0.value.bytes > $1.value.bytes }.map { "\($0.key) \($0.value.tensors) tensors \(mb($0.value.bytes))" }
        return "weights \(mb(totalBytes)) (" + parts.joined(separator: ", ") + ")"
    }
}
