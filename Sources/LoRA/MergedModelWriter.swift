import Foundation
import ArchitectureKit
import NN
import ModelFormats
import TensorCore

/// Writes a model as a Hugging Face checkpoint directory (config.json + model.safetensors) that
/// transformers' from_pretrained loads: HF parameter names, tied parameters written once (transformers re-ties).
public enum MergedModelWriter {
    /// The floating-point type the merged checkpoint is written in (`lorakit merge --dtype`).
    public enum DType: String, CaseIterable, Sendable {
        case f32, bf16, f16

        /// config.json's torch_dtype.
        public var torchName: String {
            switch self { case .f32: return "float32"; case .bf16: return "bfloat16"; case .f16: return "float16" }
        }
    }

    /// `lorakit merge`: loads `reference` with the head the adapter was trained for (task_type SEQ_CLS → the
    /// sequence-classification head with config.json's label count; otherwise causal LM), applies the PEFT adapter in
    /// `adapter`, merges and unloads it (PEFT's merge_and_unload), and writes the result to `directory` in `dtype`.
    /// `quantization` loads the base as training did (an adapter trained on an NF4 base is merged into the NF4
    /// weights, dequantized): targeted weights are widened to fp32 and merged, the others are dequantized as they
    /// are written. Returns the adapter's config.
    @discardableResult
    public static func merge(model reference: String, adapter: URL, to directory: URL, force: Bool = false,
                             quantization: WeightQuantization = .none, dtype: DType = .f32,
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
        let loaded = try ModelLoader.load(reference, head: head, quantization: quantization, registry: registry)
        let lora = try LoRAModel.load(from: adapter, into: loaded.model, plugin: loaded.plugin)
        try lora.mergeAndUnload()
        try write(loaded.model, config: loaded.config, to: directory, force: force, dtype: dtype)
        return adapterConfig
    }

    /// Writes into a temporary sibling that is renamed over `directory`; an existing non-empty `directory` is
    /// refused unless `force`. Weights still stored frozen (quantized, bf16) are dequantized one tensor at a time as
    /// they are written. A non-finite merged weight is an error (transformers would load a model that only outputs
    /// NaN), and so is a finite one that f16 cannot hold: both name the tensor, and nothing is written.
    public static func write(_ model: any ArchitectureModel, config: ModelConfig, to directory: URL, force: Bool = false,
                             dtype: DType = .f32) throws {
        try OutputPaths.checkTarget(directory, force: force)
        let fm = FileManager.default
        let tied = Set(model.tiedParameters.keys)
        var seen = Set<String>()
        var tensors: [SafetensorsTensor] = []
        for (path, tensor) in model.namedParameters() where !tied.contains(path) && seen.insert(path).inserted {
            tensors.append(try encode(tensor, name: path, as: dtype))
        }
        for (path, module) in model.namedModules() {
            let frozen = (module as? Linear)?.frozenWeight ?? (module as? Embedding)?.frozenWeight
            let name = (path.isEmpty ? "" : path + ".") + "weight"
            guard let frozen, !tied.contains(name), seen.insert(name).inserted else { continue }
            tensors.append(try encode(frozen.dequantized(), name: name, as: dtype))
        }
        let staging = directory.deletingLastPathComponent().appendingPathComponent(".\(directory.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        var values = config.values
        values["torch_dtype"] = dtype.torchName
        // transformers ≥ 4.56 writes the same under "dtype" (and prefers it when both are there).
        if values["dtype"] != nil { values["dtype"] = dtype.torchName }
        do {
            try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: staging.appendingPathComponent("model.safetensors"))
            try JSONSerialization.data(withJSONObject: values, options: [.prettyPrinted, .sortedKeys])
                .write(to: staging.appendingPathComponent("config.json"))
            try OutputPaths.replaceDirectory(directory, with: staging)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    /// One tensor in `dtype`, rounded to nearest even as torch's `.to(dtype)`.
    static func encode(_ tensor: Tensor, name: String, as dtype: DType) throws -> SafetensorsTensor {
        let values = UnsafeBufferPointer(start: tensor.data, count: tensor.count)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw LoRAError.nonFinite("merged parameter '\(name)' has NaN or infinite values (element \(bad): \(values[bad])); "
                                      + "is the adapter or the base model corrupt? Nothing was written")
        }
        switch dtype {
        case .f32:
            return SafetensorsTensor(name: name, floats: Array(values), shape: tensor.shape)
        case .bf16:
            var bits = [UInt16](repeating: 0, count: values.count)
            bits.withUnsafeMutableBufferPointer { BF16.round(values.baseAddress!, into: $0.baseAddress!, count: values.count) }
            return SafetensorsTensor(name: name, dtype: .BF16, shape: tensor.shape, bytes: littleEndianBytes(bits))
        case .f16:
            let bits = values.map(GGMLQuantizer.f16Bits)
            if let over = bits.firstIndex(where: { $0 & 0x7C00 == 0x7C00 }) {
                throw LoRAError.nonFinite("merged parameter '\(name)' does not fit in f16: element \(over) is \(values[over]) "
                                          + "(f16 holds at most ±65504); write --dtype bf16 or f32. Nothing was written")
            }
            return SafetensorsTensor(name: name, dtype: .F16, shape: tensor.shape, bytes: littleEndianBytes(bits))
        }
    }

    private static func littleEndianBytes(_ bits: [UInt16]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 2 * bits.count)
        for (i, b) in bits.enumerated() { bytes[2 * i] = UInt8(b & 0xFF); bytes[2 * i + 1] = UInt8(b >> 8) }
        return bytes
    }
}
