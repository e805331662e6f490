import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Owned, 64-byte aligned Float32 buffer shared by a tensor and its views.
///
/// A class so that views (reshape, first-axis slices) share memory and the buffer is freed exactly when the last
/// view goes away — this is what lets the autograd engine release saved activations by dropping references.
public final class Storage {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let capacity: Int

    public init(count: Int, zeroed: Bool = true) {
        self.count = count
        capacity = BufferPool.roundedCapacity(count)
        pointer = BufferPool.shared.take(capacity: capacity)
        if zeroed { pointer.initialize(repeating: 0, count: count) }
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count, zeroed: false)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { BufferPool.shared.give(pointer, capacity: capacity) }
}

/// Keeps recently freed large buffers for reuse. A training step allocates the same shapes every step; without
/// reuse each large allocation is a fresh mmap whose first touch page-faults (a 200 MB logits tensor costs tens of
/// milliseconds that way). Small buffers go straight to malloc, which already recycles them.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()
    /// Buffers below this many floats (1 MiB) are not pooled.
    static let minimumPooled = 1 << 18
    /// Upper bound on idle pooled memory, in floats (2 GiB).
    static let maximumIdle = 1 << 29

    private var idle: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var idleFloats = 0
    private let lock = NSLock()

    init() {
        #if canImport(Glibc)
        // glibc raises its mmap threshold to the size of every mmapped block freed (up to 32 MB), after which
        // such blocks come from the heap and freed ones stay resident, fragmented, for the life of the process.
        // A fixed threshold keeps large blocks mmapped, so what the pool does not keep goes back to the system.
        // mallopt is declared in <malloc.h>, which Swift's Glibc module does not import; M_MMAP_THRESHOLD is −3.
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
            _ = mallopt(-3, Int32(Self.minimumPooled * 4))
        }
        #endif
    }

    /// Pooled sizes are rounded up to 1/8 of their power of two, so near-equal shapes share buffers.
    static func roundedCapacity(_ count: Int) -> Int {
        let n = max(count, 1)
        guard n >= minimumPooled else { return n }
        let step = 1 << max(0, (Int.bitWidth - n.leadingZeroBitCount) - 4)
        return (n + step - 1) / step * step
    }

    func take(capacity: Int) -> UnsafeMutablePointer<Float> {
        if capacity >= Self.minimumPooled {
            lock.lock()
            if let p = idle[capacity]?.popLast() {
                idleFloats -= capacity
                lock.unlock()
                return p
            }
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: capacity * 4, alignment: 64).bindMemory(to: Float.self, capacity: capacity)
    }

    func give(_ p: UnsafeMutablePointer<Float>, capacity: Int) {
        if capacity >= Self.minimumPooled {
            lock.lock()
            if idleFloats + capacity <= Self.maximumIdle {
                idle[capacity, default: []].append(p)
                idleFloats += capacity
                lock.unlock()
                return
            }
            lock.unlock()
        }
        UnsafeMutableRawPointer(p).deallocate()
    }

    /// Returns every idle buffer to the system (after loading a model, before measuring memory).
    func drain() {
        lock.lock()
        defer { lock.unlock() }
        for (_, list) in idle { for p in list { UnsafeMutableRawPointer(p).deallocate() } }
        idle = [:]
        idleFloats = 0
    }
}

extension Tensor {
    /// Frees the buffers the tensor layer keeps for reuse.
    public static func releaseCachedBuffers() { BufferPool.shared.drain() }
}
