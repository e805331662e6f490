/// A position in template source (1-based line and column), carried by every error.
public struct SourceLocation: Equatable, CustomStringConvertible, Sendable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column)" }
}

/// Errors parsing or rendering a template. `raise_exception(msg)` in a template comes through as `.raised(msg)`,
/// with the message exactly as the template wrote it (transformers surfaces it as a TemplateError with that text).
public enum TemplateError: Error, CustomStringConvertible, Equatable {
    case syntax(String, at: SourceLocation)
    case runtime(String, at: SourceLocation)
    case raised(String)

    public var description: String {
        switch self {
        case .syntax(let message, let at): return "template syntax error at \(at): \(message)"
        case .runtime(let message, let at): return "template error at \(at): \(message)"
        case .raised(let message): return "template raised: \(message)"
        }
    }
}
