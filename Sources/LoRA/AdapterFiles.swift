import Foundation
import ArchitectureKit
import ModelFormats
import NN
import TensorCore

/// PEFT's file layout: adapter_config.json + adapter_model.safetensors with keys `base_model.model.<path>` where
/// the adapter name is removed (`….lora_A.weight`, `….lora_magnitude_vector`, a modules_to_save head as `<path>.weight`,
/// trained biases as `<path>.base_layer.bias`).
extension LoRAModel {
    /// The PEFT key of every tensor that belongs to adapter `name`, with the tensor, selected as PEFT's
    /// get_peft_model_state_dict selects them: the LoRA layers' own tensors, the trained biases (bias "all": every
    /// parameter named `….bias`; "lora_only": `<lora module>.base_layer.bias`), each modules_to_save copy as
    /// `<head>.<parameter>`; then the adapter name is removed from each key (`lora_A.<name>.weight` → `lora_A.weight`,
    /// DoRA's `lora_magnitude_vector.<name>.weight` → `lora_magnitude_vector`) and `base_model.model.` prepended.
    public func adapterTensors(_ name: String) -> [(key: String, tensor: Tensor)] {
        let others = adapterNames.filter { $0 != name }
        let parameters = model.namedParameters().filter { entry in
            !others.contains { entry.path.contains(".\($0).") || entry.path.hasSuffix(".\($0)") }
        }
        var selected: [(String, Tensor)] = []
        var seen = Set<String>()
        func add(_ path: String, _ t: Tensor) { if seen.insert(path).inserted { selected.append((path, t)) } }
        let loraPrefixes = loraLayers.map { $0.path + "." }
        let tunerParts = [".lora_A.", ".lora_B.", ".lora_magnitude_vector."]
        for (path, t) in parameters where loraPrefixes.contains(where: { path.hasPrefix($0) })
            && tunerParts.contains(where: { path.contains($0) }) {
            add(path, t)
        }
        switch configs[name]?.bias ?? .none {
        case .none: break
        case .all: for (path, t) in parameters where path == "bias" || path.hasSuffix(".bias") { add(path, t) }
        case .loraOnly:
            let byPath = Dictionary(parameters.map { ($0.path, $0.tensor) }, uniquingKeysWith: { a, _ in a })
            for (path, _) in loraLayers { if let b = byPath[path + ".base_layer.bias"] { add(path + ".base_layer.bias", b) } }
        }
        for (path, wrapper) in savedModules {
            guard let copy = wrapper.copy(name) else { continue }
            for (p, t) in copy.namedParameters() { add(path + "." + p, t) }
        }
        return selected.map { ("base_model.model." + Self.removingAdapterName(name, from: $0.0), $0.1) }
    }

    /// PEFT's _remove_adapter_name_from_state_dict_key, after LoRA's DoRA rename: the adapter name is removed only
    /// where it is a whole key segment before the parameter name (or at the very end), never inside a module name.
    static func removingAdapterName(_ name: String, from key: String) -> String {
        var key = key
        if key.hasSuffix("lora_magnitude_vector.\(name).weight") { key.removeLast(".weight".count) }
        guard key.contains(".") else { return key }
        if key.hasSuffix(".\(name)") { return String(key.dropLast(name.count + 1)) }
        let dot = key.lastIndex(of: ".")!
        var head = String(key[..<dot])
        if head.hasSuffix(".\(name)") { head.removeLast(name.count + 1) }
        return head + key[dot...]
    }

    /// Writes adapter `name` (default: the active one) as PEFT's save_pretrained does: the default adapter in
    /// `directory`, any other in `directory/<name>/`. Written to a temporary folder, then renamed into place.
    public func save(to directory: URL, adapter: String? = nil) throws {
        let name = adapter ?? activeAdapter
        guard var config = configs[name] else { throw LoRAError.unknownAdapter(name) }
        config.inferenceMode = true
        let target = name == "default" ? directory : directory.appendingPathComponent(name)
        let fm = FileManager.default
        try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let staging = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        // A failed save (a full disk) must not leave its staging folder behind.
        var done = false
        defer { if !done { try? fm.removeItem(at: staging) } }
        let tensors = adapterTensors(name).map { SafetensorsTensor(name: $0.key, floats: $0.tensor.scalars, shape: $0.tensor.shape) }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: staging.appendingPathComponent("adapter_model.safetensors"))
        try config.jsonData().write(to: staging.appendingPathComponent("adapter_config.json"))
        // Keep what else a previous save left there (README, subfolders of other adapters) but swap the two files.
        if fm.fileExists(atPath: target.path) {
            for file in ["adapter_model.safetensors", "adapter_config.json"] {
                // rename(2) replaces the old file atomically (same directory tree, same filesystem).
                guard rename(staging.appendingPathComponent(file).path, target.appendingPathComponent(file).path) == 0 else {
                    throw LoRAError.adapterFile("cannot replace \(target.appendingPathComponent(file).path): errno \(errno)")
                }
            }
            try? fm.removeItem(at: staging)
        } else {
            try OutputPaths.rename(staging, target)
        }
        done = true
    }

    /// Loads a PEFT adapter directory into `model` (a new LoRAModel), strictly: every tensor the config implies must
    /// be in the file with the right shape, and every tensor of the file must be used.
    public static func load(from directory: URL, into model: any ArchitectureModel, plugin: any ArchitecturePlugin.Type,
                            adapterName: String = "default") throws -> LoRAModel {
        try checkAdapterDirectory(directory)
        let config = try LoRAConfig(contentsOf: directory.appendingPathComponent("adapter_config.json"))
        let lora = try LoRAModel(model: model, plugin: plugin, config: config, adapterName: adapterName)
        try lora.loadWeights(from: directory, adapter: adapterName)
        return lora
    }

    /// Adds adapter `name` from a PEFT directory to this model.
    public func loadAdapter(from directory: URL, as name: String) throws {
        try Self.checkAdapterDirectory(directory)
        let config = try LoRAConfig(contentsOf: directory.appendingPathComponent("adapter_config.json"))
        try addAdapter(name, config: config)
        try loadWeights(from: directory, adapter: name)
    }

    func loadWeights(from directory: URL, adapter name: String) throws {
        let url = directory.appendingPathComponent("adapter_model.safetensors")
        let file = try SafetensorsFile(url: url)
        let expected = adapterTensors(name)
        let wanted = Set(expected.map(\.key))
        let extra = file.tensorNames.filter { !wanted.contains($0) }
        guard extra.isEmpty else {
            throw LoRAError.adapterFile("\(url.path): \(extra.count) tensor(s) match no adapter parameter of this model, e.g. '\(extra[0])'")
        }
        for (key, tensor) in expected {
            guard file.contains(key) else { throw LoRAError.adapterFile("\(url.path): missing tensor '\(key)'") }
            let shape = try file.shape(key)
            guard shape == tensor.shape else {
                throw LoRAError.adapterFile("\(url.path): tensor '\(key)' has shape \(shape), the model expects \(tensor.shape)")
            }
            let values = try file.floats(key)
            // PyTorch would load it, but every logit would be NaN: generate printed NUL bytes and merge wrote a NaN model.
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw LoRAError.nonFinite("\(url.path): tensor '\(key)' holds \(values[bad]) at element \(bad); the adapter is corrupt")
            }
            tensor.data.update(from: values, count: values.count)
        }
    }
}
