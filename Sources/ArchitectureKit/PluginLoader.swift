import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The contract's binary version. A compiled plugin names the version it was built for in its entry point,
/// `lorakit_plugin_register_v<version>`, so the loader reads the version from the library's symbol table and refuses
/// a library built for another contract before running any of its code.
public enum ArchitecturePluginABI {
    public static let version: Int32 = 3
    /// The C symbol a plugin built for `version` exports: `@_cdecl("lorakit_plugin_register_v3")`.
    public static func entryPoint(_ version: Int32 = version) -> String { "lorakit_plugin_register_v\(version)" }
}

/// Loads architectures from outside the core: declarative `.json` files and compiled `.so`/`.dylib` plugins.
///
/// A compiled plugin is built with the same toolchain against this build's modules and exports
/// `lorakit_plugin_register_v<ABI>(origin)`; it resolves the contract's symbols from the `lorakit` executable
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
            case .noEntryPoint(let p): return "plugin \(p): no \(ArchitecturePluginABI.entryPoint()) entry point (see Plugins/README.md)"
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

    /// Paths already loaded, so a recipe naming a plugin that LORAKIT_PLUGINS also names registers it once.
    nonisolated(unsafe) private static var loaded: Set<String> = []
    private static let lock = NSLock()

    static func loadLibrary(_ path: String) throws {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        try lock.withLock {
            guard !loaded.contains(absolute) else { return }
            guard let handle = dlopen(absolute, RTLD_NOW | RTLD_GLOBAL) else {
                throw LoadError.dlopen(path, dlerror().map { String(cString: $0) } ?? "unknown error")
            }
            // The version is in the symbol's name: nothing of the plugin runs until it matches.
            guard let symbol = dlsym(handle, ArchitecturePluginABI.entryPoint()) else {
                let host = ArchitecturePluginABI.version
                if let other = (1..<64).map(Int32.init).first(where: { $0 != host && dlsym(handle, ArchitecturePluginABI.entryPoint($0)) != nil })
                    ?? (dlsym(handle, "lorakit_plugin_register") != nil ? 1 : nil) {
                    dlclose(handle)
                    throw LoadError.abiMismatch(path, plugin: other, host: host)
                }
                dlclose(handle)
                throw LoadError.noEntryPoint(path)
            }
            typealias Entry = @convention(c) (UnsafePointer<CChar>) -> Void
            absolute.withCString { unsafeBitCast(symbol, to: Entry.self)($0) }
            loaded.insert(absolute)
        }
    }
}
