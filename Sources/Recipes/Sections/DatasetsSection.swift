import Foundation
import Training

extension DatasetSpec {
    /// `datasets`: a list of {path, type, fields, filter, on_bad_line, validation_split | validation_file}.
    static func decodeList(_ node: RecipeNode, task: Recipe.TaskType, paths: RecipePaths) throws -> [DatasetSpec] {
        guard case .list(let items, _) = node, !items.isEmpty else {
            throw SchemaReader.error(node.location, "datasets", "expected a non-empty list of datasets")
        }
        return try items.enumerated().map { i, item in try decode(item, path: "datasets[\(i)]", task: task, paths: paths) }
    }

    static func decode(_ item: RecipeNode, path key: String, task: Recipe.TaskType, paths: RecipePaths) throws -> DatasetSpec {
        var d = try SchemaReader(item, path: key)
        guard let path = try d.string("path") else { throw SchemaReader.error(item.location, "\(key).path", "missing: a JSONL file") }
        let typeNames = DatasetType.allCases.map(\.rawValue)
        guard let typeName = try d.string("type", oneOf: typeNames), let type = DatasetType(rawValue: typeName) else {
            throw SchemaReader.error(item.location, "\(key).type", "missing: one of \(typeNames.joined(separator: " | "))")
        }
        let fieldsNode = d.node("fields")
        let fields = try d.stringMap("fields") ?? [:]
        if let fieldsNode {
            for role in fields.keys where type.defaultFields[role] == nil {
                throw SchemaReader.error(fieldsNode.location, "\(key).fields.\(role)", "'\(type.rawValue)' datasets have no field role '\(role)'; "
                                         + "expected \(type.defaultFields.keys.sorted().joined(separator: ", "))" + SchemaReader.suggestion(role, Array(type.defaultFields.keys)))
            }
        }
        var filter: FilterExpression?
        if let filterNode = d.node("filter"), let text = try d.string("filter") {
            do { filter = try FilterExpression(text) } catch let e as FilterError {
                let at = filterNode.location
                throw RecipeError(file: at.file, line: at.line, column: at.column + e.column - 1, path: "\(key).filter", message: e.description)
            }
        }
        let onBadLine = try d.string("on_bad_line", oneOf: BadLinePolicy.allCases.map(\.rawValue)).flatMap(BadLinePolicy.init) ?? .error
        let split = try d.double("validation_split", range: 0...0.9)
        let validationFile = try d.string("validation_file").map(paths.resolve)
        try d.finish()
        if (type == .classification) != (task == .classification) {
            throw SchemaReader.error(item.location, "\(key).type", "a '\(type.rawValue)' dataset does not fit task '\(task.rawValue)'")
        }
        return DatasetSpec(path: paths.resolve(path), type: type, fields: fields, filter: filter, onBadLine: onBadLine,
                           validationFraction: split, validationPath: validationFile)
    }
}
