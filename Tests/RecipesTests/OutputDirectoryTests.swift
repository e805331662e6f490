import XCTest
import Foundation
import LoRAKit

/// A training output_dir belongs to one run at a time, a fresh run never deletes an earlier one without --force,
/// checkpoints are replaced and rotated by renames, and what a killed run left half done is finished or removed.
/// Tiny Llama recipe of Tests/Fixtures/training/tiny-llama (a few updates: well under a second each).
final class OutputDirectoryTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }
    let fm = FileManager.default

    func run(_ out: URL, _ overrides: [String] = []) throws -> RecipeRun {
        let recipe = try Recipe.load(RecipeRunTests.recipeURL, overrides: ["save.output_dir=\(out.path)", "training.max_steps=4",
                                                                          "save.save_every=2"] + overrides)
        return try RecipeRun(recipe: recipe, reporter: ProgressReporter(mode: .quiet))
    }

    func temporary() -> URL { fm.temporaryDirectory.appendingPathComponent("lorakit-outdir-\(UUID().uuidString)") }

    func testASecondRunIntoALockedOutputDirRefuses() throws {
        let out = temporary()
        defer { try? fm.removeItem(at: out) }
        let holder = try OutputDirectoryLock(directory: out)
        XCTAssertThrowsError(try run(out).train()) {
            XCTAssertTrue("\($0)".contains("in use by another lorakit train (pid \(getpid()))"), "\($0)")
        }
        XCTAssertFalse(fm.fileExists(atPath: out.appendingPathComponent("metrics.jsonl").path), "the refused run wrote nothing")
        holder.release()
        XCTAssertEqual(try run(out).train().steps, 4)
    }

    func testAFreshRunRefusesAnEarlierRunUnlessForced() throws {
        let out = temporary()
        defer { try? fm.removeItem(at: out) }
        try run(out).train()
        let before = try Data(contentsOf: out.appendingPathComponent("metrics.jsonl"))
        XCTAssertThrowsError(try run(out).train()) {
            XCTAssertTrue("\($0)".contains("already holds an earlier run") && "\($0)".contains("--resume") && "\($0)".contains("--force"), "\($0)")
        }
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("metrics.jsonl")), before)
        // --force starts over: checkpoint-2 of the earlier run (save_every 2) is gone with save_every 3.
        try run(out, ["save.save_every=3"]).train(force: true)
        let names = Set(try fm.contentsOfDirectory(atPath: out.path))
        XCTAssertEqual(names, [".lorakit.lock", "checkpoint-3", "checkpoint-4", "metrics.jsonl", "loss.svg"])
    }

    /// Resuming a run that already finished adds nothing (it used to append a second final eval line).
    func testResumingAFinishedRunChangesNothing() throws {
        let out = temporary()
        defer { try? fm.removeItem(at: out) }
        try run(out).train()
        let metrics = try Data(contentsOf: out.appendingPathComponent("metrics.jsonl"))
        let adapter = try Data(contentsOf: out.appendingPathComponent("checkpoint-4/adapter_model.safetensors"))
        let again = try run(out)
        let summary = try again.train(resume: try again.checkpointToResume(nil))
        XCTAssertTrue(summary.alreadyFinished)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("metrics.jsonl")), metrics)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("checkpoint-4/adapter_model.safetensors")), adapter)
    }

    /// Re-saving an existing step (a resume from an older checkpoint) renames the old directory aside instead of
    /// deleting it file by file; the result is the same bytes and nothing is left over.
    func testResavingAStepReplacesTheWholeDirectory() throws {
        let out = temporary()
        defer { try? fm.removeItem(at: out) }
        try run(out).train()
        let first = try Data(contentsOf: out.appendingPathComponent("checkpoint-4/optimizer.safetensors"))
        let again = try run(out)
        let (trainer, _) = try again.makeTrainer(resume: out.appendingPathComponent("checkpoint-2"))
        // The later checkpoint goes with the metrics lines after step 2: a plain --resume cannot pick it up now.
        XCTAssertEqual(Checkpoint.latest(in: out)?.lastPathComponent, "checkpoint-2")
        try trainer.train()
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("checkpoint-4/optimizer.safetensors")), first)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: out.path).filter { $0.hasPrefix(".") }, [".lorakit.lock"])
    }

    /// What a kill leaves: temporary checkpoint and staging directories, trash of a rotation, a temporary metrics
    /// file — all removed on the next run — and a complete checkpoint renamed aside whose replacement never
    /// arrived, which is put back.
    func testLeftoversOfAKilledRunAreCleanedUp() throws {
        let out = temporary()
        defer { try? fm.removeItem(at: out) }
        try run(out).train(stoppingAt: 2)
        let leftovers = [".checkpoint-3.tmp-99999", "..checkpoint-3.tmp-99999.tmp-99999", ".checkpoint-1.trash-99999"]
        for name in leftovers {
            try fm.createDirectory(at: out.appendingPathComponent(name), withIntermediateDirectories: true)
            try Data("partial".utf8).write(to: out.appendingPathComponent("\(name)/adapter_model.safetensors"))
        }
        try Data("x".utf8).write(to: out.appendingPathComponent(".metrics.jsonl.tmp-99999"))
        try fm.moveItem(at: out.appendingPathComponent("checkpoint-2"), to: out.appendingPathComponent(".checkpoint-2.old-99999"))
        let again = try run(out)
        XCTAssertNil(Checkpoint.latest(in: out))
        let lock = try Checkpoint.prepareOutputDirectory(out, resuming: true, force: false)
        lock.release()
        XCTAssertEqual(Set(try fm.contentsOfDirectory(atPath: out.path)), [".lorakit.lock", "checkpoint-2", "metrics.jsonl"])
        try again.train(resume: try again.checkpointToResume(nil))
        XCTAssertNotNil(fm.contents(atPath: out.appendingPathComponent("checkpoint-4/adapter_model.safetensors").path))
    }

    /// keep_last renames each old checkpoint to a trash name before deleting it: only the newest remain, no trash.
    func testRotationLeavesOnlyTheNewestCheckpoints() throws {
        let out = temporary()
        defer { try? fm.removeItem(at: out) }
        try run(out, ["training.max_steps=6", "save.save_every=1", "save.keep_last=2"]).train()
        XCTAssertEqual(Set(try fm.contentsOfDirectory(atPath: out.path)), [".lorakit.lock", "checkpoint-5", "checkpoint-6", "metrics.jsonl", "loss.svg"])
    }

    /// An output_dir that cannot be created fails before training, naming it (a path under a regular file: no one,
    /// root included, can create it).
    func testUnwritableOutputDirFailsBeforeTraining() throws {
        let blocker = fm.temporaryDirectory.appendingPathComponent("lorakit-blocker-\(UUID().uuidString)")
        try Data().write(to: blocker)
        defer { try? fm.removeItem(at: blocker) }
        let started = Date()
        XCTAssertThrowsError(try run(blocker.appendingPathComponent("out")).train()) {
            XCTAssertTrue("\($0)".hasPrefix("cannot write to \(blocker.path)/out"), "\($0)")
            XCTAssertFalse("\($0)".contains("NSCocoaErrorDomain"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
    }

    /// `lorakit validate` knows before training when the recipe's tokenizer gives ids outside the model's embedding
    /// table (from the tokenized data; without data, from the tokenizer's size) or max_seq_length exceeds a learned
    /// position table.
    func testRecipeChecksCatchVocabularyAndPositionLimits() throws {
        let recipe = try Recipe.load(RecipeRunTests.recipeURL)
        let model = try RecipeSession.loadModel(recipe)
        let spellings = (0..<300).map { "t\($0)" }
        let big = try BPETokenizer(ggufTokens: spellings, merges: [], tokenTypes: nil, preTokenizer: nil)
        XCTAssertThrowsError(try RecipeChecks.check(recipe, model: model, tokenizer: big)) {
            XCTAssertTrue("\($0)".contains("tokenizer") && "\($0)".contains("has \(big.vocabularySize) tokens") && "\($0)".contains("256 rows"), "\($0)")
        }
        let data = PreparedData(train: [TokenizedExample(inputIDs: [1, 2, 280], labels: [1, 2, 280], origin: "sums.jsonl:3")], validation: [])
        XCTAssertThrowsError(try RecipeChecks.check(recipe, model: model, tokenizer: big, data: data)) {
            XCTAssertTrue("\($0)".contains("id 280 in training example sums.jsonl:3") && "\($0)".contains("256 rows"), "\($0)")
        }
        let setup = try RecipeSession.tokenizerAndFormat(recipe, model: model)
        let real = try PreparedData.prepare(recipe, tokenizer: setup.tokenizer, format: setup.format)
        XCTAssertNoThrow(try RecipeChecks.check(recipe, model: model, tokenizer: setup.tokenizer, data: real))

        let gpt2 = try ModelLoader.load(RecipeRunTests.recipeURL.deletingLastPathComponent()
            .appendingPathComponent("../../parity/gpt2/model").standardized.path)
        let long = try Recipe.load(RecipeRunTests.recipeURL, overrides: ["training.max_seq_length=65"])
        XCTAssertThrowsError(try RecipeChecks.check(long, model: gpt2, tokenizer: setup.tokenizer)) {
            XCTAssertTrue("\($0)".contains("training.max_seq_length") && "\($0)".contains("64 positions"), "\($0)")
        }
        XCTAssertNoThrow(try RecipeChecks.check(recipe, model: gpt2, tokenizer: setup.tokenizer))
    }
}
