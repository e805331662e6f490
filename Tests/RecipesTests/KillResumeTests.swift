import XCTest
import Foundation
import LoRAKit

/// `lorakit train` as a child process killed with SIGKILL at random moments — checkpoint writes (every update here),
/// keep_last rotation and metrics appends included — and resumed each time, ends with the same adapter and
/// optimizer bytes as an uninterrupted run, and a metrics.jsonl with the same steps (no lost or repeated lines).
/// Tiny Llama recipe of Tests/Fixtures/training/tiny-llama: 20 updates take about a second.
final class KillResumeTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let recipe = root.appendingPathComponent("Tests/Fixtures/training/tiny-llama/recipe.yaml").path
    let fm = FileManager.default

    /// The release executable next to the test bundle (CI builds it before the tests).
    func lorakit() throws -> String { try Self.lorakit() }

    static func lorakit() throws -> String {
        let fm = FileManager.default
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [runner.deletingLastPathComponent(), Bundle.main.bundleURL.appendingPathComponent("release"),
                          Self.root.appendingPathComponent(".build/release")]
        guard let tool = candidates.map({ $0.appendingPathComponent("lorakit").path }).first(where: { fm.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("no lorakit executable in \(candidates.map(\.path)); build it with `swift build -c release`")
        }
        return tool
    }

    func arguments(_ out: URL) -> [String] {
        ["train", Self.recipe, "--set", "save.output_dir=\(out.path)", "--set", "save.save_every=1", "--set", "save.keep_last=3"]
    }

    func start(_ tool: String, _ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    func steps(_ dir: URL) throws -> [Int] {
        try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(MetricsRecord.self, from: Data($0.utf8)).step }
    }

    func testKilledAndResumedRunIsBitIdenticalToAnUninterruptedOne() throws {
        let tool = try lorakit()
        let base = fm.temporaryDirectory.appendingPathComponent("lorakit-kill-\(getpid())")
        defer { try? fm.removeItem(at: base) }
        let (reference, killed) = (base.appendingPathComponent("reference"), base.appendingPathComponent("killed"))
        let started = Date()
        let plain = try start(tool, arguments(reference))
        plain.waitUntilExit()
        XCTAssertEqual(plain.terminationStatus, 0)
        let runSeconds = Date().timeIntervalSince(started)

        let seed = UInt64(Date().timeIntervalSince1970 * 1000)
        var random = SeededGenerator(seed: seed)
        var (kills, midWrite, attempts) = (0, 0, 0)
        while true {
            attempts += 1
            XCTAssertLessThan(attempts, 80, "seed \(seed): the run never finished")
            if attempts >= 80 { return }
            let resume = Checkpoint.latest(in: killed) != nil
            let child = try start(tool, arguments(killed) + [resume ? "--resume" : "--force"])
            // A moment anywhere in the run (start-up, training, checkpoint writes, the final eval), until at least
            // two kills have landed inside a checkpoint write; then the run may finish.
            let deadline = Double.random(in: 0.02...max(0.1, 0.6 * runSeconds), using: &random)
            let until = Date().addingTimeInterval(deadline)
            // Every other run is killed the moment it is seen writing a checkpoint (its temporary directory exists),
            // after skipping a random number of such writes; the others at the random moment.
            var writesToSkip = attempts % 2 == 0 ? Int.random(in: 0...3, using: &random) : -1
            var seenWrites = Set<String>()
            while child.isRunning && Date() < until {
                if writesToSkip >= 0, let writing = ((try? fm.contentsOfDirectory(atPath: killed.path)) ?? [])
                    .first(where: { $0.hasPrefix(".checkpoint-") && $0.contains(".tmp-") }), seenWrites.insert(writing).inserted {
                    if writesToSkip == 0 { break }
                    writesToSkip -= 1
                }
                usleep(500)
            }
            if !child.isRunning || (midWrite >= 2 && kills >= 6) {
                child.waitUntilExit()
                if child.terminationReason == .exit {
                    XCTAssertEqual(child.terminationStatus, 0, "seed \(seed): attempt \(attempts) failed")
                    guard child.terminationStatus == 0 else { return }
                    if kills >= 3 && midWrite >= 1 { break }
                    // Finished before enough kills landed (a fast machine): start the interrupted run over.
                    try fm.removeItem(at: killed)
                }
                continue
            }
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            kills += 1
            let names = (try? fm.contentsOfDirectory(atPath: killed.path)) ?? []
            if names.contains(where: { $0.hasPrefix(".checkpoint-") || $0.hasPrefix("..checkpoint-") }) { midWrite += 1 }
            // A checkpoint-N directory is complete or absent, whatever the moment of the kill.
            for name in names where name.hasPrefix("checkpoint-") {
                for file in ["adapter_model.safetensors", "adapter_config.json", "optimizer.safetensors", "trainer_state.json", "recipe.yaml"] {
                    XCTAssertTrue(fm.fileExists(atPath: killed.appendingPathComponent("\(name)/\(file)").path),
                                  "seed \(seed): \(name) lacks \(file) after kill \(kills)")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(kills, 3, "seed \(seed)")
        XCTAssertGreaterThanOrEqual(midWrite, 1, "seed \(seed): no kill landed inside a checkpoint write")
        for file in ["adapter_model.safetensors", "optimizer.safetensors"] {
            let a = try Data(contentsOf: reference.appendingPathComponent("checkpoint-20/\(file)"))
            let b = try Data(contentsOf: killed.appendingPathComponent("checkpoint-20/\(file)"))
            XCTAssertEqual(a, b, "seed \(seed): \(file) after \(kills) kills")
        }
        XCTAssertEqual(try steps(killed), try steps(reference), "seed \(seed): metrics.jsonl steps")
        let leftovers = try fm.contentsOfDirectory(atPath: killed.path).filter { $0.hasPrefix(".") && $0 != ".lorakit.lock" }
        XCTAssertEqual(leftovers, [], "seed \(seed)")
        print("kill -9 test: \(kills) kills (\(midWrite) inside a checkpoint write) in \(attempts) runs, seed \(seed), "
              + String(format: "%.1f s", Date().timeIntervalSince(started)))
    }
}

extension KillResumeTests {
    /// A full disk, simulated with a file-size limit (writes past it fail with EFBIG; bash ignores SIGXFSZ so the
    /// child gets the error, as with ENOSPC): a clear error naming the checkpoint and exit 1, no partial checkpoint,
    /// no temporary directory left; the next run (with room) trains normally.
    func testAFullDiskGivesAClearErrorAndNoCorruptCheckpoint() throws {
        let tool = try lorakit()
        let out = fm.temporaryDirectory.appendingPathComponent("lorakit-full-\(getpid())")
        defer { try? fm.removeItem(at: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        // 20 KiB: metrics.jsonl fits, the optimizer state of the first checkpoint does not.
        p.arguments = ["-c", "trap '' XFSZ; ulimit -f 20; exec \"$0\" \"$@\"", tool] + arguments(out)
        let pipe = Pipe()
        p.standardError = pipe
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let stderr = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1, stderr)
        XCTAssertTrue(stderr.contains("cannot write \(out.path)/checkpoint-1") && stderr.contains("the previous checkpoints are intact"), stderr)
        XCTAssertFalse(stderr.contains("NSCocoaErrorDomain") || stderr.contains("error 15"), stderr)
        let names = try fm.contentsOfDirectory(atPath: out.path)
        XCTAssertFalse(names.contains { $0.hasPrefix("checkpoint-") || $0.contains(".tmp-") }, "\(names)")
        let again = try start(tool, arguments(out) + ["--force"])
        again.waitUntilExit()
        XCTAssertEqual(again.terminationStatus, 0)
        XCTAssertNotNil(fm.contents(atPath: out.appendingPathComponent("checkpoint-20/adapter_model.safetensors").path))
    }
}
