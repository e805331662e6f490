import Foundation
import ArchitectureKit
import ModelFormats
import TensorCore

/// Writes a model as a Hugging Face checkpoint directory (config.json + model.safetensors) that
/// transformers' from_pretrained loads: HF parameter names, tied parameters written once (transformers re-ties).
public enum MergedModelWriter {
    /// `lorakit merge`: loads `reference` with the head the adapter was trained for (task_type SEQ_CLS → the
    /// sequence-classification head with config.json's label count; otherwise causal LM), applies the PEFT adapter in
    /// `adapter`, merges and unloads it (PEFT's merge_and_unload), and writes the result to `directory`.
    /// Returns the adapter's config.
    @discardableResult
    public static func merge(model reference: String, adapter: URL, to directory: URL, force: Bool = false,
                             registry: ArchitectureRegistry = .shared) throws -> LoRAConfig {
        // Refuse before the minutes of loading and merging, not after (and after putting back what a killed merge
        // had renamed aside).
        OutputPaths.recoverInterruptedWrite(of: directory)
        try OutputPaths.checkTarget(directory, force: force)
        try OutputPaths.ensureWritableDirectory(directory.deletingLastPathComponent())
        try LoRAModel.checkAdapterDirectory(adapter)
        let adapterConfig = try LoRAConfig(contentsOf: adapter.appendingPathComponent("adapter_config.json"))
        var head = TaskHead.causalLM
        if adapterConfig.taskType == "SEQ_CLS" {
            let url = try ModelReference.resolve(reference).appendingPathComponent("config.json")
            let values = (try? ModelConfig(contentsOf: url))?.values ?? [:]
            let labels = (values["num_labels"] as? Int) ?? (values["id2label"] as? [String: Any])?.count ?? 2
            head = .sequenceClassification(numLabels: labels)
        }
        let loaded = try ModelLoader.load(reference, head: head, registry: registry)
        let lora = try LoRAModel.load(from: adapter, into: loaded.model, plugin: loaded.plugin)
        try lora.mergeAndUnload()
        try write(loaded.model, config: loaded.config, to: directory, force: force)
        return adapterConfig
    }

    /// Writes into a temporary sibling that is renamed over `directory`; an existing non-empty `directory` is
    /// refused unless `force`. A non-finite merged weight is an error: transformers would load a model that only
    /// outputs NaN.
    public static func write(_ model: any ArchitectureModel, config: ModelConfig, to directory: URL, force: Bool = false) throws {
        try OutputPaths.checkTarget(directory, force: force)
        let fm = FileManager.default
        for (path, tensor) in model.namedParameters() where !tensor.scalars.allSatisfy(\.isFinite) {
            throw LoRAError.nonFinite("merged parameter '\(path)' has NaN or infinite values (is the adapter or the base model corrupt?); nothing was written")
        }
        let staging = directory.deletingLastPathComponent().appendingPathComponent(".\(directory.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        let tied = Set(model.tiedParameters.keys)
        var seen = Set<String>()
        let tensors = model.namedParameters().filter { !tied.contains($0.path) && seen.insert($0.path).inserted }
            .map { SafetensorsTensor(name: $0.path, floats: $0.tensor.scalars, shape: $0.tensor.shape) }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: staging.appendingPathComponent("model.safetensors"))
        var values = config.values
        values["torch_dtype"] = "float32"
        do {
            try JSONSerialization.data(withJSONObject: values, options: [.prettyPrinted, .sortedKeys])
                .write(to: staging.appendingPathComponent("config.json"))
            try OutputPaths.replaceDirectory(directory, with: staging)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }
}
