import Foundation

/// Settings of `lorakit serve`.
public struct ServeOptions: Sendable {
    /// Model directory, .gguf file or alias.
    public var model: String
    /// The name clients use for the base model (no adapter); defaults to the model reference's file stem.
    public var servedModelName: String?
    /// Adapters known at start: name → PEFT directory. They load on first use (or at start, up to the cap).
    public var adapters: [(name: String, path: String)] = []
    /// Every subdirectory with an adapter_config.json is an adapter named after the subdirectory.
    public var adapterDirectory: String?
    public var host = "127.0.0.1"
    /// 0 = an ephemeral port (printed on start).
    public var port = 8080
    /// Requests decoded together in one step.
    public var maxBatch = 8
    /// Adapters kept in memory at once (least recently used ones are evicted when idle).
    public var maxLoadedAdapters = 8
    /// Requests waiting for a batch slot before new ones get 429.
    public var maxQueue = 256
    /// When set, /v1/* requests need `Authorization: Bearer <key>`.
    public var apiKey: String?

    public init(model: String) { self.model = model }

    /// The base model's name as clients see it.
    public var baseName: String {
        if let servedModelName { return servedModelName }
        let last = URL(fileURLWithPath: model).lastPathComponent
        return last.hasSuffix(".gguf") ? String(last.dropLast(5)) : last
    }
}
