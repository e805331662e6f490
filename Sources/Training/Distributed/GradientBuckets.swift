import Foundation
import TensorCore

/// Sums every trainable parameter's gradient over the ranks, in place, in fp32: gradients are copied end to end
/// into a bucket of at most `bucketElements` floats, the bucket is all-reduced in one call, and the sums are copied
/// back. A few large messages instead of one per tensor: each all-reduce pays a latency of tens of µs (more over
/// TCP), and SmolLM2's 4 × 30 LoRA pairs would pay it 240 times.
public final class GradientBuckets {
    /// 4 Mi floats = 16 MiB per bucket (PyTorch DDP uses 25 MB buckets).
    public static let defaultBucketElements = 4 << 20
    public let bucketElements: Int
    private var buffer: [Float] = []
    /// Totals since creation, for the summary: all-reduce calls, bytes reduced per rank, seconds spent.
    public private(set) var calls = 0
    public private(set) var bytes = 0
    public private(set) var seconds = 0.0
    public private(set) var steps = 0

    public init(bucketElements: Int = GradientBuckets.defaultBucketElements) {
        self.bucketElements = max(1, bucketElements)
    }

    /// Reduces the gradients of `parameters` (all of which must have one; the caller materialises zeros for a
    /// parameter that another rank produced a gradient for).
    public func reduce(_ parameters: [Tensor], over communicator: any Communicator) throws {
        steps += 1
        guard communicator.size > 1 else { return }
        let started = Date()
        var pending: [Tensor] = []
        var filled = 0
        func flush() throws {
            guard filled > 0 else { return }
            try buffer.withUnsafeMutableBufferPointer { try communicator.sumInPlace(UnsafeMutableBufferPointer(rebasing: $0[0..<filled])) }
            calls += 1
            bytes += filled * MemoryLayout<Float>.size
            var at = 0
            buffer.withUnsafeBufferPointer { b in
                for t in pending {
                    let g = t.grad!
                    g.data.update(from: b.baseAddress! + at, count: g.count)
                    at += g.count
                }
            }
            pending.removeAll(keepingCapacity: true)
            filled = 0
        }
        if buffer.count < min(bucketElements, parameters.reduce(0) { $0 + $1.count }) {
            buffer = [Float](repeating: 0, count: min(bucketElements, parameters.reduce(0) { $0 + $1.count }))
        }
        for p in parameters {
            guard let g = p.grad else { continue }
            if g.count > bucketElements {
                // A tensor larger than a bucket (a full embedding in modules_to_save) is reduced on its own, in place.
                try flush()
                try communicator.sumInPlace(UnsafeMutableBufferPointer(start: g.data, count: g.count))
                calls += 1
                bytes += g.count * MemoryLayout<Float>.size
                continue
            }
            if filled + g.count > bucketElements { try flush() }
            buffer.withUnsafeMutableBufferPointer { b in (b.baseAddress! + filled).update(from: g.data, count: g.count) }
            filled += g.count
            pending.append(p)
        }
        try flush()
        seconds += Date().timeIntervalSince(started)
    }
}

/// A 64-bit hash (FNV-1a over 32-bit words) of the exact bits of every parameter, in path order, returned as two
/// 32-bit halves in Doubles so that ranks can compare it with a max/min all-reduce.
public func parameterChecksum(_ parameters: [(path: String, tensor: Tensor)]) -> [Double] {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for (path, t) in parameters {
        for byte in path.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let words = UnsafeRawPointer(t.data).bindMemory(to: UInt32.self, capacity: t.count)
        for i in 0..<t.count { h = (h ^ UInt64(words[i])) &* 0x100_0000_01b3 }
    }
    return [Double(h >> 32), Double(h & 0xffff_ffff)]
}
