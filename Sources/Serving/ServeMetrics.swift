import Foundation
import Prometheus

/// What GET /metrics reports, in Prometheus' text format (swift-prometheus does the exposition).
final class ServeMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let promptTokens: Counter
    let completionTokens: Counter
    let queueDepth: Gauge
    let batchSize: Gauge
    let loadedAdapters: Gauge
    /// Requests per decode step.
    let stepBatchSize: ValueHistogram
    private let lock = NSLock()
    private var requestCounters: [String: Counter] = [:]

    init() {
        promptTokens = registry.makeCounter(name: "lorakit_prompt_tokens_total", help: "Prompt tokens processed.")
        completionTokens = registry.makeCounter(name: "lorakit_generation_tokens_total", help: "Tokens generated.")
        queueDepth = registry.makeGauge(name: "lorakit_queue_depth", help: "Requests waiting for a batch slot.")
        batchSize = registry.makeGauge(name: "lorakit_batch_size", help: "Requests in the running batch.")
        loadedAdapters = registry.makeGauge(name: "lorakit_loaded_adapters", help: "LoRA adapters resident in memory.")
        stepBatchSize = registry.makeValueHistogram(name: "lorakit_decode_batch_size", buckets: [1, 2, 4, 8, 16, 32, 64],
                                                    help: "Requests decoded together, per decode step.")
    }

    /// Counts one answered request by endpoint and status code.
    func countRequest(endpoint: String, status: Int) {
        let key = "\(endpoint) \(status)"
        let counter = lock.withLock { () -> Counter in
            if let c = requestCounters[key] { return c }
            let c = registry.makeCounter(name: "lorakit_requests_total", labels: [("endpoint", endpoint), ("status", "\(status)")],
                                         help: "HTTP requests answered.")
            requestCounters[key] = c
            return c
        }
        counter.increment()
    }

    var text: String { registry.emitToString() }
}
