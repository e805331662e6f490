import Foundation
import ArchitectureKit
import ModelFormats

/// `lorakit export --adapter DIR --format gguf`: a PEFT LoRA adapter as llama.cpp's LoRA adapter GGUF
/// (convert_lora_to_gguf.py's output; loaded by llama_adapter_lora_init in src/llama-adapter.cpp).
///
/// llama.cpp's rules, which the checks here follow:
/// - keys `general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha` (F32), `general.architecture`
///   equal to the base model's;
/// - per base tensor `X`, `X.lora_a` with ggml ne = [in, r] and `X.lora_b` with ne = [r, out], i.e. PEFT's
///   lora_A.weight (r, in) and lora_B.weight (out, r) unchanged; the loader checks exactly these shapes;
/// - the delta is scale · B·A with scale = alpha / r, r taken from each lora_b, so ranks may differ per module but
///   there is one alpha;
/// - Q and K are stored with their rows permuted for llama.cpp's rotary layout, so the rows of their B are permuted
///   the same way (A is unchanged);
/// - any tensor other than `.lora_a`/`.lora_b` (and norms) is an error.
public enum GGUFAdapterExport {
    /// Writes the adapter in `adapter` for the base `model` (default: the adapter's base_model_name_or_path).
    @discardableResult
    public static func export(adapter: URL, model: String?, type: GGUFExportType, to url: URL, overwrite: Bool = false,
                              registry: ArchitectureRegistry = .shared) throws -> GGUFExportReport {
        let configURL = adapter.appendingPathComponent("adapter_config.json")
        let config = try LoRAConfig(contentsOf: configURL)
        try checkExpressible(config, path: configURL.path)
        guard type != .q4_0 else {
            throw GGUFExportError("--type q4_0 is for merged models; llama.cpp's LoRA converter writes adapters as f32, f16, bf16 or q8_0")
        }
        guard let reference = model ?? config.baseModelNameOrPath else {
            throw GGUFExportError("\(configURL.path) has no base_model_name_or_path: give the base with --model")
        }
        let base: GGUFExportBase
        do { base = try GGUFExportBase(reference: reference, registry: registry) } catch let error where model == nil {
            throw GGUFExportError("\(configURL.path): base_model_name_or_path: \(error) (name the base model explicitly: lorakit export --base M)")
        }
        let names = base.ggufNames()

        let weightsURL = adapter.appendingPathComponent("adapter_model.safetensors")
        let file = try SafetensorsFile(url: weightsURL)
        var modules: [String] = []
        for key in file.tensorNames {
            let prefix = "base_model.model."
            guard key.hasPrefix(prefix), key.hasSuffix(".lora_A.weight") || key.hasSuffix(".lora_B.weight") else {
                throw GGUFExportError("\(weightsURL.path): tensor '\(key)' is not a LoRA A/B matrix; llama.cpp adapters hold only lora_a/lora_b (no DoRA magnitudes, biases, embedding LoRA or saved modules)")
            }
            if key.hasSuffix(".lora_A.weight") { modules.append(String(key.dropFirst(prefix.count).dropLast(".lora_A.weight".count))) }
        }
        guard !modules.isEmpty else { throw GGUFExportError("\(weightsURL.path): no lora_A/lora_B tensors") }

        var writer = GGUFWriter()
        writer.set("general.architecture", .string(base.architecture))
        writer.set("general.type", .string("adapter"))
        writer.set("general.name", .string(adapter.standardizedFileURL.lastPathComponent))
        writer.set("general.file_type", .uint32(type.fileType))
        writer.set("adapter.type", .string("lora"))
        writer.set("adapter.lora.alpha", .float32(Float(config.loraAlpha)))
        var report = GGUFExportReport()
        var folded: [String] = []
        var entries: [(order: Int, gguf: String, module: String)] = []
        let order = Dictionary(uniqueKeysWithValues: base.plugin.ggufTensorNames(config: base.config).enumerated().map { ($1, $0) })
        for module in modules {
            guard let target = names[module + ".weight"] else {
                throw GGUFExportError("\(weightsURL.path): module '\(module)' has no llama.cpp tensor in a \(base.architecture) model"
                    + (module.hasSuffix("lm_head") ? " (its lm_head is tied to token_embd)" : ""))
            }
            entries.append((order[target.name] ?? Int.max, target.name, module))
        }
        for entry in entries.sorted(by: { ($0.order, $0.gguf) < ($1.order, $1.gguf) }) {
            let module = entry.module
            let keyA = "base_model.model.\(module).lora_A.weight", keyB = "base_model.model.\(module).lora_B.weight"
            guard file.contains(keyB) else { throw GGUFExportError("\(weightsURL.path): '\(keyA)' has no matching '\(keyB)'") }
            let shapeA = try file.shape(keyA), shapeB = try file.shape(keyB)
            guard shapeA.count == 2, shapeB.count == 2, shapeA[0] == shapeB[1] else {
                throw GGUFExportError("\(weightsURL.path): '\(module)': lora_A \(shapeA) and lora_B \(shapeB) are not (r, in) and (out, r)")
            }
            let rank = shapeA[0]
            var b = try file.floats(keyB)
            // llama.cpp scales by alpha / r with the adapter's one alpha; PEFT's scale for this module may differ
            // (alpha_pattern, rsLoRA's alpha / √r). The ratio is folded into B so the delta is PEFT's.
            let factor = config.scaling(for: module) / (config.loraAlpha / Double(rank))
            if factor != 1 {
                b = b.map { Float(Double($0) * factor) }
                folded.append(module)
            }
            if let mapping = names[module + ".weight"]?.mapping {
                guard !mapping.transposed, mapping.groupedQKV == nil else {
                    throw GGUFExportError("\(weightsURL.path): '\(module)' is stored transposed or regrouped in llama.cpp's \(base.architecture) files; LoRAKit exports LoRA adapters for the Llama family only (export a merged model instead: --model M --adapter DIR)")
                }
                // Only B's rows are the output rows that llama.cpp permuted; A (r, in) is unchanged.
                if let heads = mapping.undoRotaryPermutation {
                    b = try GGUFTensorMapping.permuteRotaryRows(b, rows: shapeB[0], columns: rank, heads: heads, .toGGUF, name: keyB)
                }
            }
            try writer.addConverted(entry.gguf + ".lora_a", shape: shapeA, values: try file.floats(keyA), type: type.ggmlType, report: &report)
            try writer.addConverted(entry.gguf + ".lora_b", shape: shapeB, values: b, type: type.ggmlType, report: &report)
        }
        if let first = folded.first {
            report.notes.append("\(folded.count) module(s) have a PEFT scale other than lora_alpha / r (alpha_pattern or rsLoRA), "
                + "e.g. \(first): the ratio is folded into their lora_b, since llama.cpp applies one alpha / r")
        }
        try writer.write(to: url, overwrite: overwrite)
        return report
    }

