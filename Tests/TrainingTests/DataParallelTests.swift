import XCTest
import LoRAKit

/// The single-process side of data-parallel training: sharding, the stored global data position, gradient buckets
/// and the parameter checksum. The multi-process runs themselves are in scripts/mpi-check.sh (they need mpirun).
final class DataParallelTests: XCTestCase {
    /// A rank of a pretend world whose collectives multiply by `size` (as if every rank held the same values), and
    /// that records each float all-reduce's length.
    final class PretendRanks: Communicator {
        let rank: Int, size: Int
        var floatCalls: [Int] = []
        init(rank: Int, size: Int) { self.rank = rank; self.size = size }
        func sumInPlace(_ values: UnsafeMutableBufferPointer<Float>) throws {
            floatCalls.append(values.count)
            for i in values.indices { values[i] *= Float(size) }
        }
        func sumInPlace(_ values: UnsafeMutableBufferPointer<Double>) throws { for i in values.indices { values[i] *= Double(size) } }
        func maxInPlace(_ values: UnsafeMutableBufferPointer<Double>) throws {}
    }

    /// TinyLM that records the example rows it sees (first token of each row).
    final class RecordingLM: Module, ArchitectureModel {
        let head = TaskHead.causalLM
        var rows: [[Int32]] = []
        override init() {
            super.init()
            var g = SeededGenerator(seed: 1)
            register("lm_head", Linear(inFeatures: 4, outFeatures: 128, bias: false))
            register("embed_tokens", Embedding(count: 128, dimension: 4))
            try! setParameter(at: "lm_head.weight", Tensor.normal([128, 4], std: 0.5, generator: &g))
            try! setParameter(at: "embed_tokens.weight", Tensor.normal([128, 4], std: 0.5, generator: &g))
            setTrainable(true)
        }
        func forward(_ input: ModelInput) -> Tensor {
            let (b, t) = (input.inputIDs.shape[0], input.inputIDs.shape[1])
            for r in 0..<b { rows.append(Array(input.inputIDs.values[r * t..<r * t + min(t, 3)])) }
            return child("lm_head", as: Linear.self)(child("embed_tokens", as: Embedding.self)(input.inputIDs))
        }
    }

    func configuration(batch: Int, steps: Int) -> TrainerConfiguration {
        var c = TrainerConfiguration(maxSteps: steps, learningRate: 1e-2, batchSize: batch, maxSeqLength: 32)
        c.gradientAccumulationSteps = 2
        return c
    }

    /// Entries [k·b, (k+1)·b) of the batch-size-1 plan make micro-batch k of the batch-size-b plan, padded and packed.
    func testItemRangesRebuildTheBatchesOfALargerPlan() {
        let examples = syntheticExamples(13)
        for packing in [false, true] {
            let lengths = examples.map(\.count)
            let items = EpochPlan(lengths: lengths, batchSize: 1, maxLength: 24, packing: packing, seed: 5, epoch: 2)
            let big = EpochPlan(lengths: lengths, batchSize: 3, maxLength: 24, packing: packing, seed: 5, epoch: 2)
            for k in big.batches.indices {
                let a = big.batch(k, examples: examples, maxLength: 24, padID: 0)
                let b = items.batch(items: 3 * k..<min(3 * k + 3, items.batches.count), examples: examples, maxLength: 24, padID: 0)
                XCTAssertEqual(a.input.inputIDs.values, b.input.inputIDs.values, "packing \(packing), batch \(k)")
                XCTAssertEqual(a.targets.values, b.targets.values)
                XCTAssertEqual(a.input.segmentIDs?.values, b.input.segmentIDs?.values)
            }
        }
    }

