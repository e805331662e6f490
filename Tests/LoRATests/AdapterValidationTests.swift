import XCTest
import Foundation
import LoRAKit

/// Adapter settings and files that used to trap, abort on allocation or run silently wrong, and `merge` onto a path
/// the user owns. Tiny Llama parity fixture (hidden 64, 2 layers) and its PEFT adapter.
final class AdapterValidationTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    static let llama = ParityTests.parity.appendingPathComponent("llama")
    let fm = FileManager.default

    func model() throws -> LoadedModel { try ModelLoader.load(Self.llama.appendingPathComponent("model").path) }

    func assertRefused(_ config: LoRAConfig, mentions: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let m = try model()
        XCTAssertThrowsError(try LoRAModel(model: m.model, plugin: m.plugin, config: config), file: file, line: line) {
            XCTAssertTrue("\($0)".contains(mentions), "'\($0)' does not mention \(mentions)", file: file, line: line)
        }
    }

    func testRankAlphaAndDropoutAreBounded() throws {
        let started = Date()
        try assertRefused(LoRAConfig(r: 1 << 40, targetModules: .names(["q_proj"])), mentions: "exceeds max(in_features, out_features) = 64")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "refused before allocating")
        try assertRefused(LoRAConfig(r: 0, targetModules: .names(["q_proj"])), mentions: "r is 0")
        try assertRefused(LoRAConfig(r: 4, loraAlpha: -8, targetModules: .names(["q_proj"])), mentions: "lora_alpha is -8")
        try assertRefused(LoRAConfig(r: 4, loraAlpha: .nan, targetModules: .names(["q_proj"])), mentions: "lora_alpha")
        try assertRefused(LoRAConfig(r: 4, loraDropout: 1, targetModules: .names(["q_proj"])), mentions: "lora_dropout")
        var pissa = LoRAConfig(r: 65, targetModules: .names(["q_proj"]))
        pissa.initLoRAWeights = .pissa
        try assertRefused(pissa, mentions: "PiSSA rank 65")
    }

    func testModulesToSaveMustNameAModuleAndNamesAreUnique() throws {
        var config = LoRAConfig(r: 4, targetModules: .names(["q_proj"]))
        config.modulesToSave = ["no_such_head"]
        try assertRefused(config, mentions: "modules_to_save 'no_such_head'")
        let m = try model()
        let lora = try LoRAModel(model: m.model, plugin: m.plugin, config: LoRAConfig(r: 4, targetModules: .names(["q_proj"])))
        XCTAssertThrowsError(try lora.addAdapter("default", config: LoRAConfig(r: 4, targetModules: .names(["v_proj"])))) {
            XCTAssertTrue("\($0)".contains("already loaded"), "\($0)")
        }
    }

    /// A copy of the fixture adapter with one value of its first tensor replaced.
    func poisonedAdapter(_ value: Float) throws -> URL {
        let dir = fm.temporaryDirectory.appendingPathComponent("lorakit-nan-adapter-\(getpid())")
        try? fm.removeItem(at: dir)
        try fm.copyItem(at: Self.llama.appendingPathComponent("adapter"), to: dir)
        let url = dir.appendingPathComponent("adapter_model.safetensors")
        let file = try SafetensorsFile(url: url)
        var tensors: [SafetensorsTensor] = []
        for (i, name) in file.tensorNames.sorted().enumerated() {
            var values = try file.floats(name)
            if i == 0 { values[1] = value }
            tensors.append(SafetensorsTensor(name: name, floats: values, shape: try file.shape(name)))
        }
        try SafetensorsWriter.write(tensors, to: url)
        return dir
    }

    func testNonFiniteAdapterWeightsAreRefused() throws {
        for value in [Float.nan, .infinity] {
            let dir = try poisonedAdapter(value)
            defer { try? fm.removeItem(at: dir) }
            let m = try model()
            XCTAssertThrowsError(try LoRAModel.load(from: dir, into: m.model, plugin: m.plugin)) {
                XCTAssertTrue("\($0)".contains("adapter is corrupt") && "\($0)".contains("element 1"), "\($0)")
            }
            let out = fm.temporaryDirectory.appendingPathComponent("lorakit-nan-merge-\(getpid())")
            XCTAssertThrowsError(try MergedModelWriter.merge(model: Self.llama.appendingPathComponent("model").path, adapter: dir, to: out))
            XCTAssertFalse(fm.fileExists(atPath: out.path), "merge wrote a model from a corrupt adapter")
        }
    }

    func testMissingAdapterDirectoryIsNamed() throws {
        let m = try model()
        XCTAssertThrowsError(try LoRAModel.load(from: URL(fileURLWithPath: "/nonexistent/adapter"), into: m.model, plugin: m.plugin)) {
            XCTAssertEqual("\($0)", "adapter directory /nonexistent/adapter does not exist")
        }
    }

    func testMergeRefusesAnExistingTargetUnlessForcedAndForceReplacesIt() throws {
        let out = fm.temporaryDirectory.appendingPathComponent("lorakit-merge-force-\(getpid())")
        defer { try? fm.removeItem(at: out) }
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: out.appendingPathComponent("notes.txt"))
        let (model, adapter) = (Self.llama.appendingPathComponent("model").path, Self.llama.appendingPathComponent("adapter"))
        XCTAssertThrowsError(try MergedModelWriter.merge(model: model, adapter: adapter, to: out)) {
            XCTAssertTrue("\($0)".contains("already exists") && "\($0)".contains("--force"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("notes.txt"), encoding: .utf8), "mine")
        // An existing file is the user's too.
        let fileTarget = fm.temporaryDirectory.appendingPathComponent("lorakit-merge-file-\(getpid())")
        defer { try? fm.removeItem(at: fileTarget) }
        try Data("x".utf8).write(to: fileTarget)
        XCTAssertThrowsError(try MergedModelWriter.merge(model: model, adapter: adapter, to: fileTarget))
        XCTAssertEqual(try Data(contentsOf: fileTarget), Data("x".utf8))

        try MergedModelWriter.merge(model: model, adapter: adapter, to: out, force: true)
        XCTAssertEqual(Set(try fm.contentsOfDirectory(atPath: out.path)), ["config.json", "model.safetensors"])
        let leftovers = try fm.contentsOfDirectory(atPath: out.deletingLastPathComponent().path).filter { $0.hasPrefix(".\(out.lastPathComponent)") }
        XCTAssertEqual(leftovers, [], "no staging or old directory left next to the target")
    }

    /// A merge killed between renaming the user's directory aside and renaming the new one in: the next merge puts
    /// the user's directory back (and then refuses to replace it without --force) and removes the dead staging.
    func testAKilledMergeIsRecoveredByTheNextOne() throws {
        let out = fm.temporaryDirectory.appendingPathComponent("lorakit-merge-killed-\(getpid())")
        let parent = out.deletingLastPathComponent()
        let (old, staging) = (parent.appendingPathComponent(".\(out.lastPathComponent).old-99999999"),
                              parent.appendingPathComponent(".\(out.lastPathComponent).tmp-99999999"))
        defer { for u in [out, old, staging] { try? fm.removeItem(at: u) } }
        for dir in [old, staging] { try fm.createDirectory(at: dir, withIntermediateDirectories: true) }
        try Data("mine".utf8).write(to: old.appendingPathComponent("notes.txt"))
        XCTAssertThrowsError(try MergedModelWriter.merge(model: Self.llama.appendingPathComponent("model").path,
                                                         adapter: Self.llama.appendingPathComponent("adapter"), to: out)) {
            XCTAssertTrue("\($0)".contains("already exists"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("notes.txt"), encoding: .utf8), "mine")
        XCTAssertFalse(fm.fileExists(atPath: old.path) || fm.fileExists(atPath: staging.path))
    }

    /// An output under a regular file cannot be created by anyone (root included, unlike a chmod'ed directory).
    func testMergeIntoAnUnwritablePlaceNamesIt() throws {
        let blocker = fm.temporaryDirectory.appendingPathComponent("lorakit-blocker-\(getpid())")
        try Data().write(to: blocker)
        defer { try? fm.removeItem(at: blocker) }
        let out = blocker.appendingPathComponent("merged")
        XCTAssertThrowsError(try MergedModelWriter.merge(model: Self.llama.appendingPathComponent("model").path,
                                                         adapter: Self.llama.appendingPathComponent("adapter"), to: out)) {
            XCTAssertTrue("\($0)".hasPrefix("cannot write to \(blocker.path)"), "\($0)")
            XCTAssertFalse("\($0)".contains("NSCocoaErrorDomain"), "\($0)")
        }
    }
}
