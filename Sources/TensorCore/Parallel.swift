import Foundation

/// Splits work over the machine's cores when it is large enough to pay for the thread hand-off.
public enum Parallel {
    public static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body` on disjoint sub-ranges of `0..<count` covering it, concurrently when `count * costPerItem`
    /// exceeds ~32k operations.
    public static func forEachChunk(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(cores, count, max(1, count * costPerItem / 32_768))
        if chunks <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            body(count * c / chunks ..< count * (c + 1) / chunks)
        }
    }
}
