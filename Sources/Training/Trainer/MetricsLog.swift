import Foundation

/// One line of metrics.jsonl.
public struct MetricsRecord: Codable, Equatable, Sendable {
    public var step: Int
    public var loss: Double?
    public var evalLoss: Double?
    public var evalAccuracy: Double?
    public var learningRate: Double?
    public var gradNorm: Double?
    /// Frobenius norms of the adapter weights, grouped by kind (lora_A, lora_B, other).
    public var adapterNorms: [String: Double]?
    public var tokensPerSecond: Double?
    public var epoch: Double?

    enum CodingKeys: String, CodingKey {
        case step, loss, epoch
        case evalLoss = "eval_loss", evalAccuracy = "eval_accuracy", learningRate = "learning_rate", gradNorm = "grad_norm"
        case adapterNorms = "adapter_norms", tokensPerSecond = "tokens_per_s"
    }

    public init(step: Int) { self.step = step }
}

/// Appends metrics to output_dir/metrics.jsonl, one JSON object per line, and keeps them for the loss curve.
public final class MetricsLog {
    public let url: URL?
    public private(set) var records: [MetricsRecord] = []

    /// Opens the log; on a resume, lines after `resumeStep` (written after the checkpoint by the interrupted run)
    /// are dropped so the file describes one consistent run.
    public init(url: URL?, resumeStep: Int? = nil) throws {
        self.url = url
        guard let url else { return }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if let resumeStep, let data = try? Data(contentsOf: url) {
            let decoder = JSONDecoder()
            records = String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
                try? decoder.decode(MetricsRecord.self, from: Data($0.utf8))
            }.filter { $0.step <= resumeStep }
            try rewrite()
        } else {
            // A fresh run replaces an old log, but only once it writes: a trainer that is about to resume opens a
            // second log over the same file, which must still find the interrupted run's lines.
            startsFresh = true
        }
    }

    private var startsFresh = false

    public func append(_ record: MetricsRecord) throws {
        records.append(record)
        guard let url else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(record)
        line.append(0x0A)
        if startsFresh {
            try? FileManager.default.removeItem(at: url)
            startsFresh = false
        }
        if let handle = try? FileHandle(forWritingTo: url) {
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } else {
            try line.write(to: url)
        }
    }

    private func rewrite() throws {
        guard let url else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for r in records { data += try encoder.encode(r); data.append(0x0A) }
        try FileManagerAtomic.write(data, to: url)
    }
}

/// Writes through a temporary file in the same directory and renames it over the destination, so a reader never
/// sees half a file.
public enum FileManagerAtomic {
    public static func write(_ data: Data, to url: URL) throws {
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        try data.write(to: temp)
        if rename(temp.path, url.path) != 0 {
            try? FileManager.default.removeItem(at: temp)
            throw TrainingError.checkpoint("cannot rename \(temp.path) to \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
