import Foundation
import ModelFormats
import NN
import TensorCore

/// A model built by its plugin with its weights, plus what tokenizers and templates need from the same files.
public struct LoadedModel {
    public let plugin: any ArchitecturePlugin.Type
    public let config: ModelConfig
    public let model: any ArchitectureModel
    /// The file or directory the weights came from.
    public let location: URL
    /// GGUF metadata when loaded from a GGUF file (tokenizer, chat template).
    public let ggufMetadata: GGUFMetadata?
    /// The directory holding tokenizer.json / tokenizer_config.json when loaded from a directory.
    public var directory: URL? { ggufMetadata == nil ? location : nil }
}

/// Loads a model reference (directory with config.json + safetensors, a .gguf file, or an alias) through the
/// registry's plugin for its architecture.
public enum ModelLoader {
    public static func load(_ reference: String, head: TaskHead = .causalLM, registry: ArchitectureRegistry = .shared) throws -> LoadedModel {
        try load(reference, head: Optional(head), quantization: .none, registry: registry)
    }

    /// Loads with frozen Linear weights and embeddings stored as `quantization` asks (QuantizedLoading).
    public static func load(_ reference: String, head: TaskHead = .causalLM, quantization: WeightQuantization,
                            registry: ArchitectureRegistry = .shared) throws -> LoadedModel {
        try load(reference, head: Optional(head), quantization: quantization, registry: registry)
    }

    /// Loads with the causal-LM head when the architecture has one, else the bare model (an encoder such as BERT),
    /// for commands that only look at the model (`inspect`).
    public static func loadWithNaturalHead(_ reference: String, registry: ArchitectureRegistry = .shared) throws -> LoadedModel {
        try load(reference, head: nil, quantization: .none, registry: registry)
    }

    public static func loadWithNaturalHead(_ reference: String, quantization: WeightQuantization,
                                           registry: ArchitectureRegistry = .shared) throws -> LoadedModel {
        try load(reference, head: nil, quantization: quantization, registry: registry)
    }

    static func load(_ reference: String, head: TaskHead?, quantization: WeightQuantization = .none,
                     registry: ArchitectureRegistry) throws -> LoadedModel {
        let url = try ModelReference.resolve(reference)
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        let loaded = isDirectory.boolValue ? try loadDirectory(url, head: head, quantization: quantization, registry: registry)
                                           : try loadGGUF(url, head: head, quantization: quantization, registry: registry)
        Tensor.releaseCachedBuffers()  // conversion buffers are not needed again
        return loaded
    }

