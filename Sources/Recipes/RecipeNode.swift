import Foundation
import Yams

/// Where a value came from: a file position, or a `--set` override.
public struct RecipeLocation: Equatable, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
}

/// A YAML tree that keeps every node's file:line:column (Yams marks) and can take `--set` overrides, so that an
/// error about a value — from the file or from the command line — says exactly where it was written.
public indirect enum RecipeNode {
    /// A scalar's text; `quoted` scalars are always strings.
    case scalar(String, quoted: Bool, RecipeLocation)
    case list([RecipeNode], RecipeLocation)
    /// Keys in file order.
    case map([(key: String, value: RecipeNode)], RecipeLocation)

    public var location: RecipeLocation {
        switch self {
        case .scalar(_, _, let l), .list(_, let l), .map(_, let l): return l
        }
    }

    /// Parses YAML text; syntax errors carry their line and column.
    public static func parse(_ text: String, file: String) throws -> RecipeNode {
        // Depth and alias limits first: Yams composes recursively and aliases expand on conversion.
        try YAMLLimits.check(text, file: file)
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch let error as YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                throw RecipeError(file: file, line: mark.line, column: mark.column, path: "", message: "YAML syntax: \(problem)")
            default:
                throw RecipeError(file: file, line: 0, column: 0, path: "", message: "YAML: \(error)")
            }
        }
        guard let node else { return .map([], RecipeLocation(file: file, line: 1, column: 1)) }
        return convert(node, file: file)
    }

    static func convert(_ node: Node, file: String) -> RecipeNode {
        let at = RecipeLocation(file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
        switch node {
        case .scalar(let s): return .scalar(s.string, quoted: s.style != .plain, at)
        case .sequence(let seq): return .list(seq.map { convert($0, file: file) }, at)
        case .mapping(let map): return .map(map.map { (key: $0.key.string ?? "\($0.key)", value: convert($0.value, file: file)) }, at)
        }
    }

    /// Applies `path.to.key=value` (list items by index: `datasets.0.path=…`). The value is parsed as YAML, so
    /// `[q_proj, v_proj]` is a list and `1e-4` a number.
    public mutating func apply(override: String) throws {
        let origin = RecipeLocation(file: "--set \(override)", line: 0, column: 0)
        guard let eq = override.firstIndex(of: "="), eq != override.startIndex else {
            throw RecipeError(file: "--set \(override)", line: 0, column: 0, path: "", message: "expected path.to.key=value")
        }
        let path = override[..<eq].split(separator: ".").map(String.init)
        let text = String(override[override.index(after: eq)...])
        var value = try RecipeNode.parse(text.isEmpty ? "''" : text, file: "--set \(override)")
        value.relocate(to: origin)
        try set(path[...], value, origin: origin)
    }

    private mutating func relocate(to origin: RecipeLocation) {
        switch self {
        case .scalar(let s, let q, _): self = .scalar(s, quoted: q, origin)
        case .list(var items, _):
            for i in items.indices { items[i].relocate(to: origin) }
            self = .list(items, origin)
        case .map(var pairs, _):
            for i in pairs.indices { pairs[i].value.relocate(to: origin) }
            self = .map(pairs, origin)
        }
    }

    private mutating func set(_ path: ArraySlice<String>, _ value: RecipeNode, origin: RecipeLocation) throws {
        guard let head = path.first else { self = value; return }
        switch self {
        case .map(var pairs, let at):
            if let i = pairs.firstIndex(where: { $0.key == head }) {
                try pairs[i].value.set(path.dropFirst(), value, origin: origin)
            } else {
                var child = RecipeNode.map([], origin)
                try child.set(path.dropFirst(), value, origin: origin)
                pairs.append((head, child))
            }
            self = .map(pairs, at)
        case .list(var items, let at):
            guard let i = Int(head), items.indices.contains(i) else {
                throw RecipeError(file: origin.file, line: 0, column: 0, path: head,
                                  message: "expected a list index 0..<\(items.count) at '\(head)'")
            }
            try items[i].set(path.dropFirst(), value, origin: origin)
            self = .list(items, at)
        case .scalar:
            var child = RecipeNode.map([], origin)
            try child.set(path, value, origin: origin)
            self = child
        }
    }
}
