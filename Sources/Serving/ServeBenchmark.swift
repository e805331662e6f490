import Foundation

/// `lorakit bench serve`: N concurrent streaming clients over K models (adapters or the base), on loopback only,
/// bounded by a request count and a deadline. Reports aggregate decode tokens/s, latency and time to first token.
public struct ServeBenchmark: Sendable {
    public var url: String
    public var clients: Int
    public var requests: Int
    public var maxTokens: Int
    public var deadline: Double
    public init(url: String, clients: Int, requests: Int, maxTokens: Int, deadline: Double) {
        (self.url, self.clients, self.requests, self.maxTokens, self.deadline) = (url, clients, requests, maxTokens, deadline)
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var label: String
        public var completed: Int
        public var failed: Int
        public var completionTokens: Int
        public var wallSeconds: Double
        public var latencies: [Double]
        public var firstToken: [Double]
        public var tokensPerSecond: Double { wallSeconds > 0 ? Double(completionTokens) / wallSeconds : 0 }

        static func percentile(_ values: [Double], _ p: Double) -> Double {
            guard !values.isEmpty else { return .nan }
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count - 1)).rounded()))]
        }

        public var description: String {
            String(format: "%@: %d requests (%d failed), %d tokens in %.2f s = %.1f tokens/s; latency p50 %.0f ms p99 %.0f ms; first token p50 %.0f ms p99 %.0f ms",
                   label as NSString, completed, failed, completionTokens, wallSeconds, tokensPerSecond,
                   Self.percentile(latencies, 50) * 1000, Self.percentile(latencies, 99) * 1000,
                   Self.percentile(firstToken, 50) * 1000, Self.percentile(firstToken, 99) * 1000)
        }
    }

    /// A model that GET /v1/models lists.
    public struct Listed: Sendable { public var id: String; public var parent: String?; public var maxModelLen: Int? }

    public func listModels() async throws -> [Listed] {
        let reply = try await LoopbackClient(url).send("GET", "v1/models")
        let list = reply.json?["data"] as? [[String: Any]] ?? []
        return list.map { Listed(id: $0["id"] as? String ?? "", parent: $0["parent"] as? String, maxModelLen: $0["max_model_len"] as? Int) }
    }

    /// Prompts cycled over the requests (short chat turns, so decoding dominates).
    static let prompts = ["Write a short poem about the sea.", "Explain what a list is in Python.",
                          "Give three tips for sleeping well.", "What is the capital of France? Answer in a sentence.",
                          "Describe a cat to someone who has never seen one.", "How do plants make food?",
                          "Tell me a fun fact about space.", "Why is the sky blue?"]

    /// Runs `requests` streamed chat completions, `clients` at a time, request i naming `models[i % K]`.
    public func run(label: String, models: [String]) async throws -> Report {
        let client = try LoopbackClient(url)
        let start = DispatchTime.now().uptimeNanoseconds
        let stopAt = start + UInt64(deadline * 1e9)
        final class Counter: @unchecked Sendable {
            let lock = NSLock(); var next = 0
            func take(_ limit: Int, _ stopAt: UInt64) -> Int? {
                lock.withLock {
                    guard next < limit, DispatchTime.now().uptimeNanoseconds < stopAt else { return nil }
                    defer { next += 1 }
                    return next
                }
            }
        }
        let counter = Counter()
        let maxTokens = self.maxTokens, total = self.requests
        let results = try await withThrowingTaskGroup(of: [LoopbackClient.StreamResult?].self) { group in
            for _ in 0..<max(1, clients) {
                group.addTask {
                    var mine: [LoopbackClient.StreamResult?] = []
                    while let i = counter.take(total, stopAt) {
                        let body: [String: Any] = [
                            "model": models[i % models.count], "stream": true, "stream_options": ["include_usage": true],
                            "max_tokens": maxTokens, "temperature": 0,
                            "messages": [["role": "user", "content": Self.prompts[i % Self.prompts.count]]],
                        ]
                        mine.append(try? await client.stream("v1/chat/completions", json: body))
                    }
                    return mine
                }
            }
            var all: [LoopbackClient.StreamResult?] = []
            for try await part in group { all += part }
            return all
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let good = results.compactMap { $0 }.filter { $0.status == 200 && $0.sawDone }
        return Report(label: label, completed: good.count, failed: results.count - good.count,
                      completionTokens: good.reduce(0) { $0 + $1.completionTokens }, wallSeconds: wall,
                      latencies: good.map(\.totalSeconds), firstToken: good.compactMap(\.firstTextSeconds))
    }

    /// Loads the adapter at `path` `times` times under fresh names (unloading each), returning the server-side
    /// load times and the client-side round trips, in milliseconds.
    public func hotLoad(path: String, times: Int) async throws -> (server: [Double], roundTrip: [Double]) {
        let client = try LoopbackClient(url)
        var server: [Double] = [], roundTrip: [Double] = []
        for i in 0..<times {
            let name = "bench-hotload-\(i)"
            let t0 = DispatchTime.now().uptimeNanoseconds
            let reply = try await client.post("v1/load_lora_adapter", json: ["lora_name": name, "lora_path": path])
            roundTrip.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            guard reply.status == 200, let ms = reply.json?["load_ms"] as? Double else {
                throw ServeError(status: reply.status, "hot load failed: \(String(decoding: reply.body, as: UTF8.self))")
            }
            server.append(ms)
            _ = try await client.post("v1/unload_lora_adapter", json: ["lora_name": name])
        }
        return (server, roundTrip)
    }

    /// `count` non-streamed requests, `clients` at a time, every fifth one malformed in one of four ways; checks
    /// each answer's status (200 with text for good ones, the expected 4xx for bad ones) and that /health still
    /// answers. Returns a one-line summary and whether everything was as expected.
    public func mixed(count: Int, models: [String], contextLength: Int) async throws -> (summary: String, ok: Bool) {
        let client = try LoopbackClient(url)
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var good = 0, goodFailed = 0, bad = 0, badUnexpected = 0, transport = 0
            var statuses: [Int: Int] = [:]
            var examples: [String] = []
            func note(_ s: String) { if examples.count < 5 { examples.append(s) } }
        }
        let tally = Tally()
        let maxTokens = self.maxTokens
        let longPrompt = String(repeating: "hello ", count: contextLength + 16)
        let start = DispatchTime.now().uptimeNanoseconds
        let stopAt = start + UInt64(deadline * 1e9)
        final class Counter: @unchecked Sendable { let lock = NSLock(); var next = 0 }
        let counter = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, clients) {
                group.addTask {
                    while true {
                        // Bounded in time too: past the deadline no new request goes out (the rest count as unsent).
                        guard let i = counter.lock.withLock({ () -> Int? in
                            guard counter.next < count, DispatchTime.now().uptimeNanoseconds < stopAt else { return nil }
                            defer { counter.next += 1 }
                            return counter.next
                        }) else { return }
                        let model = models[i % models.count]
                        let good: [String: Any] = ["model": model, "max_tokens": maxTokens, "temperature": 0,
                                                   "messages": [["role": "user", "content": Self.prompts[i % Self.prompts.count]]]]
                        var body: Data
                        var expected = 200
                        switch (i % 5 == 4 ? (i / 5) % 4 : -1) {
                        case 0: body = Data("{\"model\": \"\(model)\", \"messages\": [".utf8); expected = 400
                        case 1: var b = good; b["model"] = "no-such-adapter-\(i)"; body = try! JSONSerialization.data(withJSONObject: b); expected = 404
                        case 2: var b = good; b["max_tokens"] = 0; body = try! JSONSerialization.data(withJSONObject: b); expected = 400
                        case 3: var b = good; b["messages"] = [["role": "user", "content": longPrompt]]; body = try! JSONSerialization.data(withJSONObject: b); expected = 400
                        default: body = try! JSONSerialization.data(withJSONObject: good)
                        }
                        do {
                            let reply = try await client.send("POST", "v1/chat/completions", body: body)
                            let hasText = ((reply.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] is String
                            let errorShaped = (reply.json?["error"] as? [String: Any])?["message"] is String
                            tally.lock.withLock {
                                tally.statuses[reply.status, default: 0] += 1
                                if expected == 200 {
                                    if reply.status == 200 && hasText { tally.good += 1 } else {
                                        tally.goodFailed += 1
                                        tally.note("#\(i) \(reply.status) \(String(decoding: reply.body.prefix(200), as: UTF8.self))")
                                    }
                                } else if reply.status == expected && errorShaped { tally.bad += 1 } else {
                                    tally.badUnexpected += 1
                                    tally.note("#\(i) wanted \(expected), got \(reply.status)")
                                }
                            }
                        } catch {
                            tally.lock.withLock { tally.transport += 1; tally.note("#\(i) \(error)") }
                        }
                    }
                }
            }
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let health = try? await client.send("GET", "health")
        let unsent = count - counter.next
        let ok = tally.goodFailed == 0 && tally.badUnexpected == 0 && tally.transport == 0 && unsent == 0 && health?.status == 200
        let byStatus = tally.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        let summary = String(format: "mixed: %d requests in %.1f s, by status {%@}: ", count, wall, byStatus)
            + "\(tally.good) good answered, \(tally.goodFailed) good failed, \(tally.bad) malformed rejected as expected, \(tally.badUnexpected) unexpected, \(tally.transport) dropped, \(unsent) not sent before the \(Int(deadline)) s deadline; /health \(health?.status ?? 0)"
            + (tally.examples.isEmpty ? "" : "; e.g. " + tally.examples.joined(separator: " | "))
        return (summary, ok)
    }
}
