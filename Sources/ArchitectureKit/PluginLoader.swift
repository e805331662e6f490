import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The contract's binary version. A dynamic-library plugin returns the value it was compiled against (the
/// property is inlined into it), and the loader refuses a library built for another version of the contract.
public enum ArchitecturePluginABI {
    @inlinable public static var version: Int32 { 1 }
}

/// Loads architectures from outside the core: declarative `.json` files and compiled `.so`/`.dylib` plugins.
///
/// A compiled plugin is built with the same toolchain against this build's modules and exports
/// `lorakit_plugin_register(origin) -> Int32`; it resolves the contract's symbols from the `lorakit` executable
/// (linked with --export-dynamic), so the host and the plugin share one registry and one set of types.
public enum PluginLoader {
    public enum LoadError: Error, CustomStringConvertible {
        case notFound(String)
        case dlopen(String, String)
        case noEntryPoint(String)
        case abiMismatch(String, plugin: Int32, host: Int32)
        case unknownKind(String)

        public var description: String {
            switch self {
            case .notFound(let p): return "plugin \(p): no such file"
            case .dlopen(let p, let why): return "plugin \(p): cannot load (\(why)); it must be built with the same Swift toolchain against this LoRAKit build (scripts/build-external-plugin.sh)"
            case .noEntryPoint(let p): return "plugin \(p): no lorakit_plugin_register entry point"
            case .abiMismatch(let p, let plugin, let host): return "plugin \(p) was built for plugin ABI \(plugin), this lorakit has \(host): rebuild it"
            case .unknownKind(let p): return "plugin \(p): expected a .json declaration or a .so/.dylib library"
            }
        }
    }

    /// Loads each path (a declaration or a library) into `registry`.
    public static func load(_ paths: [String], into registry: ArchitectureRegistry = .shared) throws {
        for path in paths where !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else { throw LoadError.notFound(path) }
            switch URL(fileURLWithPath: path).pathExtension {
            case "json": registry.register(try ArchitectureDeclaration.load(URL(fileURLWithPath: path)))
            case "so", "dylib": try loadLibrary(path)
            default: throw LoadError.unknownKind(path)
            }
        }
    }

    /// Paths from `LORAKIT_PLUGINS` (colon-separated).
    public static func loadFromEnvironment(into registry: ArchitectureRegistry = .shared) throws {
        guard let list = ProcessInfo.processInfo.environment["LORAKIT_PLUGINS"] else { return }
        try load(list.split(separator: ":").map(String.init), into: registry)
    }

    static func loadLibrary(_ path: String) throws {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let handle = dlopen(absolute, RTLD_NOW | RTLD_GLOBAL) else {
            throw LoadError.dlopen(path, dlerror().map { String(cString: $0) } ?? "unknown error")
        }
        guard let symbol = dlsym(handle, "lorakit_plugin_register") else { throw LoadError.noEntryPoint(path) }
        typealias Entry = @convention(c) (UnsafePointer<CChar>) -> Int32
        let version = absolute.withCString { unsafeBitCast(symbol, to: Entry.self)($0) }
        guard version == ArchitecturePluginABI.version else {
            throw LoadError.abiMismatch(path, plugin: version, host: ArchitecturePluginABI.version)
        }
    }
}
