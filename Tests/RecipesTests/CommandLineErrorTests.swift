import XCTest
import Foundation
import LoRAKit

/// The `lorakit` executable on hostile values: each case ends with exit status 1 and a message naming what is wrong
/// (never a signal, a usage dump, NUL bytes or a raw Foundation error), and the commands that were broken work.
/// Tiny fixtures; the GPT-2 one is given the byte-level tokenizer of Tests/Fixtures/training/tiny-llama.
final class CommandLineErrorTests: XCTestCase {
    let fm = FileManager.default
    static let fixtures = KillResumeTests.root.appendingPathComponent("Tests/Fixtures")

    func run(_ args: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try KillResumeTests.lorakit())
        p.arguments = args
        let (out, err) = (Pipe(), Pipe())
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "lorakit \(args) died of a signal: \(stderr)")
        return (p.terminationStatus, stdout, stderr)
    }

    func assertFails(_ args: [String], mentioning: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args)
        XCTAssertEqual(r.status, 1, "lorakit \(args): \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(mentioning), "lorakit \(args): '\(r.stderr)' does not mention '\(mentioning)'", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain") || r.stderr.contains("Usage:"), r.stderr, file: file, line: line)
    }

    /// The GPT-2 fixture with a tokenizer next to it, in a temporary directory.
    func gpt2WithTokenizer() throws -> URL {
        let dir = fm.temporaryDirectory.appendingPathComponent("lorakit-gpt2-cli-\(getpid())")
        try? fm.removeItem(at: dir)
        try fm.copyItem(at: Self.fixtures.appendingPathComponent("parity/gpt2/model"), to: dir)
        try fm.copyItem(at: Self.fixtures.appendingPathComponent("training/tiny-llama/tokenizer.json"), to: dir.appendingPathComponent("tokenizer.json"))
        return dir
    }

    func testGenerateOnGPT2StopsAtTheContextAndRefusesBadValues() throws {
        let model = try gpt2WithTokenizer()
        defer { try? fm.removeItem(at: model) }
        let ok = try run(["generate", "--model", model.path, "--prompt", "Hello", "--max-tokens", "100000"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stderr.contains("at the model's context of 64 positions"), ok.stderr)
        XCTAssertFalse(ok.stdout.contains(0), "NUL bytes in the output")
        try assertFails(["generate", "--model", model.path, "--prompt", "Hello", "--chat"], mentioning: "has no chat template")
        let chat = try run(["generate", "--model", model.path, "--prompt", "Hi", "--chat", "--template", "chatml", "--max-tokens", "3"])
        XCTAssertEqual(chat.status, 0, chat.stderr)
        try assertFails(["generate", "--model", model.path, "--prompt", "Hello", "--temperature", "nan"], mentioning: "temperature is nan")
        try assertFails(["generate", "--model", model.path, "--prompt", "Hello", "--temperature=-1"], mentioning: "temperature is -1")
        try assertFails(["generate", "--model", model.path, "--prompt", "Hello", "--top-p", "0"], mentioning: "top-p is 0")
        try assertFails(["generate", "--model", model.path, "--prompt", "Hello", "--max-tokens=-5"], mentioning: "--max-tokens is -5")
        try assertFails(["generate", "--model", model.path, "--prompt", ""], mentioning: "--prompt is empty")
        try assertFails(["generate", "--model", model.path, "--prompt", "Hi", "--adapter", "/nonexistent/adapter"],
                        mentioning: "adapter directory /nonexistent/adapter does not exist")
    }

    func testForwardChecksIdsAndMergeRefusesAnExistingOutput() throws {
        let llama = Self.fixtures.appendingPathComponent("parity/llama")
        let out = fm.temporaryDirectory.appendingPathComponent("lorakit-cli-out-\(getpid())")
        defer { try? fm.removeItem(at: out) }
        try assertFails(["forward", "--model", llama.appendingPathComponent("model").path, "--ids", "1,2,256", "--out", out.path],
                        mentioning: "token id 256 at position 2")
        try assertFails(["forward", "--model", llama.appendingPathComponent("model").path, "--ids=-3", "--out", out.path],
                        mentioning: "token id -3")
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: out.appendingPathComponent("notes.txt"))
        let merge = ["merge", "--model", llama.appendingPathComponent("model").path, "--adapter", llama.appendingPathComponent("adapter").path, "--out", out.path]
        try assertFails(merge, mentioning: "already exists")
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("notes.txt"), encoding: .utf8), "keep me")
        let forced = try run(merge + ["--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(Set(try fm.contentsOfDirectory(atPath: out.path)), ["config.json", "model.safetensors"])
    }

    /// `lorakit validate` now loads the model and tokenizer and tokenizes the data: a max_seq_length beyond GPT-2's
    /// position table (which trapped mid-training) is refused by key before any training.
    func testValidateChecksPositionLimits() throws {
        let recipe = Self.fixtures.appendingPathComponent("training/tiny-llama/recipe.yaml").path
        let ok = try run(["validate", recipe])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(String(decoding: ok.stdout, as: UTF8.self).contains("vocabulary 256, tokenizer 256 tokens"), String(decoding: ok.stdout, as: UTF8.self))
        let gpt2 = Self.fixtures.appendingPathComponent("parity/gpt2/model").path
        try assertFails(["validate", recipe, "--set", "model=\(gpt2)", "--set", "training.max_seq_length=100"],
                        mentioning: "training.max_seq_length")
    }

    /// `lorakit inspect` on a BERT model (an encoder, no causal-LM head) used to fail; it needs the real MiniLM.
    func testInspectWorksOnBERT() throws {
        let cache = ProcessInfo.processInfo.environment["LORAKIT_CACHE"]
            ?? fm.homeDirectoryForCurrentUser.appendingPathComponent(".cache/lorakit").path
        guard fm.fileExists(atPath: cache + "/models/minilm-l6") else { throw XCTSkip("minilm-l6 is not in \(cache)/models") }
        let r = try run(["inspect", "minilm-l6"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(String(decoding: r.stdout, as: UTF8.self).contains("architecture:     BERT"), r.stderr)
    }
}
