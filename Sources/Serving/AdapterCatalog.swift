import Foundation

/// The adapters clients can name, readable from any thread: name → PEFT directory, and which ones are in memory.
/// The engine thread owns the weights; this is the view that /v1/models, validation and /metrics read.
final class AdapterCatalog: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: [String: String] = [:]
    private var order: [String] = []
    private var resident: Set<String> = []

    func register(_ name: String, path: String) {
        lock.withLock {
            if paths[name] == nil { order.append(name) }
            paths[name] = path
        }
    }

    func remove(_ name: String) {
        lock.withLock {
            paths[name] = nil
            order.removeAll { $0 == name }
            resident.remove(name)
        }
    }

    func setResident(_ name: String, _ isResident: Bool) {
        lock.withLock { if isResident { resident.insert(name) } else { resident.remove(name) } }
    }

    func path(_ name: String) -> String? { lock.withLock { paths[name] } }
    var names: [String] { lock.withLock { order } }
    var residentCount: Int { lock.withLock { resident.count } }
    func isResident(_ name: String) -> Bool { lock.withLock { resident.contains(name) } }

    /// Subdirectories of `directory` that hold an adapter_config.json, by subdirectory name.
    static func scan(_ directory: String) throws -> [(name: String, path: String)] {
        let base = URL(fileURLWithPath: directory)
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        return entries.compactMap { entry in
            let dir = base.appendingPathComponent(entry)
            let config = dir.appendingPathComponent("adapter_config.json")
            return FileManager.default.fileExists(atPath: config.path) ? (entry, dir.path) : nil
        }
    }
}
