import Foundation
import LoRA
import ModelFormats

extension LoRAConfig {
    /// `lora`: PEFT's LoraConfig keys, decoded by the same decoder as adapter_config.json (so every PEFT option
    /// LoRAKit implements can be written in a recipe: rank_pattern, alpha_pattern, exclude_modules,
    /// layers_to_transform, use_dora, init_lora_weights: pissa, …). Errors point at the key's line and column.
    static func decode(recipeSection node: RecipeNode?, document: RecipeNode) throws -> LoRAConfig {
        guard let node else { return try LoRAConfig(json: [:], source: "lora") }
        guard case .map(let pairs, _) = node else {
            throw SchemaReader.error(node.location, "lora", "expected a mapping of PEFT LoraConfig keys to values")
        }
        // The file's task and model fill these; PEFT features LoRAKit refuses stay accepted here so that the
        // decoder can say why it refuses them.
        let allowed = LoRAConfig.configurationKeys.subtracting(["task_type", "base_model_name_or_path", "revision", "inference_mode", "peft_type"])
            .union(LoRAConfig.unsupportedFeatures.map(\.0))
        var object: [String: Any] = [:]
        for (key, value) in pairs {
            guard allowed.contains(key) else {
                throw SchemaReader.error(value.location, "lora.\(key)", "unknown key '\(key)'" + SchemaReader.suggestion(key, Array(allowed))
                                         + "; expected PEFT LoraConfig keys: \(allowed.sorted().joined(separator: ", "))")
            }
            guard object[key] == nil else { throw SchemaReader.error(node.location, "lora", "key '\(key)' appears twice") }
            object[key] = value.jsonValue.foundationObject
        }
        do { return try LoRAConfig(json: object, source: "lora") } catch let e as LoRAConfigError {
            let at = pairs.first { $0.key == e.key }?.value.location ?? node.location
            throw SchemaReader.error(at, e.key.isEmpty ? "lora" : "lora.\(e.key)", e.message)
        }
    }
}

extension RecipeNode {
    /// The node as JSON, with YAML 1.2 core-schema scalars: plain `true`/`false`, `null`/`~`, integers and
    /// decimal numbers are typed; quoted scalars and every other word are strings.
    var jsonValue: JSONValue {
        switch self {
        case .list(let items, _): return .array(items.map(\.jsonValue))
        case .map(let pairs, _): return .object(Dictionary(pairs.map { ($0.key, $0.value.jsonValue) }, uniquingKeysWith: { a, _ in a }))
        case .scalar(let s, let quoted, _):
            if quoted { return .string(s) }
            switch s {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            case "", "~", "null", "Null", "NULL": return .null
            default: break
            }
            let digits = s.replacingOccurrences(of: "_", with: "")
            if let i = Int64(digits) { return .int(i) }
            // Double() also reads "nan" and "infinity"; YAML spells those .nan/.inf and LoRA has no use for them.
            if let first = digits.first, "+-.0123456789".contains(first), let d = Double(digits), d.isFinite { return .double(d) }
            return .string(s)
        }
    }
}
