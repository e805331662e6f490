import ArgumentParser
import Foundation
import LoRAKit
import Serving

/// `lorakit bench serve`: concurrent streaming clients against `lorakit serve` on loopback (a server it starts
/// itself on a free port, or --url), bounded in requests and seconds.
struct BenchServe: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve",
        abstract: "Aggregate tokens/s, p50/p99 latency and time to first token of lorakit serve, N clients over K adapters.")

    @Option(help: "Base model to serve (starts a server on 127.0.0.1 with a free port).") var model: String?
    @Option(name: .customLong("adapter"), help: "NAME=PATH adapters for the started server (repeatable).") var adapters: [String] = []
    @Option(help: "Use a running server instead (loopback only), e.g. http://127.0.0.1:8080.") var url: String?
    @Option(help: "Concurrent clients.") var clients = 8
    @Option(help: "Requests per phase.") var requests = 32
    @Option(name: .customLong("max-tokens"), help: "max_tokens of each request.") var maxTokens = 32
    @Option(help: "Seconds after which a phase stops issuing requests.") var deadline: Double = 120
    @Option(name: .customLong("max-batch")) var maxBatch = 8
    @Option(help: "Models the clients name (default: every adapter the server lists).") var models: [String] = []
    @Flag(help: "Also run 1 client on the first model alone and N clients on the base model, and print the ratios.") var compare = false
    @Option(help: "With --compare: run the three phases this many times, interleaved (so machine load hits all alike), and print the min and median of each ratio.") var repeats = 1
    @Option(name: .customLong("hot-load"), help: "A PEFT adapter directory to hot-load 5 times (load time in ms).") var hotLoad: String?
    @Option(help: "Send this many non-streamed requests, every fifth malformed, and check every answer.") var mixed: Int?

    func run() throws {
        guard requests > 0, requests <= 10_000, clients > 0, clients <= 256, deadline > 0, deadline <= 600, (1...10).contains(repeats) else {
            throw ValidationError("bounds: 1…10000 requests, 1…256 clients, deadline ≤ 600 s, 1…10 repeats")
        }
        try blockingRun { try await measure() }
        // A server started here has no other way to stop than with the process.
        Foundation.exit(0)
    }

    func measure() async throws {
        var base = url
        if base == nil {
            guard let model else { throw ValidationError("give --model (to start a server) or --url") }
            var options = ServeOptions(model: model)
            options.host = "127.0.0.1"
            options.port = 0
            options.maxBatch = maxBatch
            options.maxLoadedAdapters = max(8, adapters.count + 2)
            for spec in adapters {
                guard let eq = spec.firstIndex(of: "=") else { throw ValidationError("--adapter wants NAME=PATH") }
                options.adapters.append((String(spec[..<eq]), String(spec[spec.index(after: eq)...])))
            }
            let server = try LoRAServer(options: options)
            let port = AsyncStream.makeStream(of: Int.self)
            Task { try await server.run { port.continuation.yield($0) } }
            var it = port.stream.makeAsyncIterator()
            base = "http://127.0.0.1:\(await it.next() ?? 0)"
        }
        let bench = ServeBenchmark(url: base!, clients: clients, requests: requests, maxTokens: maxTokens, deadline: deadline)
        let listing = try await bench.listModels()
        let baseName = listing.first { $0.parent == nil }?.id ?? ""
        var names = models.isEmpty ? listing.filter { $0.parent != nil }.map(\.id) : models
        if names.isEmpty { names = [baseName] }
        print(String(format: "bench serve: %@, %d clients, %d requests per phase, max_tokens %d", base!, clients, requests, maxTokens))
        if let hotLoad {
            let (server, trip) = try await bench.hotLoad(path: hotLoad, times: 5)
            print("hot load \(hotLoad): server " + server.map { String(format: "%.1f", $0) }.joined(separator: ", ")
                  + " ms; round trip " + trip.map { String(format: "%.1f", $0) }.joined(separator: ", ") + " ms")
        }
        if let mixed {
            let context = listing.first?.maxModelLen ?? 2048
            let (summary, ok) = try await bench.mixed(count: mixed, models: names + [baseName], contextLength: context)
            print(summary)
            if !ok { throw ExitCode.failure }
            return
        }
        _ = try await bench.run(label: "warm-up", models: names)  // page in weights, fill pools
        // One request at a time over the same prompts and max_tokens as the concurrent phases (a shorter or
        // different prompt set would make "alone" faster or slower for reasons that are not batching).
        var one = bench
        one.clients = 1
        var vsAlone: [Double] = [], vsBase: [Double] = []
        for round in 1...(compare ? repeats : 1) {
            let many = try await bench.run(label: "\(clients) clients over \(names.count) model(s) \(names)", models: names)
            print(many)
            guard compare else { return }
            let single = try await one.run(label: "1 client on \(names[0])", models: [names[0]])
            print(single)
            let onBase = try await bench.run(label: "\(clients) clients on the base \(baseName)", models: [baseName])
            print(onBase)
            vsAlone.append(many.tokensPerSecond / single.tokensPerSecond)
            vsBase.append(many.tokensPerSecond / onBase.tokensPerSecond)
            print(String(format: "round %d: ratio vs 1 alone %.2fx; vs %d on the base %.2fx", round, vsAlone.last!, clients, vsBase.last!))
        }
        func summary(_ v: [Double]) -> String {
            let s = v.sorted()
            return String(format: "min %.2fx, median %.2fx", s[0], s[s.count / 2])
        }
        print("ratio vs 1 alone: \(summary(vsAlone)); vs \(clients) on the base: \(summary(vsBase)) (\(vsAlone.count) round(s))")
    }
}
