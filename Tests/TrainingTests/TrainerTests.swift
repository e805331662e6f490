import XCTest
import LoRAKit

final class TrainerTests: XCTestCase {
    func configuration(batch: Int, accumulation: Int, steps: Int = 1) -> TrainerConfiguration {
        var c = TrainerConfiguration(maxSteps: steps, learningRate: 1e-2, batchSize: batch, maxSeqLength: 32)
        c.gradientAccumulationSteps = accumulation
        c.schedule = .constant
        c.maxGradNorm = nil
        return c
    }

    /// 2 micro-batches of 2 accumulated give the same update as one batch of 4: the loss is the sum over all
    /// non-ignored tokens of the accumulated batch divided by their total count. Examples have different lengths
    /// and prompt masks, so a per-micro-batch mean would differ. Tolerance 1e-6 (float32 summation order).
    func testAccumulationEqualsOneLargeBatch() throws {
        let examples = syntheticExamples(4)
        let (a, b) = (TinyLM(), TinyLM())
        let one = try Trainer(model: a, adapter: parameterSaver(a), configuration: configuration(batch: 4, accumulation: 1),
                              train: examples, validation: [], padID: 0, reporter: ProgressReporter(mode: .quiet))
        let two = try Trainer(model: b, adapter: parameterSaver(b), configuration: configuration(batch: 2, accumulation: 2),
                              train: examples, validation: [], padID: 0, reporter: ProgressReporter(mode: .quiet))
        try one.train()
        try two.train()
        var maxDiff: Float = 0, moved: Float = 0
        let fresh = TinyLM()
        for ((_, x), ((_, y), (_, z))) in zip(a.namedParameters(), zip(b.namedParameters(), fresh.namedParameters())) {
            for i in 0..<x.count { maxDiff = max(maxDiff, abs(x.data[i] - y.data[i])); moved = max(moved, abs(x.data[i] - z.data[i])) }
        }
        XCTAssertLessThan(maxDiff, 1e-6)
        XCTAssertGreaterThan(moved, 1e-3, "the update must actually change the weights")
        // The per-micro-batch mean (what a naive loop does) would not match: check the two losses differ there.
        let batches = EpochPlan(lengths: examples.map(\.count), batchSize: 2, maxLength: 32, packing: false, seed: 42, epoch: 0)
        let counts = batches.batches.map { BatchBuilder.padded($0.map { examples[$0] }, padID: 0).targetCount }
        XCTAssertNotEqual(counts[0], counts[1], "the test needs micro-batches with different token counts")
    }

    /// Training that hits a non-finite loss stops naming the step, and the last checkpoint stays intact.
    func testNonFiniteLossStopsAndKeepsLastCheckpoint() throws {
        let out = temporaryDirectory("nan")
        defer { try? FileManager.default.removeItem(at: out) }
        let model = TinyLM()
        var c = configuration(batch: 2, accumulation: 1, steps: 10)
        c.saveEvery = 2
        c.outputDir = out
        model.poisonAfter = 5
        let trainer = try Trainer(model: model, adapter: parameterSaver(model), configuration: c, train: syntheticExamples(8),
                                  validation: [], padID: 0, reporter: ProgressReporter(mode: .quiet))
        XCTAssertThrowsError(try trainer.train()) { error in
            guard case TrainingError.nonFinite(_, let step, let last)? = error as? TrainingError else { return XCTFail("\(error)") }
            XCTAssertEqual(step, 6)
            XCTAssertEqual(last, out.appendingPathComponent("checkpoint-4").path)
            XCTAssertTrue("\(error)".contains("step 6"))
        }
        XCTAssertNotNil(Checkpoint.latest(in: out))
        XCTAssertEqual(Checkpoint.latest(in: out)?.lastPathComponent, "checkpoint-4")
        let saved = try SafetensorsFile(url: out.appendingPathComponent("checkpoint-4/adapter_model.safetensors"))
        XCTAssertTrue(try saved.floats("lm_head.weight").allSatisfy(\.isFinite))
    }

    /// 3 steps + resume + 3 steps writes the same bytes as 6 uninterrupted steps (data order, optimizer moments
    /// and parameters restored exactly).
    func testResumeIsByteIdentical() throws {
        let (full, split) = (temporaryDirectory("full"), temporaryDirectory("split"))
        defer { try? FileManager.default.removeItem(at: full); try? FileManager.default.removeItem(at: split) }
        let data = syntheticExamples(10)
        func run(_ dir: URL, steps: Int, resume: Bool) throws {
            let model = TinyLM()
            var c = configuration(batch: 3, accumulation: 2, steps: 6)
            c.outputDir = dir
            c.saveEvery = 3
            c.schedule = .cosine
            c.warmupSteps = 1
            c.adam.weightDecay = 0.01
            c.maxGradNorm = 0.5
            let t = try Trainer(model: model, adapter: parameterSaver(model), configuration: c, train: data, validation: Array(data.prefix(3)),
                                padID: 0, reporter: ProgressReporter(mode: .quiet))
            if resume { try t.resume(from: Checkpoint.latest(in: dir)!) }
            try t.train(stoppingAt: steps)
        }
        try run(full, steps: 6, resume: false)
        try run(split, steps: 3, resume: false)
        try run(split, steps: 6, resume: true)
        let a = try Data(contentsOf: full.appendingPathComponent("checkpoint-6/adapter_model.safetensors"))
        let b = try Data(contentsOf: split.appendingPathComponent("checkpoint-6/adapter_model.safetensors"))
        XCTAssertEqual(a, b)
        XCTAssertEqual(try Data(contentsOf: full.appendingPathComponent("checkpoint-6/optimizer.safetensors")),
                       try Data(contentsOf: split.appendingPathComponent("checkpoint-6/optimizer.safetensors")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: full.appendingPathComponent("loss.svg").path))
        let lines = try String(contentsOf: full.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.contains("\"grad_norm\"") && $0.contains("\"adapter_norms\"") })
    }
}
