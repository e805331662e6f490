import Foundation

/// Splits work over the machine's cores when it is large enough to pay for the thread hand-off.
public enum Parallel {
    /// The process's thread budget (LORAKIT_THREADS, default the cores available; see `ComputeEnvironment`).
    public static let cores = ComputeEnvironment.current.threads

    /// Calls `body` on disjoint sub-ranges of `0..<count` covering it, concurrently when `count * costPerItem`
    /// exceeds ~32k operations.
    public static func forEachChunk(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(cores, count, max(1, count * costPerItem / 32_768))
        if chunks <= 1 { body(0..<count); return }
        // Each chunk holds one core of the budget, so a GEMM inside it must not start a thread team of its own.
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            ThreadBudget.singleThreaded { body(count * c / chunks ..< count * (c + 1) / chunks) }
        }
    }
}
