import ArgumentParser
import Foundation
import LoRAKit
import Serving

/// `lorakit serve`: an OpenAI-compatible server over one base model and many LoRA adapters (see Sources/Serving).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model and its LoRA adapters over OpenAI's HTTP API, batching requests across adapters.")

    @Option(help: "Base model directory, .gguf file or alias.") var model: String
    @Option(name: .customLong("served-model-name"), help: "The base model's name in requests (default: the model's file name).")
    var servedModelName: String?
    @Option(name: .customLong("adapter"), help: "NAME=PATH of a PEFT adapter directory (repeatable).") var adapters: [String] = []
    @Option(name: .customLong("adapter-dir"), help: "Every subdirectory with an adapter_config.json is an adapter named after it.")
    var adapterDirectory: String?
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0 = any free one; the chosen port is printed).") var port = 8080
    @Option(name: .customLong("max-batch"), help: "Requests decoded together in one step.") var maxBatch = 8
    @Option(name: .customLong("max-loaded-adapters"), help: "Adapters kept in memory; the least recently used idle one is evicted.")
    var maxLoadedAdapters = 8
    @Option(name: .customLong("max-queue"), help: "Waiting requests beyond which new ones get 429.") var maxQueue = 256
    @Option(name: .customLong("api-key"), help: "Require 'Authorization: Bearer KEY' on /v1/ routes.") var apiKey: String?

    func run() throws {
        var options = ServeOptions(model: model)
        options.servedModelName = servedModelName
        options.adapterDirectory = adapterDirectory
        options.host = host
        options.port = port
        options.maxBatch = maxBatch
        options.maxLoadedAdapters = maxLoadedAdapters
        options.maxQueue = maxQueue
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["LORAKIT_API_KEY"]
        for spec in adapters {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
                throw ValidationError("--adapter wants NAME=PATH, got '\(spec)'")
            }
            options.adapters.append((String(spec[..<eq]), String(spec[spec.index(after: eq)...])))
        }
        let server: LoRAServer
        do { server = try LoRAServer(options: options) } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let (name, address) = (options.baseName, options.host)
        try blockingRun {
            try await server.run { port in
                print("lorakit serve: \(name) on http://\(address):\(port)")
                fflush(stdout)
            }
        }
        print("lorakit serve: stopped")
    }
}

/// Runs async work from a synchronous command (the CLI's root command is synchronous).
func blockingRun(_ body: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable { var error: (any Error)? }
    let outcome = Outcome()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { try await body() } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
}
