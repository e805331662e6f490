import XCTest
import LoRAKit

/// ModelLoader's contract on the tiny Llama fixture: sharded checkpoints load like single files, loading is strict
/// (an extra or a missing tensor is an error naming it), and an alias that is not fetched says how to fetch it.
final class ModelLoadingTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    let source = LlamaParityTests.fixtures.appendingPathComponent("parity/llama/model")

    /// A copy of the fixture's config.json plus the given tensors in `shards` files with an index, in a temp dir.
    func writeCheckpoint(_ tensors: [SafetensorsTensor], shards: Int) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: dir.appendingPathComponent("config.json"))
        if shards == 1 {
            try SafetensorsWriter.write(tensors, to: dir.appendingPathComponent("model.safetensors"))
            return dir
        }
        var weightMap: [String: String] = [:]
        for s in 0..<shards {
            let file = String(format: "model-%05d-of-%05d.safetensors", s + 1, shards)
            let part = tensors.enumerated().filter { $0.offset % shards == s }.map(\.element)
            try SafetensorsWriter.write(part, to: dir.appendingPathComponent(file))
            for t in part { weightMap[t.name] = file }
        }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": weightMap])
        try index.write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        return dir
    }

    func fixtureTensors() throws -> [SafetensorsTensor] {
        let file = try SafetensorsFile(url: source.appendingPathComponent("model.safetensors"))
        return try file.tensorNames.sorted().map { SafetensorsTensor(name: $0, floats: try file.floats($0), shape: try file.info($0).shape) }
    }

    func logits(_ m: LoadedModel) -> [Float] {
        let ids = [5, 17, 200, 33, 91]
        return GradMode.withoutGrad { m.model.forward(ModelInput(inputIDs: IntTensor(ids, shape: [1, ids.count]))) }.scalars
    }

    func testShardedCheckpointLoadsLikeTheSingleFile() throws {
        let sharded = try ModelLoader.load(try writeCheckpoint(try fixtureTensors(), shards: 3).path)
        let single = try ModelLoader.load(source.path)
        XCTAssertEqual(logits(sharded), logits(single))  // same weights, same code: bitwise equal
    }

    func testExtraTensorIsAnErrorNamingIt() throws {
        var tensors = try fixtureTensors()
        tensors.append(SafetensorsTensor(name: "model.layers.0.self_attn.extra.weight", floats: [1, 2], shape: [2]))
        XCTAssertThrowsError(try ModelLoader.load(try writeCheckpoint(tensors, shards: 1).path)) {
            XCTAssertTrue("\($0)".contains("model.layers.0.self_attn.extra.weight"), "\($0)")
        }
    }

    func testMissingTensorIsAnErrorNamingIt() throws {
        let tensors = try fixtureTensors().filter { $0.name != "model.layers.1.mlp.up_proj.weight" }
        XCTAssertThrowsError(try ModelLoader.load(try writeCheckpoint(tensors, shards: 2).path)) {
            XCTAssertTrue("\($0)".contains("model.layers.1.mlp.up_proj.weight"), "\($0)")
        }
    }

    func testUnfetchedAliasSaysHowToFetchIt() throws {
        let previous = ProcessInfo.processInfo.environment["LORAKIT_CACHE"]
        setenv("LORAKIT_CACHE", FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-empty-\(UUID().uuidString)").path, 1)
        defer { if let previous { setenv("LORAKIT_CACHE", previous, 1) } else { unsetenv("LORAKIT_CACHE") } }
        XCTAssertThrowsError(try ModelLoader.load("smollm2-135m-instruct")) {
            XCTAssertTrue("\($0)".contains("scripts/fetch-models.sh"), "\($0)")
        }
        XCTAssertThrowsError(try ModelLoader.load("no-such-model")) { XCTAssertTrue("\($0)".contains("no-such-model"), "\($0)") }
    }
}
