import XCTest
import Foundation
import LoRAKit

/// Architectures added from outside the core, checked like the built-ins (transformers 5.23 + PEFT 0.21 cases made
/// by scripts/fixtures/make_parity_cases.py, groups qwen2 and gpt-neox):
/// - Qwen2 as a declarative plugin (Plugins/Qwen2/qwen2.json: Llama with q/k/v biases), loaded in process;
/// - GPT-NeoX as a compiled plugin (Plugins/GPTNeoX, not a package target): built into a shared library with
///   scripts/build-external-plugin.sh and loaded by the `lorakit` executable at run time (LORAKIT_PLUGINS).
final class ExternalArchitectureTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testQwen2DeclaredByAJSONFilePassesParity() throws {
        let registry = ArchitectureRegistry()
        registerBuiltinArchitectures(in: registry)
        XCTAssertThrowsError(try registry.resolve(modelType: "qwen2"))
        try PluginLoader.load([Self.root.appendingPathComponent("Plugins/Qwen2/qwen2.json").path], into: registry)
        let report = try ParityCheck.run(caseDirectory: Self.root.appendingPathComponent("Tests/Fixtures/parity/qwen2"), registry: registry)
        XCTAssertTrue(report.passed, report.text)
    }

    func testDeclarationErrorsNameTheFile() throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("bad-plugin-\(getpid()).json")
        try Data(#"{"lorakit_plugin": 1, "name": "X", "base": "llama"}"#.utf8).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        XCTAssertThrowsError(try PluginLoader.load([bad.path], into: ArchitectureRegistry())) {
            XCTAssertTrue("\($0)".contains(bad.path) && "\($0)".contains("model_types"), "\($0)")
        }
    }

    func testCompiledGPTNeoXPluginLoadsAtRunTimeAndPassesParity() throws {
        // The lorakit executable sits next to the test bundle in the build directory.
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [runner.deletingLastPathComponent(), Bundle.main.bundleURL.appendingPathComponent("release"),
                          Self.root.appendingPathComponent(".build/release")]
        guard let lorakit = candidates.map({ $0.appendingPathComponent("lorakit") }).first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            return XCTFail("no lorakit executable in \(candidates.map(\.path)); build it with `swift build -c release`")
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-plugins-\(getpid())")
        defer { try? FileManager.default.removeItem(at: out) }
        let built = try run("/bin/bash", [Self.root.appendingPathComponent("scripts/build-external-plugin.sh").path, "Plugins/GPTNeoX", out.path],
                            env: ["LORAKIT_BUILD_DIR": lorakit.deletingLastPathComponent().path])
        XCTAssertEqual(built.status, 0, built.output)
        let library = out.appendingPathComponent("libGPTNeoXPlugin.so").path
        let listed = try run(lorakit.path, ["plugins"], env: ["LORAKIT_PLUGINS": library])
        XCTAssertTrue(listed.output.contains("GPT-NeoX") && listed.output.contains(library), listed.output)
        let parity = try run(lorakit.path, ["parity", "Tests/Fixtures/parity/gpt-neox"], env: ["LORAKIT_PLUGINS": library])
        XCTAssertEqual(parity.status, 0, parity.output)
        XCTAssertTrue(parity.output.contains("all 27 keys within tolerance"), parity.output)

        // A recipe names the plugin (`plugins:`) instead of LORAKIT_PLUGINS, and trains the tiny GPT-NeoX with it.
        let recipe = out.appendingPathComponent("neox.yaml")
        let fixtures = Self.root.appendingPathComponent("Tests/Fixtures")
        try Data("""
            model: \(fixtures.path)/parity/gpt-neox/model
            tokenizer: \(fixtures.path)/training/tiny-llama/tokenizer.json
            plugins: [libGPTNeoXPlugin.so]
            template: alpaca
            task: sft
            datasets:
              - {path: \(fixtures.path)/training/tiny-llama/sums.jsonl, type: completion, filter: ok == true}
            lora: {r: 4, lora_alpha: 8, target_modules: [query_key_value]}
            training: {max_steps: 2, batch_size: 2, max_seq_length: 32}
            save: {output_dir: run}
            """.utf8).write(to: recipe)
        let trained = try run(lorakit.path, ["train", recipe.path], env: [:])
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("run/checkpoint-2/adapter_model.safetensors").path), trained.output)
        let without = try run(lorakit.path, ["train", recipe.path, "--set", "plugins=[]", "--set", "save.output_dir=run2"], env: [:])
        XCTAssertNotEqual(without.status, 0)
        XCTAssertTrue(without.output.contains("no plugin serves model_type \"gpt_neox\""), without.output)
    }

    /// A library written for another plugin ABI is refused by its entry point's name: its code never runs (the
    /// stand-in entry point aborts the process if called).
    func testLibraryForAnotherABIIsRefusedBeforeItsCodeRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-abi-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("old.swift")
        try Data("""
            import Glibc
            @_cdecl("lorakit_plugin_register_v1")
            public func register(_ origin: UnsafePointer<CChar>) { abort() }
            """.utf8).write(to: source)
        let library = dir.appendingPathComponent("libOld.so")
        let built = try run("/usr/bin/env", ["swiftc", "-emit-library", "-parse-as-library", source.path, "-o", library.path], env: [:])
        XCTAssertEqual(built.status, 0, built.output)
        XCTAssertThrowsError(try PluginLoader.load([library.path], into: ArchitectureRegistry())) {
            XCTAssertTrue("\($0)".contains("built for plugin ABI 1, this lorakit has \(ArchitecturePluginABI.version)"), "\($0)")
        }
    }

    func run(_ tool: String, _ args: [String], env: [String: String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.currentDirectoryURL = Self.root
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
