import Foundation
import ArchitectureKit
import ModelFormats

/// Why an export was refused: names the file, tensor or setting and what llama.cpp would need instead.
public struct GGUFExportError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The storage types `lorakit export --type` offers, with llama.cpp's `general.file_type` (enum llama_ftype).
public enum GGUFExportType: String, CaseIterable, Sendable {
    case f32, f16, bf16, q8_0, q4_0

    public var ggmlType: GGMLType {
        switch self {
        case .f32: return .F32
        case .f16: return .F16
        case .bf16: return .BF16
        case .q8_0: return .Q8_0
        case .q4_0: return .Q4_0
        }
    }

    /// LLAMA_FTYPE_ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7, MOSTLY_BF16 32.
    public var fileType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q8_0: return 7
        case .bf16: return 32
        }
    }

    var isQuantized: Bool { self == .q8_0 || self == .q4_0 }
}

/// What an export wrote, for the command to print.
public struct GGUFExportReport {
    public var tensorCount = 0
    /// Tensors stored in another type than asked, with the reason (e.g. a rank-16 lora_b in F16 because Q8_0 needs
    /// rows of 32), as llama.cpp's converter falls back.
    public var fallbacks: [String] = []
    public var notes: [String] = []
}

/// The base model of an export without its weights: plugin, Hugging Face config and, for a .gguf, the file.
struct GGUFExportBase {
    let plugin: any ArchitecturePlugin.Type
    let config: ModelConfig
    let architecture: String
    let location: URL
    let gguf: GGUFFile?

    init(reference: String, registry: ArchitectureRegistry) throws {
        let url = try ModelReference.resolve(reference)
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        let plugin: any ArchitecturePlugin.Type
        var config: ModelConfig
        var file: GGUFFile?
        if isDirectory.boolValue {
            config = try ModelConfig(contentsOf: url.appendingPathComponent("config.json"))
            guard let type = config.modelType else { throw GGUFExportError("\(url.path)/config.json: missing \"model_type\"") }
            let resolved = try registry.resolve(modelType: type)
            if resolved.declaration != nil {
                // A declared architecture runs on its base's code but is its own llama.cpp architecture (Qwen2 is not
                // "llama"), and LoRAKit does not know that name or its tensors.
                throw GGUFExportError("\(url.path): model_type \"\(type)\" is a declared architecture; GGUF export supports the built-in Llama, GPT-2 and Falcon plugins only")
            }
            plugin = resolved.plugin
        } else {
            let gguf = try GGUFFile(url: url)
            guard let arch = gguf.architecture else { throw GGUFExportError("\(url.path): GGUF without general.architecture") }
            plugin = try registry.plugin(forGGUFArchitecture: arch)
            config = try plugin.config(fromGGUF: gguf.metadata)
            // As ModelLoader: tied exactly when the file has no separate output matrix.
            if config.values["tie_word_embeddings"] != nil {
                let c = config
                config.values["tie_word_embeddings"] = !gguf.tensorNames.contains { plugin.hfTensor(forGGUF: $0, config: c)?.path == "lm_head.weight" }
            }
            file = gguf
        }
        guard let arch = plugin.ggufArchitectures.first, !plugin.ggufTensorNames(config: config).isEmpty else {
            throw GGUFExportError("\(url.path): \(plugin.name) models cannot be exported to GGUF: LoRAKit has no llama.cpp tensor mapping for this architecture (GGUF export supports the Llama family, GPT-2 and Falcon)")
        }
        self.plugin = plugin
        self.config = config
        self.gguf = file
        self.location = url
        architecture = arch
    }

    /// Hugging Face weight path → (llama.cpp name, how its elements move between the layouts).
    func ggufNames() -> [String: (name: String, mapping: GGUFTensorMapping)] {
        var out: [String: (String, GGUFTensorMapping)] = [:]
        for name in plugin.ggufTensorNames(config: config) {
            if let m = plugin.hfTensor(forGGUF: name, config: config) { out[m.path] = (name, m) }
        }
        return out
    }
}

extension GGUFWriter {
    /// Adds `values` in `type`, or in F16 when rows are not whole `type` blocks (llama.cpp's converters fall back the
    /// same way), and F32 for vectors (norms and biases stay F32 in every llama.cpp file type).
    mutating func addConverted(_ name: String, shape: [Int], values: [Float], type: GGMLType,
                               report: inout GGUFExportReport) throws {
        var chosen = shape.count == 1 ? .F32 : type
        if shape.last! % chosen.blockSize != 0 {
            report.fallbacks.append("\(name): rows of \(shape.last!) are not whole \(chosen) blocks of \(chosen.blockSize); stored as F16")
            chosen = .F16
        }
        try addTensor(name, shape: shape, values: values, type: chosen)
        report.tensorCount += 1
    }
}
