import Foundation
import Hummingbird
import LoRAKit

/// `lorakit serve`: the OpenAI-compatible HTTP front of an `InferenceEngine`.
public final class LoRAServer: @unchecked Sendable {
    public let options: ServeOptions
    let engine: InferenceEngine
    let catalog = AdapterCatalog()
    let metrics = ServeMetrics()
    let created = Int(Date().timeIntervalSince1970)
    /// Request bodies larger than this are refused (413).
    static let maxBody = 16 << 20

    /// Loads the base model and the adapters known at start (resident up to the cap, the rest on first use).
    public init(options: ServeOptions) throws {
        self.options = options
        let loaded = try ModelLoader.load(options.model)
        engine = try InferenceEngine(loaded: loaded, options: options, catalog: catalog, metrics: metrics)
        var known = options.adapters
        if let dir = options.adapterDirectory { known += try AdapterCatalog.scan(dir) }
        for (name, path) in known {
            guard name != options.baseName else { throw ServeError.badRequest("adapter name '\(name)' is the base model's name") }
            if catalog.residentCount < engine.maxLoadedAdapters {
                // The engine thread has not started: loading here is on the only thread touching the model.
                try engine.loadAdapter(name: name, path: path)
            } else {
                catalog.register(name, path: path)
            }
        }
    }

    /// Serves until SIGTERM/SIGINT: then stops accepting, lets requests in flight finish, and returns.
    /// `onListening` receives the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        engine.start()
        let router = Router()
        if let key = options.apiKey { router.add(middleware: APIKeyMiddleware(key: key)) }
        routes(router)
        let app = Application(router: router,
                              configuration: .init(address: .hostname(options.host, port: options.port), serverName: "lorakit"),
                              onServerRunning: { channel in onListening(channel.localAddress?.port ?? -1) })
        try await app.runService()
        engine.drain()
    }

    func routes(_ router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in HTTPReply.json(["status": "ok"]) }
        router.get("/metrics") { [metrics] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.text)))
        }
        router.get("/v1/models") { [self] _, _ in
            metrics.countRequest(endpoint: "models", status: 200)
            return HTTPReply.json(["object": "list", "data": modelList()])
        }
        router.post("/v1/chat/completions") { [self] request, _ in await complete(request, chat: true) }
        router.post("/v1/completions") { [self] request, _ in await complete(request, chat: false) }
        router.post("/v1/load_lora_adapter") { [self] request, _ in await loadAdapter(request) }
        router.post("/v1/unload_lora_adapter") { [self] request, _ in await unloadAdapter(request) }
    }

    func modelList() -> [[String: Any]] {
        let base: [String: Any] = ["id": options.baseName, "object": "model", "created": created, "owned_by": "lorakit",
                                   "root": options.model, "parent": NSNull(), "max_model_len": engine.contextLength]
        return [base] + catalog.names.map { name in
            ["id": name, "object": "model", "created": created, "owned_by": "lorakit",
             "root": catalog.path(name) ?? "", "parent": options.baseName, "max_model_len": engine.contextLength] as [String: Any]
        }
    }

    private func body(_ request: Request) async throws -> Data {
        do {
            var request = request
            let buffer = try await request.collectBody(upTo: Self.maxBody)
            return Data(buffer.readableBytesView)
        } catch {
            throw ServeError(status: 413, "the request body is larger than \(Self.maxBody) bytes")
        }
    }

    // MARK: - Completions

    private func complete(_ request: Request, chat: Bool) async -> Response {
        let endpoint = chat ? "chat_completions" : "completions"
        let parsed: CompletionRequest
        let stream: AsyncStream<EngineEvent>
        do {
            parsed = try CompletionRequest(json: try await body(request), chat: chat, contextLength: engine.contextLength)
            let adapters = try resolveAdapters(parsed)
            let (events, continuation) = AsyncStream.makeStream(of: EngineEvent.self)
            let job = GenerationJob(input: parsed.input, adapters: adapters,
                                    templateAdapter: parsed.model == options.baseName ? nil : parsed.model,
                                    maxTokens: parsed.maxTokens, sampling: parsed.sampling, stop: parsed.stop, events: continuation)
            continuation.onTermination = { [job] _ in job.cancelled = true }
            guard engine.submit(job) else {
                throw ServeError(status: 429, "the request queue is full (\(engine.maxQueue) waiting); retry later", type: "rate_limit_error")
            }
            stream = events
        } catch {
            let e = error as? ServeError ?? ServeError(status: 500, "\(error)", type: "server_error")
            metrics.countRequest(endpoint: endpoint, status: e.status)
            return HTTPReply.error(e)
        }
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let reader = EventReader(stream)
        // The first event tells whether the engine accepted the prompt (length errors come from there).
        guard let first = await reader.next() else {
            return HTTPReply.error(ServeError(status: 503, "the server is shutting down", type: "server_error"))
        }
        if case .failed(let e) = first {
            metrics.countRequest(endpoint: endpoint, status: e.status)
            return HTTPReply.error(e)
        }
        metrics.countRequest(endpoint: endpoint, status: 200)
        let shape = ResponseShape(id: id, model: parsed.model, created: Int(Date().timeIntervalSince1970), chat: chat)
        if parsed.stream {
            let includeUsage = parsed.includeUsage
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                            body: ResponseBody { writer in
                var event: EngineEvent? = first
                if chat { try await writer.write(HTTPReply.event(shape.chunk(delta: ["role": "assistant", "content": ""], finish: nil))) }
                while let e = event {
                    switch e {
                    case .text(let piece):
                        try await writer.write(HTTPReply.event(shape.chunk(delta: chat ? ["content": piece] : piece, finish: nil)))
                    case .finished(let info):
                        try await writer.write(HTTPReply.event(shape.chunk(delta: chat ? [:] : "", finish: info.reason)))
                        if includeUsage { try await writer.write(HTTPReply.event(shape.usageChunk(info))) }
                    case .failed(let error):
                        try await writer.write(HTTPReply.event(["error": ["message": error.message, "type": error.type]]))
                    }
                    event = await reader.next()
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
        }
        var text = ""
        var event: EngineEvent? = first
        var info = FinishInfo(reason: "stop", promptTokens: 0, completionTokens: 0)
        while let e = event {
            switch e {
            case .text(let piece): text += piece
            case .finished(let i): info = i
            case .failed(let error): return HTTPReply.error(error)
            }
            event = await reader.next()
        }
        return HTTPReply.json(shape.whole(text: text, info: info))
    }

    /// `model` names the adapter (the base name = none); `lora` adds or rescales adapters.
    func resolveAdapters(_ r: CompletionRequest) throws -> [(name: String, weight: Float)] {
        var list: [(name: String, weight: Float)] = []
        if r.model != options.baseName && r.model != options.model {
            guard catalog.path(r.model) != nil else { throw ServeError.modelNotFound(r.model) }
            list.append((r.model, 1))
        }
        for (name, scale) in r.lora {
            guard catalog.path(name) != nil else {
                throw ServeError(status: 404, "The LoRA adapter '\(name)' does not exist", param: "lora", code: "model_not_found")
            }
            if let i = list.firstIndex(where: { $0.name == name }) { list[i].weight = scale } else { list.append((name, scale)) }
        }
        return list.filter { $0.weight != 0 }
    }

    // MARK: - Adapter management (vLLM's endpoints)

    private func loadAdapter(_ request: Request) async -> Response {
        do {
            let fields = try await adminFields(request)
            guard let name = try fields.string("lora_name"), !name.isEmpty else { throw ServeError.badRequest("'lora_name' is required", param: "lora_name") }
            guard let path = try fields.string("lora_path"), !path.isEmpty else { throw ServeError.badRequest("'lora_path' is required", param: "lora_path") }
            guard name != options.baseName else { throw ServeError.badRequest("'\(name)' is the base model's name", param: "lora_name") }
            let engine = self.engine
            let seconds = try await engine.perform { try engine.loadAdapter(name: name, path: path) }
            metrics.countRequest(endpoint: "load_lora_adapter", status: 200)
            return HTTPReply.json(["status": "ok", "message": "Success: LoRA adapter '\(name)' added successfully.",
                                   "load_ms": (seconds * 1e5).rounded() / 100])
        } catch {
            return adminError(error, endpoint: "load_lora_adapter")
        }
    }

    private func unloadAdapter(_ request: Request) async -> Response {
        do {
            let fields = try await adminFields(request)
            guard let name = try fields.string("lora_name"), !name.isEmpty else { throw ServeError.badRequest("'lora_name' is required", param: "lora_name") }
            let engine = self.engine
            try await engine.perform { try engine.unloadAdapter(name: name) }
            metrics.countRequest(endpoint: "unload_lora_adapter", status: 200)
            return HTTPReply.json(["status": "ok", "message": "Success: LoRA adapter '\(name)' removed successfully."])
        } catch {
            return adminError(error, endpoint: "unload_lora_adapter")
        }
    }

    private func adminFields(_ request: Request) async throws -> Fields {
        let data = try await body(request)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ServeError.badRequest("the request body must be a JSON object")
        }
        return Fields(object)
    }

    private func adminError(_ error: Error, endpoint: String) -> Response {
        let e = error as? ServeError ?? ServeError(status: 500, "\(error)", type: "server_error")
        metrics.countRequest(endpoint: endpoint, status: e.status)
        return HTTPReply.error(e)
    }
}

