import Training

extension Recipe.TaskSettings {
    /// `task`: a type name, or {type, train_on, labels}.
    static func decode(_ node: RecipeNode) throws -> Self {
        var typeName: String?, trainOn: String?, labels: [String]?
        if case .scalar(let s, _, _) = node { typeName = s } else {
            var t = try SchemaReader(node, path: "task")
            typeName = try t.string("type", oneOf: Recipe.TaskType.allCases.map(\.rawValue))
            trainOn = try t.string("train_on", oneOf: ["responses", "last_response", "all"])
            labels = try t.stringList("labels")
            try t.finish()
        }
        var task = Self(type: .sft, masking: .prompt)
        if let typeName {
            guard let type = Recipe.TaskType(rawValue: typeName) else {
                throw SchemaReader.error(node.location, "task", "expected causal_lm | sft | classification, found '\(typeName)'"
                                         + SchemaReader.suggestion(typeName, Recipe.TaskType.allCases.map(\.rawValue)))
            }
            task.type = type
        }
        task.masking = switch trainOn {
        case "all": .none
        case "last_response": .allButLastResponse
        case "responses": .prompt
        default: task.type == .causalLM ? .none : .prompt
        }
        task.labels = labels ?? []
        if task.type == .classification && task.labels.count < 2 {
            throw SchemaReader.error(node.location, "task.labels", "classification needs the label names in class order (at least two)")
        }
        return task
    }
}
