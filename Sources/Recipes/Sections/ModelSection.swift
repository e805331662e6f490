import TensorCore

/// `model:` — a string (directory, GGUF file or alias), or a mapping `{path: …, quantization: …}`; and the top-level
/// `quantization:` key, which says the same (giving both is an error).
enum ModelSection {
    static func decode(_ top: inout SchemaReader, root: RecipeNode) throws -> (model: String, quantization: WeightQuantization?) {
        let choices = WeightQuantization.allCases.map(\.rawValue)
        let topLevel = try top.string("quantization", oneOf: choices).flatMap(WeightQuantization.init(rawValue:))
        guard let node = top.node("model") else {
            throw SchemaReader.error(root.location, "model", "missing: a model directory, GGUF file or alias (e.g. smollm2-135m-instruct)")
        }
        if case .scalar(let s, _, _) = node { return (s, topLevel) }
        var m = try SchemaReader(node, path: "model")
        guard let path = try m.string("path") else {
            throw SchemaReader.error(node.location, "model.path", "missing: a model directory, GGUF file or alias")
        }
        let nested = try m.string("quantization", oneOf: choices).flatMap(WeightQuantization.init(rawValue:))
        try m.finish()
        if nested != nil && topLevel != nil {
            throw SchemaReader.error(node.location, "model.quantization", "give quantization under model: or at the top level, not both")
        }
        return (path, nested ?? topLevel)
    }
}