    static func loadDirectory(_ dir: URL, head: TaskHead?, quantization: WeightQuantization = .none,
                              registry: ArchitectureRegistry) throws -> LoadedModel {
        let configURL = dir.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configURL.path) else { throw ModelLoadingError.missingConfig(dir.path) }
        var config = try ModelConfig(contentsOf: configURL)
        guard let type = config.modelType else { throw ArchitectureError.badConfig("\(configURL.path): missing \"model_type\"") }
        let (plugin, declaration) = try registry.resolve(modelType: type)
        if let declaration { config = try declaration.apply(to: config) }
        let head = head ?? (plugin.supports(.causalLM) ? .causalLM : .base)
        let checkpoint = try SafetensorsCheckpoint(directory: dir)
        try config.checkLayerCount(against: checkpoint.tensorNames, file: dir.path)
        let model = try plugin.makeModel(config: config, head: head)
        for suffix in declaration?.removeParameters ?? [] {
            for (path, _) in model.namedParameters() where path.hasSuffix("." + suffix) || path == suffix { model.removeParameter(at: path) }
        }
        // quantization: Linear weights and embeddings quantized tensor by tensor (QuantizedLoading), the rest below.
        let quantized = try QuantizedLoading.install(into: model, plugin: plugin, available: Set(checkpoint.tensorNames), source: dir.path) { name in
            let shape = try checkpoint.info(name).shape
            guard quantization != .none, quantization != .keep, shape.count == 2 else { return nil }
            return try checkpoint.floats(name).withUnsafeBufferPointer {
                QuantizedLoading.quantize($0.baseAddress!, rows: shape[0], columns: shape[1], as: quantization)
            }
        }
        try loadWeights(into: model, plugin: plugin, config: config, names: checkpoint.tensorNames.filter { !quantized.contains($0) }, source: dir.path) { name in
            Tensor(try checkpoint.floats(name), shape: try checkpoint.info(name).shape)
        }
        return LoadedModel(plugin: plugin, config: config, model: model, location: dir, ggufMetadata: nil)
    }

    /// Sizes from GGUF metadata are only as good as the tensors behind them, and the model is allocated from the
    /// metadata before strict loading can notice missing tensors: a block_count of 100000 in a small file would
    /// grow to 24 GB. llama.cpp names every per-layer tensor `blk.N.…` and the embedding `token_embd.weight`, so
    /// the layer count is bounded by the blocks present and the embedding sizes by that tensor's shape.
    static func checkSizes(_ config: ModelConfig, against file: GGUFFile) throws {
        let path = file.url.path
        if let layers = try? config.int("num_hidden_layers") {
            var blocks = Set<Int>()
            for name in file.tensorNames where name.hasPrefix("blk.") {
                if let n = Int(name.dropFirst(4).prefix { $0 != "." }) { blocks.insert(n) }
            }
            guard layers >= 0, layers <= blocks.count else {
                throw ModelLoadingError.unsupported("\(path): the metadata gives \(layers) layers (block_count) but the "
                                                    + "file holds tensors for \(blocks.count) (blk.N.*): a corrupt or truncated GGUF")
            }
        }
        if let info = try? file.info("token_embd.weight"), info.shape.count == 2 {
            for (key, size) in [("vocab_size", info.shape[0]), ("hidden_size", info.shape[1])] {
                if let value = try? config.int(key), value != size {
                    throw ModelLoadingError.unsupported("\(path): the metadata gives \(key) \(value) but token_embd.weight "
                                                        + "is \(info.shape[0])×\(info.shape[1])")
                }
            }
        }
    }

    static func loadGGUF(_ url: URL, head: TaskHead?, quantization: WeightQuantization = .none,
                         registry: ArchitectureRegistry) throws -> LoadedModel {
        let file = try GGUFFile(url: url)
        guard let arch = file.metadata["general.architecture"]?.string else {
            throw ModelLoadingError.unsupported("\(url.path): GGUF without general.architecture")
        }
        let plugin = try registry.plugin(forGGUFArchitecture: arch)
        let head = head ?? (plugin.supports(.causalLM) ? .causalLM : .base)
        var config = try plugin.config(fromGGUF: file.metadata)
        try checkSizes(config, against: file)
        // Weights are tied exactly when the file has no separate output matrix.
        if config.values["tie_word_embeddings"] != nil {
            config.values["tie_word_embeddings"] = !file.tensorNames.contains { plugin.hfTensor(forGGUF: $0, config: config)?.path == "lm_head.weight" }
        }
        try config.checkLayerCount(against: file.tensorNames, file: url.path)
        let model = try plugin.makeModel(config: config, head: head)
        var byPath: [String: (String, GGUFTensorMapping)] = [:]
        for name in file.tensorNames {
            guard let mapping = plugin.hfTensor(forGGUF: name, config: config) else {
                if name.hasPrefix("rope_freqs") { continue }  // llama.cpp's precomputed rotary table: derived, not a weight
                throw ModelLoadingError.unknownTensor(file: url.path, tensor: name)
            }
            byPath[mapping.path] = (name, mapping)
        }
        // quantization: keep borrows the file's blocks; nf4/q8_0/q4_0 quantize each dequantized tensor (QuantizedLoading).
        let quantized = try QuantizedLoading.install(into: model, plugin: plugin, available: Set(byPath.keys), source: url.path) { path in
            guard quantization != .none, let (name, mapping) = byPath[path] else { return nil }
            if quantization == .keep {
                // Blocks run along the input dimension: only whole-row moves (the rotary un-permutation) keep them.
                guard !mapping.transposed, mapping.groupedQKV == nil else { return nil }
                return try QuantizedLoading.keptBlocks(file, tensor: name, rotaryHeads: mapping.undoRotaryPermutation)
            }
            let info = try file.info(name)
            guard info.shape.count == 2 else { return nil }
            let (values, shape) = mapping.movesElements ? try mapping.rearrange(try file.floats(name), shape: info.shape, .fromGGUF)
                                                        : (try file.floats(name), info.shape)
            return values.withUnsafeBufferPointer {
                QuantizedLoading.quantize($0.baseAddress!, rows: shape[0], columns: shape[1], as: quantization)
            }
        }
        try loadWeights(into: model, plugin: plugin, config: config, names: byPath.keys.filter { !quantized.contains($0) }, source: url.path) { path in
            guard let (name, mapping) = byPath[path] else { throw ModelLoadingError.unsupported("\(url.path): no tensor for \(path)") }
            let info = try file.info(name)
            guard mapping.movesElements else {
                // Straight into the tensor's storage: no array copy (the embedding alone is 113 MB in Float32).
                let t = Tensor(shape: info.shape, storage: Storage(count: info.shape.reduce(1, *), zeroed: false))
                try file.dequantize(name, into: t.data)
                return t
            }
            let (values, shape) = try mapping.rearrange(try file.floats(name), shape: info.shape, .fromGGUF)
            return Tensor(values, shape: shape)
        }
        return LoadedModel(plugin: plugin, config: config, model: model, location: url, ggufMetadata: file.metadata)
    }

    /// Strict: every parameter of the model gets a weight (tied ones from their source), every weight a parameter.
    /// Two exceptions, as transformers: a classification head missing from a base checkpoint is initialised
    /// (normal(0, initializer_range), zero bias) with a note on stderr, and known buffers are skipped.
    static func loadWeights(into model: any ArchitectureModel, plugin: any ArchitecturePlugin.Type, config: ModelConfig,
                            names: [String], source: String, _ read: (String) throws -> Tensor) throws {
        let available = Set(names)
        let paths = model.namedParameters().map(\.path)
        // Map parameter paths to checkpoint keys across transformers' base_model_prefix.
        var keyFor: [String: String] = [:]
        for path in paths {
            if available.contains(path) { keyFor[path] = path; continue }
            guard let prefix = plugin.baseModelPrefix else { continue }
            if path.hasPrefix(prefix + "."), available.contains(String(path.dropFirst(prefix.count + 1))) {
                keyFor[path] = String(path.dropFirst(prefix.count + 1))
            } else if available.contains(prefix + "." + path) {
                keyFor[path] = prefix + "." + path
            }
        }
        let used = Set(keyFor.values)
        let ignorable = { (k: String) in k.hasSuffix(".inv_freq") || k.hasSuffix("position_ids") || plugin.ignoredCheckpointSuffixes.contains { k.hasSuffix($0) } }
        var unused = available.subtracting(used).filter { !ignorable($0) }
        // A checkpoint with a head loaded as the bare model: the head's tensors are not used (AutoModel does the same).
        if model.head == .base, let head = plugin.classificationHeadModule { unused = unused.filter { !$0.hasPrefix(head + ".") } }
        // Tied copies (a checkpoint may store lm_head too) and output heads of another task (an lm_head when
        // loading for classification) are not this model's weights either.
        unused = unused.filter { key in
            !model.tiedParameters.keys.contains(key)
                && !(model.head != .causalLM && plugin.outputHeadModules.contains { key.hasPrefix($0 + ".") })
        }
        if !unused.isEmpty { throw ModuleError.unusedWeights(unused.sorted()) }
        var optional = Set(model.tiedParameters.keys)
        var fresh: [String] = []
        if let head = plugin.classificationHeadModule {
            for path in paths where path.hasPrefix(head + ".") && keyFor[path] == nil { optional.insert(path); fresh.append(path) }
        }
        try model.loadWeights(optional: optional) { path in
            guard let key = keyFor[path] else { return nil }
            // The zero placeholder each loaded tensor replaces goes back to the buffer pool; return it to the system
            // now, or loading peaks at twice the model's size (1.2 GB for SmolLM2-135M instead of 0.6).
            Tensor.releaseCachedBuffers()
            do { return try read(key) } catch { throw ModelLoadingError.unsupported("\(source): \(key): \(error)") }
        }
        // A tied target already sharing a quantized frozen weight is no parameter any more (QuantizedLoading).
        for (target, origin) in model.tiedParameters where keyFor[target] == nil && paths.contains(target) { try model.tie(target, to: origin) }
        if !fresh.isEmpty {
            var gen = SeededGenerator(seed: 42)
            let std = Float(try config.double("initializer_range", default: 0.02))
            for path in fresh {
                guard let shape = model.namedParameters().first(where: { $0.path == path })?.tensor.shape else { continue }
                try model.setParameter(at: path, path.hasSuffix(".bias") ? Tensor(zeros: shape) : .normal(shape, std: std, generator: &gen))
            }
            FileHandle.standardError.write(Data("note: \(fresh.joined(separator: ", ")) not in \(source); initialised for training\n".utf8))
        }
    }
}
