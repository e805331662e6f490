import Foundation
import ArchitectureKit
import ModelFormats
import NN
import TensorCore

/// Hot loading for routed serving: a PEFT adapter directory straight into the model's LoRA layers, checked whole
/// before anything changes. Faster than `LoRAModel.loadAdapter` because serving needs none of its training state:
/// no random initialisation that the file then overwrites, one walk of the module tree instead of several, each
/// tensor copied once from the memory-mapped file with its finiteness checked in the same pass, and no
/// per-adapter bookkeeping that grows with the number of adapters already loaded.
extension LoRARowRouting {
    /// What a load will attach to one layer, built before the model is touched.
    struct Attachment {
        var path: String
        var module: Module
        var a: Tensor  // (rank, in)
        var b: Tensor  // (out, rank)
        var scaling: Float
    }

    /// Loads adapter `name` from `directory` into `model` and routes its layers through this object. Strict, as
    /// `LoRAModel.load`: every tensor the config implies must be in the file with the right shape, every tensor of
    /// the file must be used, values must be finite. Atomic: on any error the model is unchanged. Plain LoRA only
    /// (the caller refuses DoRA, biases, modules_to_save and PiSSA, which cannot be routed per row).
    public func loadAdapter(from directory: URL, as name: String, into model: any ArchitectureModel,
                            plugin: any ArchitecturePlugin.Type) throws {
        try LoRAModel.checkAdapterDirectory(directory)
        let configURL = directory.appendingPathComponent("adapter_config.json")
        let config = try LoRAConfig(contentsOf: configURL)
        try config.validate(source: configURL.path)
        let url = directory.appendingPathComponent("adapter_model.safetensors")
        let file = try SafetensorsFile(url: url)
        var attachments: [Attachment] = []
        var used = Set<String>()
        for (path, module) in model.namedModules() where !path.isEmpty && !LoRAModel.isInternal(path) {
            guard config.targets(path, defaultTargets: plugin.defaultTargetModules, outputHeads: plugin.outputHeadModules) else { continue }
            let linear: any LinearLayer
            if let wrapper = module as? LoRALinear {
                guard wrapper.adapters[name] == nil else {
                    throw LoRAError.badConfig("an adapter named '\(name)' is already loaded into '\(path)'")
                }
                linear = wrapper
            } else if let plain = module as? any LinearLayer, !(module is ModulesToSaveWrapper) {
                linear = plain
            } else {
                if case .names = config.targetModules ?? .names([]) {
                    throw LoRAError.notLinear("target module '\(path)' is a \(type(of: module)), not a linear layer; LoRA wraps linear layers only")
                }
                continue
            }
            let rank = try config.checkedRank(for: path, inFeatures: linear.inFeatures, outFeatures: linear.outFeatures)
            let key = "base_model.model." + path
            let a = try Self.read(file, key + ".lora_A.weight", shape: [rank, linear.inFeatures])
            let b = try Self.read(file, key + ".lora_B.weight", shape: [linear.outFeatures, rank])
            used.insert(key + ".lora_A.weight")
            used.insert(key + ".lora_B.weight")
            attachments.append(Attachment(path: path, module: module, a: a, b: b, scaling: Float(config.scaling(for: path))))
        }
        guard !attachments.isEmpty else {
            throw LoRAError.noTargets("target modules \(config.targetModules.map { "\($0)" } ?? "\(plugin.defaultTargetModules)") match no linear layer of the \(plugin.name) model")
        }
        if let extra = file.tensorNames.first(where: { !used.contains($0) }) {
            let count = file.tensorNames.filter { !used.contains($0) }.count
            throw LoRAError.adapterFile("\(url.path): \(count) tensor(s) match no adapter parameter of this model, e.g. '\(extra)'")
        }
        // Everything checked: from here on nothing can fail.
        for item in attachments {
            let wrapper: LoRALinear
            if let existing = item.module as? LoRALinear { wrapper = existing } else {
                wrapper = LoRALinear(wrapping: item.module as! any LinearLayer)
                model.replaceModule(at: item.path, with: wrapper)
            }
            wrapper.attachRouted(name, a: item.a, b: item.b, scaling: item.scaling)
            wrapper.rowRouting = self
        }
    }

    /// Removes adapter `name` from every LoRA layer of `model` (the layers stay wrapped, routing the others).
    public func unloadAdapter(_ name: String, from model: any ArchitectureModel) {
        for case let layer as LoRALinear in model.namedModules().map(\.module) where layer.adapters[name] != nil {
            layer.deleteAdapter(name)
        }
        forgetTransposed(name)
    }

    /// Tensor `key` of `file` as a new fp32 tensor of `shape`, finite; errors name the file, the tensor and what
    /// was expected.
    static func read(_ file: SafetensorsFile, _ key: String, shape: [Int]) throws -> Tensor {
        let path = file.url.path
        guard file.contains(key) else { throw LoRAError.adapterFile("\(path): missing tensor '\(key)'") }
        let found = try file.shape(key)
        guard found == shape else {
            throw LoRAError.adapterFile("\(path): tensor '\(key)' has shape \(found), the model expects \(shape)")
        }
        let count = shape.reduce(1, *)
        let tensor = Tensor(shape: shape, storage: Storage(count: count, zeroed: false))
        let out = tensor.data
        if try file.dtype(key) == .F32 {
            // The common case: one pass over the mapped bytes, copying and checking together.
            let raw = try file.bytes(key)
            var finite = true
            for i in 0..<count {
                let v = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                out[i] = v
                finite = finite && v.isFinite
            }
            if finite { return tensor }
        } else {
            let values = try file.floats(key)  // widened from F16/BF16 or narrowed from F64 by the reader
            out.update(from: values, count: count)
        }
        if let bad = (0..<count).first(where: { !out[$0].isFinite }) {
            // PyTorch would load it, but every logit would be NaN.
            throw LoRAError.nonFinite("\(path): tensor '\(key)' holds \(out[bad]) at element \(bad); the adapter is corrupt")
        }
        return tensor
    }
}

extension LoRALinear {
    /// Adds a plain LoRA adapter with given weights, for routed inference only (it is not made active: the routed
    /// forward reads `LoRARowRouting`'s rows, not `activeAdapters`).
    func attachRouted(_ name: String, a: Tensor, b: Tensor, scaling: Float) {
        func holder(_ weight: Tensor) -> Linear {
            let layer = Linear(inFeatures: 0, outFeatures: 0, bias: false)  // no weight-sized zeros to throw away
            layer.register(parameter: "weight", weight)
            return layer
        }
        child("lora_A", as: Module.self).register(name, holder(a))
        child("lora_B", as: Module.self).register(name, holder(b))
        adapters[name] = Adapter(scaling: scaling, dropout: 0, useDoRA: false)
    }
}
