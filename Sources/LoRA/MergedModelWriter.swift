import Foundation
import ArchitectureKit
import ModelFormats
import TensorCore

/// Writes a model as a Hugging Face checkpoint directory (config.json + model.safetensors) that
/// transformers' from_pretrained loads: HF parameter names, tied parameters written once (transformers re-ties).
public enum MergedModelWriter {
    public static func write(_ model: any ArchitectureModel, config: ModelConfig, to directory: URL) throws {
        let fm = FileManager.default
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
        try JSONSerialization.data(withJSONObject: values, options: [.prettyPrinted, .sortedKeys])
            .write(to: staging.appendingPathComponent("config.json"))
        if fm.fileExists(atPath: directory.path) {
            let old = directory.deletingLastPathComponent().appendingPathComponent(".\(directory.lastPathComponent).old-\(getpid())")
            try fm.moveItem(at: directory, to: old)
            try fm.moveItem(at: staging, to: directory)
            try? fm.removeItem(at: old)
        } else {
            try fm.moveItem(at: staging, to: directory)
        }
    }
}