    /// Refuses what a llama.cpp LoRA adapter cannot hold, with the reason.
    static func checkExpressible(_ c: LoRAConfig, path: String) throws {
        if c.useDoRA {
            throw GGUFExportError("\(path): use_dora is true; llama.cpp's LoRA adapters have no DoRA magnitude vectors (export a merged model instead: --model M --adapter DIR)")
        }
        if let saved = c.modulesToSave, !saved.isEmpty {
            throw GGUFExportError("\(path): modules_to_save \(saved) are fully trained copies; a llama.cpp LoRA adapter holds only lora_a/lora_b (export a merged model instead)")
        }
        if c.taskType == "SEQ_CLS" {
            throw GGUFExportError("\(path): a sequence-classification adapter needs its classification head, which llama.cpp adapters cannot carry")
        }
        if c.bias != .none {
            throw GGUFExportError("\(path): bias \"\(c.bias.rawValue)\" trains biases; llama.cpp's LoRA adapters cannot carry them (export a merged model instead)")
        }
        if c.fanInFanOut {
            throw GGUFExportError("\(path): fan_in_fan_out adapters (GPT-2 Conv1D layers) are not exported to GGUF")
        }
        guard c.loraAlpha > 0 else {
            // llama.cpp reads alpha 0 as "no alpha" and applies B·A unscaled.
            throw GGUFExportError("\(path): lora_alpha \(c.loraAlpha) must be positive for llama.cpp's alpha / r scaling")
        }
    }
}
