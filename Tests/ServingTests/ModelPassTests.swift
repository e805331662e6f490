import XCTest
import LoRAKit

/// What the engine's passes rest on, on the tiny Llama fixture (2 layers, 2 KV heads of 16, vocab 256): logits at
/// chosen positions only, a KV cache that grows in place, prompts packed into one row, and a batch cache with room
/// to grow under a mask that spans it. Each must give the logits of the plain forward.
final class ModelPassTests: XCTestCase {
    var loaded: LoadedModel!

    override func setUpWithError() throws {
        registerBuiltinArchitectures()
        loaded = try ModelLoader.load(ContinuousBatchingTests.model)
    }

    func forward(_ ids: [Int], cache: KVCache? = nil, logitRows: [Int]? = nil) -> Tensor {
        GradMode.withoutGrad { loaded.model.forward(ModelInput(inputIDs: IntTensor(ids, shape: [1, ids.count]), cache: cache, logitRows: logitRows)) }
    }

    /// Row `i` of a (N, V) or (1, T, V) logits tensor.
    func row(_ t: Tensor, _ i: Int) -> [Float] { let v = t.lastDim; return Array(UnsafeBufferPointer(start: t.data + i * v, count: v)) }

    func assertClose(_ a: [Float], _ b: [Float], _ what: String, tolerance: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance, "\(what): max |Δ| \(worst)", file: file, line: line)
    }

    let prompt = [1, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100]

    func testLogitRowsAreThoseRowsOfTheFullForward() {
        let full = forward(prompt)
        let some = forward(prompt, logitRows: [12, 0, 5])
        XCTAssertEqual(some.shape, [3, full.lastDim])
        for (i, position) in [12, 0, 5].enumerated() { assertClose(row(some, i), row(full, position), "position \(position)", tolerance: 1e-5) }
    }

    func testCacheGrowingInPlaceGivesTheLogitsOfTheFullForward() {
        // 3 prompt tokens, then one token at a time up to 40: the buffer grows 16 → 32 → 64 positions on the way.
        let ids = (0..<40).map { ($0 * 37 + 11) % 256 }
        let full = forward(ids)
        let cache = KVCache(layers: 2)
        // The storages themselves are kept, not their identifiers: a freed storage's address can be reused by the
        // next allocation, which would make two buffers look like one.
        var storages: [Storage] = []
        for end in [3] + Array(4...40) {
            let start = cache.length
            let step = forward(Array(ids[start..<end]), cache: cache, logitRows: [end - start - 1])
            assertClose(row(step, 0), row(full, end - 1), "position \(end - 1)")
            XCTAssertEqual(cache.length, end)
            if storages.last !== cache.keys[0]!.storage { storages.append(cache.keys[0]!.storage) }
        }
        XCTAssertEqual(storages.count, 3, "steps must write in place, reallocating only to double the room")
    }

    func testPackedPromptsGiveEachPromptsOwnLogitsAndCache() {
        let prompts = [Array(prompt[0..<5]), Array(prompt[2..<11]), [1, 50, 60]]
        let counts = prompts.map(\.count)
        let offsets = counts.reduce(into: [0]) { $0.append($0.last! + $1) }
        let cache = KVCache(layers: 2)
        var input = ModelInput(inputIDs: IntTensor(prompts.flatMap { $0 }, shape: [1, offsets.last!]), cache: cache,
                               logitRows: counts.indices.map { offsets[$0 + 1] - 1 })
        input.positionIDs = IntTensor(counts.flatMap { 0..<$0 }, shape: [1, offsets.last!])
        input.segmentIDs = IntTensor(counts.enumerated().flatMap { i, n in Array(repeating: i, count: n) }, shape: [1, offsets.last!])
        let packed = GradMode.withoutGrad { loaded.model.forward(input) }
        for (i, p) in prompts.enumerated() {
            let aloneCache = KVCache(layers: 2)
            let alone = forward(p, cache: aloneCache)
            assertClose(row(packed, i), row(alone, p.count - 1), "prompt \(i)")
            let own = cache.slice(positions: offsets[i]..<offsets[i + 1])
            for layer in 0..<2 {
                let (k, ref) = (own.keys[layer]!, aloneCache.keys[layer]!)
                XCTAssertEqual(k.shape, ref.shape)
                assertClose(Array(UnsafeBufferPointer(start: k.data, count: k.count)),
                            Array(UnsafeBufferPointer(start: ref.data, count: ref.count)), "prompt \(i) keys of layer \(layer)")
            }
            // Its slice goes on as a cache of its own: the next token's logits are those of the plain forward.
            let next = forward([99], cache: own)
            assertClose(row(next, 0), row(forward(p + [99]), p.count), "prompt \(i) next token")
        }
    }

    func testBatchCacheWithRoomToGrowUnderASpanningMaskGivesEachRowsLogits() {
        // Two requests prefilled alone, laid out right-aligned at width 7 in a cache with room for 16 positions;
        // three decode steps for both rows at once, as the engine does them.
        let prompts = [Array(prompt[0..<4]), Array(prompt[3..<10])]
        let (width, capacity) = (7, 16)
        let batch = KVCache(layers: 2)
        let own = prompts.map { p -> KVCache in let c = KVCache(layers: 2); _ = forward(p, cache: c); return c }
        for layer in 0..<2 {
            for keys in [true, false] {
                let sample = own[0].keys[layer]!
                let inner = sample.shape[2] * sample.shape[3]
                let out = Tensor(zeros: [2, capacity, sample.shape[2], sample.shape[3]])
                for (r, c) in own.enumerated() {
                    let src = (keys ? c.keys : c.values)[layer]!
                    (out.data + (r * capacity + width - prompts[r].count) * inner).update(from: src.data, count: src.count)
                }
                if keys { batch.keys[layer] = out } else { batch.values[layer] = out }
            }
        }
        batch.filledLength = width
        var lengths = prompts.map(\.count), filled = width
        var texts = prompts
        for step in 0..<3 {
            let tokens = [40 + step, 90 + step]
            var mask: [Int] = []
            for r in 0..<2 {
                mask += Array(repeating: 0, count: filled - lengths[r]) + Array(repeating: 1, count: lengths[r] + 1)
                    + Array(repeating: 0, count: capacity - filled - 1)
            }
            let logits = GradMode.withoutGrad {
                loaded.model.forward(ModelInput(inputIDs: IntTensor(tokens, shape: [2, 1]), attentionMask: IntTensor(mask, shape: [2, capacity]),
                                                positionIDs: IntTensor(lengths, shape: [2, 1]), cache: batch))
            }
            filled += 1
            batch.filledLength = filled
            for r in 0..<2 {
                texts[r].append(tokens[r])
                lengths[r] += 1
                assertClose(row(logits, r), row(forward(texts[r]), texts[r].count - 1), "row \(r) step \(step)")
            }
        }
    }
}
