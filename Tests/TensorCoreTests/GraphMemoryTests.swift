import XCTest
import TensorCore

/// The autograd graph frees what it holds: a graph that is dropped without backward, and a checkpointed step,
/// leave no storage behind. Counted with `Storage.live`, not timed.
final class GraphMemoryTests: XCTestCase {
    /// A decoder-like block: projections, rotary-free attention, softmax, norm, SwiGLU, dropout, a LoRA linear.
    private struct Block {
        let wq = randomTensor([8, 8], seed: 1), wk = randomTensor([8, 8], seed: 2), wv = randomTensor([8, 8], seed: 3)
        let a = randomTensor([2, 8], seed: 4), b = randomTensor([8, 2], seed: 5)
        let norm = Tensor(filled: 1, shape: [8])
        let box = GeneratorBox(seed: 6)

        init() { a.requiresGrad = true; b.requiresGrad = true }

        func callAsFunction(_ x: Tensor) -> Tensor {
            let h = x.rmsNorm(weight: norm, eps: 1e-5)
            let q = loraLinear(h, weight: wq, bias: nil, loraA: a, loraB: b, scale: 2, dropout: 0.1,
                               generator: &box.generator)
            let (k, v) = (h.linear(wk), h.linear(wv))
            let att = scaledDotProductAttention(query: q.reshaped([2, 3, 2, 4]), key: k.reshaped([2, 3, 2, 4]),
                                                value: v.reshaped([2, 3, 2, 4]), mask: AttentionMask(causal: true))
            let mixed = att.reshaped([2, 3, 8]).softmax().dropout(0.1, generator: &box.generator)
            return x + swiglu(gate: mixed, up: h)
        }
    }

    final class GeneratorBox { var generator: SeededGenerator; init(seed: UInt64) { generator = SeededGenerator(seed: seed) } }

    func testDroppedGraphFreesEverything() {
        let block = Block()
        let x = randomTensor([2, 3, 8], seed: 7)
        let before = Storage.live
        do {
            // Recorded (a and b train) and then dropped without backward, as an abandoned step or a probe would.
            let y = block(x)
            XCTAssertTrue(y.needsGrad)
        }
        XCTAssertEqual(Storage.live.count, before.count, "storages left alive by a dropped graph")
        XCTAssertEqual(Storage.live.bytes, before.bytes)
    }

    func testCheckpointedStepsReturnToBaseline() {
        let block = Block()
        let x = randomTensor([2, 3, 8], seed: 8)
        func step() {
            var h = x
            for _ in 0..<3 { h = checkpointed([h]) { block($0[0]) } }
            h.sum().backward()
        }
        step()  // the first step creates the parameters' gradients, which then persist
        let baseline = Storage.live
        for _ in 0..<5 { step() }
        XCTAssertEqual(Storage.live.count, baseline.count, "storages accumulated over checkpointed steps")
        XCTAssertEqual(Storage.live.bytes, baseline.bytes)
    }

    func testCheckpointKeepsOnlyItsOutputUntilBackward() {
        let block = Block()
        let x = randomTensor([2, 3, 8], seed: 9)
        let before = Storage.live.count
        let y = checkpointed([x]) { block($0[0]) }
        // The first pass only probes whether a gradient flows: nothing of the block is saved, only y exists.
        XCTAssertEqual(Storage.live.count, before + 1, "a checkpointed block kept activations after its first pass")
        y.sum().backward()
        XCTAssertNotNil(block.a.grad)
        XCTAssertNotNil(block.b.grad)
    }
}
