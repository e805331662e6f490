import Foundation

/// Resolves a `model_type` or GGUF architecture to the plugin serving it.
///
/// Thread-safe: plugins may be registered (a recipe's `plugins:`, a server loading a model) while other threads
/// resolve architectures.
public final class ArchitectureRegistry: @unchecked Sendable {
    public struct Entry {
        public let plugin: any ArchitecturePlugin.Type
        /// "built-in", a dylib path, or a declarative file path.
        public let origin: String
    }

    public static let shared = ArchitectureRegistry()
    private let lock = NSLock()
    private var _entries: [Entry] = []
    private var _declarations: [ArchitectureDeclaration] = []

    public init() {}

    public var entries: [Entry] { lock.withLock { _entries } }
    /// Declarative plugins, by the model types they serve.
    public var declarations: [ArchitectureDeclaration] { lock.withLock { _declarations } }

    /// Registers a plugin; a later registration for the same model type wins (a user may override a built-in).
    public func register(_ plugin: any ArchitecturePlugin.Type, origin: String = "built-in") {
        lock.withLock {
            _entries.removeAll { $0.plugin == plugin }
            _entries.append(Entry(plugin: plugin, origin: origin))
        }
    }

    /// Registers a declarative plugin; its base must be registered (now or before the first load).
    public func register(_ declaration: ArchitectureDeclaration) {
        lock.withLock {
            _declarations.removeAll { $0.name == declaration.name }
            _declarations.append(declaration)
        }
    }

    /// The plugin that builds `type`, and the declaration that adapts it when `type` is a declared architecture.
    public func resolve(modelType type: String) throws -> (plugin: any ArchitecturePlugin.Type, declaration: ArchitectureDeclaration?) {
        if let d = declarations.last(where: { $0.modelTypes.contains(type) }) {
            return (try plugin(forModelType: d.base), d)
        }
        return (try plugin(forModelType: type), nil)
    }

    public func plugin(forModelType type: String) throws -> any ArchitecturePlugin.Type {
        if let e = entries.last(where: { $0.plugin.modelTypes.contains(type) }) { return e.plugin }
        throw ArchitectureError.unknownArchitecture("no plugin serves model_type \"\(type)\"; registered: \(known)")
    }

    public func plugin(forGGUFArchitecture arch: String) throws -> any ArchitecturePlugin.Type {
        if let e = entries.last(where: { $0.plugin.ggufArchitectures.contains(arch) }) { return e.plugin }
        throw ArchitectureError.unknownArchitecture("no plugin reads GGUF architecture \"\(arch)\"; registered: \(known)")
    }

    private var known: String {
        (entries.map { $0.plugin.modelTypes.joined(separator: "/") } + declarations.map { $0.modelTypes.joined(separator: "/") })
            .joined(separator: ", ")
    }
}
