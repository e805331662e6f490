import Foundation

extension Recipe.TemplateChoice {
    /// `template`: a built-in name, `model`, or {source: text} / {file: path}.
    static func decode(_ node: RecipeNode, paths: RecipePaths) throws -> Self {
        let names = ["alpaca", "chatml", "llama3", "model"]
        if case .scalar(let s, _, _) = node {
            switch s {
            case "alpaca": return .alpaca
            case "chatml": return .chatml
            case "llama3": return .llama3
            case "model": return .model
            default:
                throw SchemaReader.error(node.location, "template", "expected alpaca | chatml | llama3 | model | {source: …} | {file: …}, found '\(s)'"
                                         + SchemaReader.suggestion(s, names))
            }
        }
        var t = try SchemaReader(node, path: "template")
        let choice: Self
        if let source = try t.string("source") {
            choice = .custom(source)
        } else if let path = try t.string("file") {
            guard let text = try? String(contentsOf: paths.resolve(path), encoding: .utf8) else {
                throw SchemaReader.error(node.location, "template.file", "cannot read \(paths.resolve(path).path)")
            }
            choice = .custom(text)
        } else {
            throw SchemaReader.error(node.location, "template", "expected a 'source' (template text) or a 'file'")
        }
        try t.finish()
        return choice
    }
}
