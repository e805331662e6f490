import Foundation
import LoRAKit

/// A parsed /v1/chat/completions or /v1/completions body (OpenAI's fields; llama.cpp's `lora` list; `top_k` and
/// `seed` as vLLM takes them). Every field is checked here, so a bad one is a 400 that names it.
struct CompletionRequest {
    var model: String
    var input: GenerationJob.Input
    var stream = false
    var includeUsage = false
    var maxTokens: Int?
    var sampling = SamplingOptions(temperature: 1)
    var stop: [String] = []
    /// llama.cpp-style per-request adapters with their scale.
    var lora: [(name: String, scale: Float)] = []

    /// Largest max_tokens accepted before the prompt is known; the context length then bounds prompt + max_tokens.
    init(json data: Data, chat: Bool, contextLength: Int) throws {
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: data) }
        catch { throw ServeError.badRequest("We could not parse the JSON body of your request: \(Self.reason(error))") }
        guard let body = any as? [String: Any] else { throw ServeError.badRequest("the request body must be a JSON object") }
        let fields = Fields(body)
        guard let model = try fields.string("model") else { throw ServeError.badRequest("'model' is required", param: "model") }
        self.model = model
        if chat {
            guard let raw = body["messages"] else { throw ServeError.badRequest("'messages' is required", param: "messages") }
            input = .chat(try Self.messages(raw))
        } else {
            guard let raw = body["prompt"] else { throw ServeError.badRequest("'prompt' is required", param: "prompt") }
            input = try Self.prompt(raw)
        }
        stream = try fields.bool("stream") ?? false
        if let options = body["stream_options"], !(options is NSNull) {
            guard let o = options as? [String: Any] else { throw ServeError.badRequest("'stream_options' must be an object", param: "stream_options") }
            includeUsage = try Fields(o).bool("include_usage") ?? false
        }
        if let n = try fields.int("n"), n != 1 { throw ServeError.badRequest("only n = 1 is supported", param: "n") }
        if let logprobs = body["logprobs"], !(logprobs is NSNull), (logprobs as? Bool) != false {
            throw ServeError.badRequest("logprobs are not supported", param: "logprobs")
        }
        let maxKey = body["max_completion_tokens"] != nil && !(body["max_completion_tokens"] is NSNull) ? "max_completion_tokens" : "max_tokens"
        if let m = try fields.int(maxKey) {
            guard m >= 1, m <= contextLength else {
                throw ServeError.badRequest("'\(maxKey)' must be between 1 and the context length \(contextLength), got \(m)", param: maxKey)
            }
            maxTokens = m
        }
        if let t = try fields.double("temperature") {
            guard t >= 0, t <= 2 else { throw ServeError.badRequest("'temperature' must be in [0, 2], got \(t)", param: "temperature") }
            sampling.temperature = Float(t)
        }
        if let p = try fields.double("top_p") {
            guard p > 0, p <= 1 else { throw ServeError.badRequest("'top_p' must be in (0, 1], got \(p)", param: "top_p") }
            sampling.topP = Float(p)
        }
        if let k = try fields.int("top_k") {
            // vLLM: -1 (or 0) means no top-k.
            guard k >= -1 else { throw ServeError.badRequest("'top_k' must be -1 (off) or positive, got \(k)", param: "top_k") }
            sampling.topK = k > 0 ? k : nil
        }
        if let seed = try fields.int("seed") { sampling.seed = UInt64(bitPattern: Int64(seed)) }
        else { sampling.seed = UInt64.random(in: 0...UInt64.max) }
        if let s = body["stop"], !(s is NSNull) {
            if let one = s as? String { stop = [one] }
            else if let list = s as? [String], list.count <= 16 { stop = list }
            else { throw ServeError.badRequest("'stop' must be a string or a list of up to 16 strings", param: "stop") }
            stop = stop.filter { !$0.isEmpty }
        }
        if let l = body["lora"], !(l is NSNull) {
            guard let list = l as? [[String: Any]] else {
                throw ServeError.badRequest("'lora' must be a list of {\"name\": …, \"scale\": …}", param: "lora")
            }
            for entry in list {
                let f = Fields(entry)
                guard let name = try f.string("name") else { throw ServeError.badRequest("each 'lora' entry needs a 'name'", param: "lora") }
                let scale = try f.double("scale") ?? 1
                guard scale.isFinite, abs(scale) <= 100 else { throw ServeError.badRequest("'lora' scale must be within ±100", param: "lora") }
                lora.append((name, Float(scale)))
            }
        }
    }

    static func messages(_ raw: Any) throws -> [ChatMessage] {
        guard let list = raw as? [[String: Any]], !list.isEmpty else {
            throw ServeError.badRequest("'messages' must be a non-empty list of {\"role\", \"content\"} objects", param: "messages")
        }
        return try list.enumerated().map { i, m in
            guard let role = m["role"] as? String else { throw ServeError.badRequest("messages[\(i)].role must be a string", param: "messages") }
            let content: String
            switch m["content"] {
            case let s as String: content = s
            case is NSNull, nil: content = ""
            case let parts as [[String: Any]]:
                // Content parts: only text parts can be served by a text model.
                content = try parts.map { part in
                    guard part["type"] as? String == "text", let text = part["text"] as? String else {
                        throw ServeError.badRequest("messages[\(i)].content: only text parts are supported", param: "messages")
                    }
                    return text
                }.joined()
            default: throw ServeError.badRequest("messages[\(i)].content must be a string or a list of text parts", param: "messages")
            }
            return ChatMessage(role: role, content: content)
        }
    }

    static func prompt(_ raw: Any) throws -> GenerationJob.Input {
        if let s = raw as? String { return .text(s) }
        if let list = raw as? [String], list.count == 1 { return .text(list[0]) }
        if let ids = raw as? [NSNumber], !ids.isEmpty, ids.allSatisfy({ String(cString: $0.objCType) != "c" && $0.doubleValue == $0.doubleValue.rounded() }) {
            return .tokens(ids.map(\.intValue))
        }
        if let lists = raw as? [[Any]], lists.count == 1 { return try prompt(lists[0]) }
        throw ServeError.badRequest("'prompt' must be a string or a list of token ids (one prompt per request)", param: "prompt")
    }

    static func reason(_ error: Error) -> String {
        (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "invalid JSON"
    }
}

/// Typed access to JSON fields with errors that name the field.
struct Fields {
    let body: [String: Any]
    init(_ body: [String: Any]) { self.body = body }

    private func value(_ key: String) -> Any? {
        guard let v = body[key], !(v is NSNull) else { return nil }
        return v
    }
    func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v as? String else { throw ServeError.badRequest("'\(key)' must be a string", param: key) }
        return s
    }
    func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard let n = v as? NSNumber, isBoolean(n) else {
            throw ServeError.badRequest("'\(key)' must be a boolean", param: key)
        }
        return n.boolValue
    }
    func int(_ key: String) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard let n = v as? NSNumber, !isBoolean(n), n.doubleValue.isFinite, n.doubleValue == n.doubleValue.rounded(),
              abs(n.doubleValue) < 9e15 else {
            throw ServeError.badRequest("'\(key)' must be an integer", param: key)
        }
        return Int(n.doubleValue)
    }
    func double(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let n = v as? NSNumber, !isBoolean(n), n.doubleValue.isFinite else {
            throw ServeError.badRequest("'\(key)' must be a number", param: key)
        }
        return n.doubleValue
    }
    /// JSON true/false arrive as NSNumber too; their type code is "c" (char), numbers' never is.
    private func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }
}