/// OpenAI's response objects for one request.
struct ResponseShape {
    let id: String, model: String, created: Int, chat: Bool

    func chunk(delta: Any, finish: String?) -> [String: Any] {
        var choice: [String: Any] = ["index": 0, "finish_reason": finish ?? NSNull(), "logprobs": NSNull()]
        if chat { choice["delta"] = delta } else { choice["text"] = delta }
        return ["id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created, "model": model,
                "choices": [choice]]
    }

    func usageChunk(_ info: FinishInfo) -> [String: Any] {
        ["id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created, "model": model,
         "choices": [] as [Any], "usage": usage(info)]
    }

    func usage(_ info: FinishInfo) -> [String: Any] {
        ["prompt_tokens": info.promptTokens, "completion_tokens": info.completionTokens,
         "total_tokens": info.promptTokens + info.completionTokens]
    }

    func whole(text: String, info: FinishInfo) -> [String: Any] {
        var choice: [String: Any] = ["index": 0, "finish_reason": info.reason, "logprobs": NSNull()]
        if chat { choice["message"] = ["role": "assistant", "content": text] } else { choice["text"] = text }
        return ["id": id, "object": chat ? "chat.completion" : "text_completion", "created": created, "model": model,
                "choices": [choice], "usage": usage(info)]
    }
}