    /// Rank 0 and rank 1 of 2 with micro-batch 2 together see exactly the rows one process with batch 4 sees, update
    /// by update, across an epoch boundary (9 examples: the last global micro-batch is short, rank 1's shard empty).
    func testTwoRanksShareEachGlobalBatch() throws {
        let examples = syntheticExamples(9)
        func rows(batch: Int, rank: Int, size: Int) throws -> ([[Int32]], TrainerState) {
            let model = RecordingLM()
            let t = try Trainer(model: model, adapter: parameterSaver(model), configuration: configuration(batch: batch, steps: 4),
                                train: examples, validation: [], padID: 0, reporter: ProgressReporter(mode: .quiet),
                                communicator: PretendRanks(rank: rank, size: size))
            try t.train()
            return (model.rows, t.state)
        }
        let (one, state) = try rows(batch: 4, rank: 0, size: 1)
        let (r0, _) = try rows(batch: 2, rank: 0, size: 2)
        let (r1, _) = try rows(batch: 2, rank: 1, size: 2)
        XCTAssertEqual(one.count, 26, "9 examples per epoch: micro-batches of 4, 4, 1, 4, 4, 1, 4, 4")
        XCTAssertEqual(Set(r0.map { $0.map(String.init).joined(separator: ",") }).union(r1.map { $0.map(String.init).joined(separator: ",") }),
                       Set(one.map { $0.map(String.init).joined(separator: ",") }))
        XCTAssertEqual(r0.count + r1.count, one.count)
        XCTAssertLessThan(r1.count, r0.count, "rank 1 gets nothing of the single-example batches")
        // 8 global micro-batches: 4 + 4 + 1 examples (epoch 0), 4 + 4 + 1 (epoch 1), 4 + 4 (epoch 2) → position 8.
        XCTAssertEqual(state.epoch, 2)
        XCTAssertEqual(state.dataPosition, 8)
    }

    /// A checkpoint written before `data_position` existed resumes at batch_index × batch_size, and a resumed run may
    /// use another batch size: the global order continues (the rows after the stop equal the uninterrupted run's).
    func testResumeContinuesTheGlobalOrderWithAnotherBatchSize() throws {
        let examples = syntheticExamples(20)
        let out = temporaryDirectory("dp-resume")
        defer { try? FileManager.default.removeItem(at: out) }
        let full = RecordingLM()
        try Trainer(model: full, adapter: parameterSaver(full), configuration: configuration(batch: 2, steps: 4), train: examples,
                    validation: [], padID: 0, reporter: ProgressReporter(mode: .quiet)).train()
        var c = configuration(batch: 2, steps: 4)
        c.outputDir = out
        let first = RecordingLM()
        try Trainer(model: first, adapter: parameterSaver(first), configuration: c, train: examples, validation: [], padID: 0,
                    reporter: ProgressReporter(mode: .quiet)).train(stoppingAt: 2)
        // Strip data_position, as an older LoRAKit wrote it.
        let stateURL = out.appendingPathComponent("checkpoint-2/\(Checkpoint.stateFile)")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: stateURL)) as! [String: Any]
        XCTAssertEqual(json["data_position"] as? Int, 8)
        json["data_position"] = nil
        try JSONSerialization.data(withJSONObject: json).write(to: stateURL)
        c.batchSize = 4
        c.gradientAccumulationSteps = 1
        let second = RecordingLM()
        let resumed = try Trainer(model: second, adapter: parameterSaver(second), configuration: c, train: examples, validation: [],
                                  padID: 0, reporter: ProgressReporter(mode: .quiet))
        try resumed.resume(from: out.appendingPathComponent("checkpoint-2"))
        try resumed.train()
        XCTAssertEqual(second.rows, Array(full.rows[8..<16]))
    }

    /// Gradients go out in buckets of at most `bucketElements` floats (a larger tensor alone) and come back to the
    /// right tensors: with a pretend world of 3 every gradient is tripled.
    func testGradientBucketsReturnEachSumToItsTensor() throws {
        let shapes = [[3, 4], [5], [2, 2], [20], [1]]
        let tensors = shapes.enumerated().map { i, s -> Tensor in
            let t = Tensor(zeros: s)
            t.grad = Tensor((0..<t.count).map { Float(i * 100 + $0) }, shape: s)
            return t
        }
        let before = tensors.map { $0.grad!.scalars }
        let ranks = PretendRanks(rank: 0, size: 3)
        let buckets = GradientBuckets(bucketElements: 16)
        try buckets.reduce(tensors, over: ranks)
        for (t, b) in zip(tensors, before) { XCTAssertEqual(t.grad!.scalars, b.map { 3 * $0 }) }
        // 12 | 5 + 4 (12 + 5 > 16) | 20 alone (> 16) | 1.
        XCTAssertEqual(ranks.floatCalls, [12, 9, 20, 1])
        XCTAssertEqual(buckets.bytes, 42 * 4)
    }

    /// The checksum sees a single flipped bit and a renamed parameter.
    func testParameterChecksumSeesOneBit() {
        let t = Tensor((0..<1000).map { Float($0) * 0.001 }, shape: [1000])
        let a = parameterChecksum([("w", t)])
        XCTAssertEqual(a, parameterChecksum([("w", t)]))
        XCTAssertNotEqual(a, parameterChecksum([("v", t)]))
        t.data[517] = Float(bitPattern: t.data[517].bitPattern ^ 1)
        XCTAssertNotEqual(a, parameterChecksum([("w", t)]))
    }
}
