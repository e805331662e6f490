import Foundation
import ArchitectureKit
import TensorCore

/// A setting that may be `auto` (resolved by `AutoSettings`) or a given value.
public enum AutoValue<T: Equatable & Sendable>: Equatable, Sendable {
    case auto
    case value(T)
}

/// How `learning_rate: auto` and `batch_size: auto` are resolved.
///
/// Learning rate — a documented rule, not a search: 2e-4 is the common LoRA default (QLoRA, Axolotl, mlx-lm) for
/// rank 16 with alpha = 2r; the effective update of a LoRA layer scales with alpha/r (or alpha/√r for rsLoRA), so
/// the rule divides by that scale relative to 2 (the default alpha/r) and clamps to [5e-5, 2e-3]:
///
///     lr = 2e-4 · 2 / (alpha/r)        (alpha/√r with use_rslora)
///
/// Batch size — measured: one trial step at batch 1 and one at batch 2 (max_seq_length tokens per row) give the
/// resident memory of the model plus optimizer (intercept) and of one more row of activations (slope), from the
/// kernel's peak-RSS counter reset between trials (/proc/self/clear_refs). The batch is the largest that keeps the
/// predicted peak within the budget (default: half of MemAvailable), capped at 16 because on a CPU larger micro-
/// batches no longer raise tokens/s — gradient accumulation does the rest.
public enum AutoSettings {
    public static func learningRate(rank: Int, alpha: Double, useRSLoRA: Bool) -> Double {
        let scale = useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank)
        return min(2e-3, max(5e-5, 2e-4 * 2 / max(scale, 1e-6)))
    }

    /// Memory in bytes that `batch_size: auto` may use: the given budget, or half of MemAvailable.
    public static func memoryBudget(gigabytes: Double?) -> Int {
        if let gigabytes { return Int(gigabytes * 1e9) }
        return (MemoryStatistics.availableBytes() ?? 4_000_000_000) / 2
    }

    /// Picks the batch size from trial steps: `trial(b)` runs one forward and backward with `b` full-length rows.
    public static func batchSize(budgetBytes: Int, maximum: Int = 16, trial: (Int) throws -> Void) rethrows -> (batch: Int, perRowBytes: Int, baseBytes: Int) {
        let peak1 = try MemoryStatistics.peakDuring { try trial(1) }
        let peak2 = try MemoryStatistics.peakDuring { try trial(2) }
        let perRow = max(peak2 - peak1, 1)
        let base = max(peak1 - perRow, 0)
        let fits = (budgetBytes - base) / perRow
        return (min(maximum, max(1, fits)), perRow, base)
    }
}

/// Resident-memory readings from /proc (Linux).
public enum MemoryStatistics {
    /// Peak resident set size of this process so far (VmHWM), in bytes.
    public static func peakResidentBytes() -> Int? { statusField("VmHWM:") }
    public static func residentBytes() -> Int? { statusField("VmRSS:") }

    public static func availableBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }

    /// Peak RSS while `body` runs: the kernel's high-water mark is reset first (writing 5 to clear_refs).
    public static func peakDuring(_ body: () throws -> Void) rethrows -> Int {
        if let fd = fopen("/proc/self/clear_refs", "w") { fputs("5", fd); fclose(fd) }
        try body()
        return peakResidentBytes() ?? 0
    }

    static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }
}

extension AutoSettings {
    /// `batch_size: auto` for a model: trial steps (forward + backward, gradients discarded) on rows of `length`
    /// random token ids, measured as `batchSize(budgetBytes:trial:)` describes. Dropout generators are not touched
    /// (the trial runs in eval mode), so the run that follows is the same as with that batch size given.
    public static func measureBatchSize(model: any ArchitectureModel, vocabularySize: Int, length: Int, budgetBytes: Int,
                                        maximum: Int = 16) -> (batch: Int, perRowBytes: Int, baseBytes: Int) {
        let wasTraining = model.isTraining
        model.setTraining(false)
        defer { model.setTraining(wasTraining) }
        let classification = { if case .sequenceClassification = model.head { return true }; return false }()
        var generator = SeededGenerator(seed: 0)
        return batchSize(budgetBytes: budgetBytes, maximum: maximum) { rows in
            let examples = (0..<rows).map { _ -> TokenizedExample in
                let ids = (0..<length).map { _ in Int32(generator.next() % UInt64(max(vocabularySize, 1))) }
                return TokenizedExample(inputIDs: ids, labels: ids, classLabel: classification ? 0 : nil)
            }
            let batch = BatchBuilder.padded(examples, padID: 0)
            let (loss, _) = LossComputation.summedLoss(model, batch)
            loss.backward()
            for (_, p) in model.trainableParameters() { p.grad = nil }
            Tensor.releaseCachedBuffers()
        }
    }
}
