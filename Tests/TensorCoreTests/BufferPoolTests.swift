import XCTest
@testable import TensorCore

/// The buffer pool keeps what a step frees for the next step, up to the process's peak, so a training step after the
/// first takes its large buffers from the pool instead of page-faulting fresh mappings.
final class BufferPoolTests: XCTestCase {
    func testAStepsFreedBuffersBeyondTheFloorAreReusedByTheNextStep() {
        Tensor.releaseCachedBuffers()
        defer { Tensor.releaseCachedBuffers() }
        // Five 96 MiB buffers, 480 MiB: more than the 256 MiB the pool may always keep. Never touched, so never resident.
        let count = 96 << 18
        var step: [Storage] = (0..<5).map { _ in Storage(count: count, zeroed: false) }
        let first = Set(step.map { UInt(bitPattern: $0.pointer) })
        step = []
        XCTAssertEqual(Tensor.cachedBufferBytes, 5 * count * 4, "the pool gave back buffers the next step needs")
        step = (0..<5).map { _ in Storage(count: count, zeroed: false) }
        XCTAssertEqual(Set(step.map { UInt(bitPattern: $0.pointer) }), first, "the next step mapped fresh buffers")
        XCTAssertEqual(Tensor.cachedBufferBytes, 0)
    }

    func testIdleAndLiveTogetherStayWithinThePeakOrTheFloor() {
        Tensor.releaseCachedBuffers()
        defer { Tensor.releaseCachedBuffers() }
        let count = 96 << 18
        var held: [Storage] = (0..<5).map { _ in Storage(count: count, zeroed: false) }
        held.removeLast(3)
        // Buffers of a size never asked for again: the pool keeps them only within the gap to the peak.
        var other: [Storage] = (0..<4).map { _ in Storage(count: count + (8 << 18), zeroed: false) }
        other.removeAll()
        let (live, peak) = LiveStorage.counter.liveAndHighWaterBytes()
        XCTAssertLessThanOrEqual(live + Tensor.cachedBufferBytes, max(peak, live + (256 << 20)))
        withExtendedLifetime(held) {}
    }
}
