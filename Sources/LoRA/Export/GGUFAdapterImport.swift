import Foundation
import ArchitectureKit
import ModelFormats

/// The inverse of `GGUFAdapterExport`: a llama.cpp LoRA adapter GGUF as a PEFT adapter directory
/// (`lorakit export --adapter a.gguf --format peft`), so LoRAKit's own adapter loader can read an export back.
///
/// llama.cpp applies alpha / r(module) · B·A; PEFT applies lora_alpha / r with r from `r` or `rank_pattern`, so the
/// adapter's one alpha and each module's rank carry over exactly. B's rows for Q and K are un-permuted.
public enum GGUFAdapterImport {
    public static func writePEFT(from url: URL, base reference: String, to directory: URL, overwrite: Bool = false,
                                 registry: ArchitectureRegistry = .shared) throws {
        let file = try GGUFFile(url: url)
        guard file["general.type"]?.string == "adapter", file["adapter.type"]?.string == "lora" else {
            throw GGUFExportError("\(url.path): not a llama.cpp LoRA adapter (general.type \"adapter\", adapter.type \"lora\")")
        }
        guard let alpha = file["adapter.lora.alpha"]?.double, alpha > 0 else {
            throw GGUFExportError("\(url.path): adapter.lora.alpha is missing or not positive")
        }
        let base = try GGUFExportBase(reference: reference, registry: registry)
        guard file["general.architecture"]?.string == base.architecture else {
            throw GGUFExportError("\(url.path): general.architecture \"\(file["general.architecture"]?.string ?? "?")\" but the base is \(base.architecture)")
        }
        var tensors: [SafetensorsTensor] = []
        var ranks: [String: Int] = [:]
        for aName in file.tensorNames where aName.hasSuffix(".lora_a") {
            let target = String(aName.dropLast(".lora_a".count)), bName = target + ".lora_b"
            guard file.contains(bName) else { throw GGUFExportError("\(url.path): '\(aName)' has no '\(bName)'") }
            guard let mapping = base.plugin.hfTensor(forGGUF: target, config: base.config), mapping.path.hasSuffix(".weight"), !mapping.transposed, mapping.groupedQKV == nil else {
                throw GGUFExportError("\(url.path): '\(target)' is not a \(base.architecture) weight LoRAKit can carry a LoRA for")
            }
            let (a, b) = (try file.info(aName), try file.info(bName))
            // numpy order: lora_a (r, in), lora_b (out, r) — PEFT's lora_A / lora_B shapes.
            guard a.shape.count == 2, b.shape.count == 2, a.shape[0] == b.shape[1] else {
                throw GGUFExportError("\(url.path): '\(target)': lora_a \(a.shape) and lora_b \(b.shape) are not (r, in) and (out, r)")
            }
            var bValues = try file.floats(bName)
            if let heads = mapping.undoRotaryPermutation {
                bValues = try GGUFTensorMapping.permuteRotaryRows(bValues, rows: b.shape[0], columns: b.shape[1], heads: heads, .fromGGUF, name: bName)
            }
            let module = String(mapping.path.dropLast(".weight".count))
            ranks[module] = a.shape[0]
            tensors.append(SafetensorsTensor(name: "base_model.model.\(module).lora_A.weight", floats: try file.floats(aName), shape: a.shape))
            tensors.append(SafetensorsTensor(name: "base_model.model.\(module).lora_B.weight", floats: bValues, shape: b.shape))
        }
        guard !ranks.isEmpty else { throw GGUFExportError("\(url.path): no lora_a/lora_b tensors") }

        // The commonest rank is `r`; the others go to rank_pattern by full module path (PEFT matches it as a suffix).
        let counts = Dictionary(grouping: ranks.values, by: { $0 }).mapValues(\.count)
        let r = counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key
        let config: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
            "target_modules": ranks.keys.sorted(), "rank_pattern": ranks.filter { $0.value != r },
            "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "base_model_name_or_path": reference,
        ]
        let manager = FileManager.default
        if manager.fileExists(atPath: directory.path) {
            guard overwrite else { throw GGUFWriteError.exists(path: directory.path) }
        } else {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        let configData = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try configData.write(to: directory.appendingPathComponent("adapter_config.json"), options: .atomic)
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("adapter_model.safetensors"))
    }
}
