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
        let (p, fresh) = BufferPool.shared.take(capacity: capacity)
        pointer = p
        LiveStorage.counter.add(1, bytes: count * 4)
        // A fresh large buffer comes from mmap, already zero and not yet resident: leaving it untouched keeps a
        // model's zero placeholders out of RSS until a weight is loaded into them (a quantized model never is).
        if zeroed && !fresh { pointer.initialize(repeating: 0, count: count) }
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count, zeroed: false)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        LiveStorage.counter.add(-1, bytes: -count * 4)
        BufferPool.shared.give(pointer, capacity: capacity)
    }

    /// How many storages exist and the bytes they hold (pooled idle buffers not counted). Tests use it to show
    /// that a training step leaves nothing behind.
    public static var live: (count: Int, bytes: Int) { LiveStorage.counter.read() }

    /// The most bytes storages held at once since the last `resetPeak()` (`bench train` reports it).
    public static var peakBytes: Int { LiveStorage.counter.peak() }
    public static func resetPeak() { LiveStorage.counter.resetPeak() }
}

/// The process-wide count of live storages: a lock, since storages are made and freed on any thread.
final class LiveStorage: @unchecked Sendable {
    static let counter = LiveStorage()
    private var count = 0, bytes = 0, peakBytes = 0, highWater = 0
    private let lock = NSLock()

    func add(_ n: Int, bytes b: Int) {
        lock.lock()
        count += n
        bytes += b
        if bytes > peakBytes { peakBytes = bytes }
        if bytes > highWater { highWater = bytes }
        lock.unlock()
    }

    func peak() -> Int { lock.lock(); defer { lock.unlock() }; return peakBytes }
    /// Bytes live now, and the peak since the process started (`resetPeak` does not touch it).
    func liveAndHighWaterBytes() -> (Int, Int) { lock.lock(); defer { lock.unlock() }; return (bytes, highWater) }
    func resetPeak() { lock.lock(); peakBytes = bytes; lock.unlock() }

    func read() -> (count: Int, bytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (count, bytes)
    }
}

/// Keeps recently freed large buffers for reuse. A training step allocates the same shapes every step; without
/// reuse each large allocation is a fresh mmap whose first touch page-faults (a 200 MB logits tensor costs tens of
/// milliseconds that way). Small buffers go straight to malloc, which already recycles them.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()
    /// Buffers below this many floats (1 MiB) are not pooled.
    static let minimumPooled = 1 << 18
    /// Idle pooled memory is bounded by the gap between the most that storages ever held at once and what they hold
    /// now, so live plus idle never exceeds that peak; but the pool may always keep this many floats (256 MiB).
    /// A training step allocates and frees the same buffers every step: a fixed 256 MiB bound sent the rest of a
    /// SmolLM2 step's 720 MB of activations back to the system, to come back as fresh mappings whose first touch
    /// page-faults (5% of the step). Buffers of shapes that never recur (each padded eval batch, each packed batch
    /// of another length) are what the bound is for: over it, the size classes used least recently are freed first.
    static let minimumIdleBound = 1 << 26

    /// The idle bound, in floats, once `adding` more floats are live.
    static func maximumIdle(adding: Int = 0) -> Int {
        let (live, peak) = LiveStorage.counter.liveAndHighWaterBytes()
        return max(minimumIdleBound, (peak - live) / 4 - adding)
    }

    private var idle: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var idleFloats = 0
    /// Size class → when it was last taken or given (a counter), for least-recently-used eviction.
    private var lastUse: [Int: Int] = [:]
    private var clock = 0
    private let lock = NSLock()

    init() {
        #if canImport(Glibc)
        // glibc raises its mmap threshold to the size of every mmapped block freed (up to 32 MB), after which
        // such blocks come from the heap and freed ones stay resident, fragmented, for the life of the process.
        // A fixed threshold keeps large blocks mmapped, so what the pool does not keep goes back to the system.
        // mallopt is declared in <malloc.h>, which Swift's Glibc module does not import; M_MMAP_THRESHOLD is −3.
        // Fixing it also fixes the trim threshold at its 128 KiB default: oneDNN's GEMM frees a ~600 KB packing buffer
        // on its worker thread after every call, that thread's heap then gave the free top back (madvise) and the next
        // call page-faulted it in again: 750k faults, 5% of a SmolLM2 step. M_TRIM_THRESHOLD (−1) keeps up to 32 MiB
        // of free top per heap resident.
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
            _ = mallopt(-3, Int32(Self.minimumPooled * 4))
            _ = mallopt(-1, 32 << 20)
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

    /// A buffer of `capacity` floats, and whether it is fresh (zero-filled by the kernel) rather than reused.
    func take(capacity: Int) -> (UnsafeMutablePointer<Float>, fresh: Bool) {
        if capacity >= Self.minimumPooled {
            lock.lock()
            clock += 1
            lastUse[capacity] = clock
            if let p = idle[capacity]?.popLast() {
                idleFloats -= capacity
                lock.unlock()
                return (p, false)
            }
            // A fresh buffer raises what is live: the idle buffers that no longer fit under the bound go.
            evict(over: Self.maximumIdle(adding: capacity))
            lock.unlock()
            // Pooled sizes are mapped directly (and unmapped by `release`): page-aligned and zero-filled.
            guard let raw = mmap(nil, capacity * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  raw != MAP_FAILED else { fatalError("out of memory: cannot map \(capacity * 4) bytes") }
            return (raw.bindMemory(to: Float.self, capacity: capacity), true)
        }
        return (UnsafeMutableRawPointer.allocate(byteCount: capacity * 4, alignment: 64).bindMemory(to: Float.self, capacity: capacity), false)
    }

    /// Unmaps a pooled-size buffer.
    private static func release(_ p: UnsafeMutablePointer<Float>, capacity: Int) { munmap(p, capacity * 4) }

    func give(_ p: UnsafeMutablePointer<Float>, capacity: Int) {
        if capacity >= Self.minimumPooled {
            lock.lock()
            defer { lock.unlock() }
            let bound = Self.maximumIdle()
            guard capacity <= bound else { Self.release(p, capacity: capacity); return }
            clock += 1
            lastUse[capacity] = clock
            idle[capacity, default: []].append(p)
            idleFloats += capacity
            evict(over: bound)
            return
        }
        UnsafeMutableRawPointer(p).deallocate()
    }

    /// Frees idle buffers, the stalest size class first, until at most `bound` floats are idle. Call with the lock.
    private func evict(over bound: Int) {
        while idleFloats > bound {
            // The stalest class that still holds buffers (one just used goes last).
            guard let victim = idle.filter({ !$0.value.isEmpty }).min(by: { lastUse[$0.key, default: 0] < lastUse[$1.key, default: 0] })?.key,
                  let q = idle[victim]?.popLast() else { break }
            idleFloats -= victim
            Self.release(q, capacity: victim)
        }
    }

    /// Bytes held idle for reuse.
    var idleBytes: Int { lock.lock(); defer { lock.unlock() }; return idleFloats * 4 }

    /// Returns every idle buffer to the system (after loading a model, before measuring memory).
    func drain() {
        lock.lock()
        defer { lock.unlock() }
        for (capacity, list) in idle { for p in list { Self.release(p, capacity: capacity) } }
        idle = [:]
        idleFloats = 0
        lastUse = [:]
    }
}

extension Tensor {
    /// Frees the buffers the tensor layer keeps for reuse.
    public static func releaseCachedBuffers() { BufferPool.shared.drain() }

    /// Bytes the buffer pool holds idle for reuse.
    public static var cachedBufferBytes: Int { BufferPool.shared.idleBytes }
}
