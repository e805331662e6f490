import XCTest
import LoRAKit
import Serving

/// The serving engine on the tiny Llama fixture (Tests/Fixtures/serving: tiny-llama, adapter-a r4 on every
/// projection, adapter-b r8 on q/v; byte tokens). Greedy tokens of requests batched across adapters must equal
/// each request alone and `lorakit generate --adapter` (Generator over a model with the adapter applied).
final class ContinuousBatchingTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/serving")
    static var model: String { fixtures.appendingPathComponent("tiny-llama").path }
    static var adapterA: String { fixtures.appendingPathComponent("adapter-a").path }
    static var adapterB: String { fixtures.appendingPathComponent("adapter-b").path }

    func makeServer(maxBatch: Int = 8, maxLoaded: Int = 8) throws -> LoRAServer {
        var options = ServeOptions(model: Self.model)
        options.servedModelName = "tiny"
        options.adapters = [("a", Self.adapterA), ("b", Self.adapterB)]
        options.maxBatch = maxBatch
        options.maxLoadedAdapters = maxLoaded
        let server = try LoRAServer(options: options)
        server.start()
        return server
    }

    /// What `lorakit generate --adapter DIR` computes: greedy Generator over a fresh model with the adapter(s).
    func reference(adapters: [String], prompt: String, maxTokens: Int) throws -> [Int] {
        let loaded = try ModelLoader.load(Self.model)
        if let first = adapters.first {
            let lora = try loaded.applyAdapter(first)
            for (i, more) in adapters.dropFirst().enumerated() { try lora.loadAdapter(from: URL(fileURLWithPath: more), as: "extra\(i)") }
            lora.setActiveAdapters(lora.adapterNames)
        }
        let tokenizer = try loaded.makeTokenizer()
        return try loaded.generator(tokenizer: tokenizer)
            .generate(promptIDs: tokenizer.encode(prompt, addSpecialTokens: true), maxTokens: maxTokens).tokens
    }

    func testAdaptersInOneBatchGiveTheTokensOfEachAloneAndOfGenerate() async throws {
        let server = try makeServer()
        defer { server.drain() }
        let requests = [LoRAServer.Completion(model: "a", prompt: "2+3=", maxTokens: 12),
                        LoRAServer.Completion(model: "b", prompt: "hello", maxTokens: 12),
                        LoRAServer.Completion(model: "tiny", prompt: "2+3=", maxTokens: 12)]
        var alone: [[Int]] = []
        for r in requests {
            let out = try await server.generate([r])[0]
            XCTAssertEqual(out.peakBatch, 1)
            alone.append(out.tokens)
        }
        let together = try await server.generate(requests)
        XCTAssertEqual(together.map(\.peakBatch), [3, 3, 3], "the three requests were meant to share decode steps")
        XCTAssertEqual(together.map(\.tokens), alone)
        XCTAssertEqual(alone[0].count, 12)
        XCTAssertEqual(alone[0], try reference(adapters: [Self.adapterA], prompt: "2+3=", maxTokens: 12))
        XCTAssertEqual(alone[1], try reference(adapters: [Self.adapterB], prompt: "hello", maxTokens: 12))
        XCTAssertEqual(alone[2], try reference(adapters: [], prompt: "2+3=", maxTokens: 12))
        // The adapter must matter, or equality above would prove nothing about routing.
        XCTAssertNotEqual(alone[0], alone[2])
    }

    /// Prompts of different lengths admitted together go through one packed prompt pass: adapter a's prompt is
    /// long enough (≥ 32 tokens) that its LoRA products are split over the cores, and each must still give the
    /// tokens of `lorakit generate --adapter`.
    func testLongPromptsPackedIntoOnePassGiveTheTokensOfGenerate() async throws {
        let server = try makeServer()
        defer { server.drain() }
        let prompts = ["The quick brown fox jumps over the lazy dog, twice.", "hello there", "1+1=2, 2+2=4, 3+3="]
        let models = ["a", "b", "tiny"]
        let outs = try await server.generate(zip(models, prompts).map { .init(model: $0, prompt: $1, maxTokens: 8) })
        XCTAssertEqual(outs.map(\.peakBatch), [3, 3, 3])
        for (i, adapter) in [[Self.adapterA], [Self.adapterB], []].enumerated() {
            XCTAssertEqual(outs[i].tokens, try reference(adapters: adapter, prompt: prompts[i], maxTokens: 8), "request \(i) (\(models[i]))")
        }
    }

    func testARequestJoiningMidGenerationLeavesBothUnchanged() async throws {
        let server = try makeServer()
        defer { server.drain() }
        let long = LoRAServer.Completion(model: "a", prompt: "x", maxTokens: 56)
        let short = LoRAServer.Completion(model: "b", prompt: "2+2=", maxTokens: 8)
        let longAlone = try await server.generate([long])[0].tokens
        let shortAlone = try await server.generate([short])[0].tokens
        // The short request goes in once the long one is running; retried in case a loaded machine let the long
        // one finish first (then nothing was tested yet).
        for _ in 0..<5 {
            async let first = server.generate([long])
            try await Task.sleep(nanoseconds: 2_000_000)
            let second = try await server.generate([short])[0]
            let longRun = try await first[0]
            XCTAssertEqual(longRun.tokens, longAlone)
            XCTAssertEqual(second.tokens, shortAlone)
            if second.peakBatch == 2 { return }
        }
        XCTFail("the second request never joined the running one")
    }

    func testPerRequestLoraListScalesAndStacksAdapters() async throws {
        let server = try makeServer()
        defer { server.drain() }
        let base = try await server.generate([.init(model: "tiny", prompt: "abc", maxTokens: 10)])[0].tokens
        let viaModel = try await server.generate([.init(model: "a", prompt: "abc", maxTokens: 10)])[0].tokens
        let outs = try await server.generate([
            .init(model: "tiny", prompt: "abc", maxTokens: 10, lora: [("a", 1)]),
            .init(model: "a", prompt: "abc", maxTokens: 10, lora: [("a", 0)]),
            .init(model: "a", prompt: "abc", maxTokens: 10, lora: [("b", 1)]),
        ])
        XCTAssertEqual(outs[0].tokens, viaModel, "lora [{a, 1}] on the base = model a")
        XCTAssertEqual(outs[1].tokens, base, "scale 0 switches the adapter off")
        XCTAssertEqual(outs[2].tokens, try reference(adapters: [Self.adapterA, Self.adapterB], prompt: "abc", maxTokens: 10),
                       "a + b stacked = PEFT's two active adapters")
    }

    /// Rows of one adapter at different request scales sit side by side in one run (the engine sorts rows by
    /// adapter), so the routed layers take the per-row scaling path; each must still equal its request alone.
    func testOneAdapterAtSeveralScalesInOneBatchEqualsEachAlone() async throws {
        let server = try makeServer()
        defer { server.drain() }
        let requests: [LoRAServer.Completion] = [
            .init(model: "a", prompt: "abc", maxTokens: 10),
            .init(model: "tiny", prompt: "abc", maxTokens: 10),
            .init(model: "a", prompt: "abc", maxTokens: 10, lora: [("a", 0.5)]),
            .init(model: "b", prompt: "abc", maxTokens: 10, lora: [("a", 2)]),
            .init(model: "a", prompt: "abc", maxTokens: 10, lora: [("a", 3)]),
        ]
        var alone: [[Int]] = []
        for r in requests { alone.append(try await server.generate([r])[0].tokens) }
        let together = try await server.generate(requests)
        XCTAssertEqual(together.map(\.peakBatch), Array(repeating: 5, count: 5))
        XCTAssertEqual(together.map(\.tokens), alone)
        // The scale must matter, or the equality above would not test the per-row scaling.
        XCTAssertNotEqual(alone[0], alone[4])
    }

    /// A NaN in the file, a missing tensor and an extra tensor are each refused with the tensor named, and leave
    /// the server as it was.
    func testCorruptAdapterFilesAreRefusedWithTheTensorNamed() async throws {
        let server = try makeServer()
        defer { server.drain() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("serve-corrupt-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ tensors: [SafetensorsTensor]) throws {
            try? FileManager.default.removeItem(at: dir)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data(#"{"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 2, "target_modules": ["q_proj"]}"#.utf8)
                .write(to: dir.appendingPathComponent("adapter_config.json"))
            try SafetensorsWriter.write(tensors, to: dir.appendingPathComponent("adapter_model.safetensors"))
        }
        func good(_ layer: Int) -> [SafetensorsTensor] {
            let key = "base_model.model.model.layers.\(layer).self_attn.q_proj"
            return [SafetensorsTensor(name: key + ".lora_A.weight", floats: [Float](repeating: 0.5, count: 2 * 64), shape: [2, 64]),
                    SafetensorsTensor(name: key + ".lora_B.weight", floats: [Float](repeating: 0.5, count: 64 * 2), shape: [64, 2])]
        }
        var nan = good(1)
        nan[1] = SafetensorsTensor(name: nan[1].name, floats: [0.1, .nan] + [Float](repeating: 0.1, count: 126), shape: [64, 2])
        let extra = SafetensorsTensor(name: "base_model.model.model.layers.0.mlp.up_proj.lora_A.weight", floats: [0, 0], shape: [1, 2])
        let cases: [([SafetensorsTensor], String)] = [
            (good(0) + nan, "layers.1.self_attn.q_proj.lora_B.weight' holds nan at element 1"),
            (good(0), "missing tensor 'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight'"),
            (good(0) + good(1) + [extra], "e.g. 'base_model.model.model.layers.0.mlp.up_proj.lora_A.weight'"),
        ]
        for (tensors, reason) in cases {
            try write(tensors)
            do {
                try await server.loadAdapter(name: "c", path: dir.path)
                XCTFail("a corrupt adapter loaded (\(reason))")
            } catch let e as ServeError {
                XCTAssertEqual(e.status, 400)
                XCTAssertTrue(e.message.contains(reason), e.message)
            }
        }
        XCTAssertEqual(server.adapterNames, ["a", "b"])
        // The same directory once whole loads, and changes the output.
        try write(good(0) + good(1))
        try await server.loadAdapter(name: "c", path: dir.path)
        let viaC = try await server.generate([.init(model: "c", prompt: "q", maxTokens: 8)])[0].tokens
        let base = try await server.generate([.init(model: "tiny", prompt: "q", maxTokens: 8)])[0].tokens
        XCTAssertNotEqual(viaC, base)
    }

    func testLoadsAreCheckedAndAtomic() async throws {
        let server = try makeServer()
        defer { server.drain() }
        let before = try await server.generate([.init(model: "a", prompt: "q", maxTokens: 8)])[0].tokens
        // An adapter whose q_proj A has the wrong input size.
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("serve-broken-\(getpid())")
        try? FileManager.default.removeItem(at: broken)
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: broken) }
        try Data(#"{"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 2, "target_modules": ["q_proj"]}"#.utf8)
            .write(to: broken.appendingPathComponent("adapter_config.json"))
        var tensors: [SafetensorsTensor] = []
        for layer in 0..<2 {
            let key = "base_model.model.model.layers.\(layer).self_attn.q_proj"
            tensors.append(SafetensorsTensor(name: key + ".lora_A.weight", floats: [Float](repeating: 0, count: 2 * 32), shape: [2, 32]))
            tensors.append(SafetensorsTensor(name: key + ".lora_B.weight", floats: [Float](repeating: 0, count: 64 * 2), shape: [64, 2]))
        }
        try SafetensorsWriter.write(tensors, to: broken.appendingPathComponent("adapter_model.safetensors"))
        for name in ["new", "a"] {
            do {
                try await server.loadAdapter(name: name, path: broken.path)
                XCTFail("a mismatched adapter loaded")
            } catch let e as ServeError {
                XCTAssertEqual(e.status, 400)
                XCTAssertTrue(e.message.contains("shape"), e.message)
            }
        }
        XCTAssertEqual(server.adapterNames, ["a", "b"])
        let after = try await server.generate([.init(model: "a", prompt: "q", maxTokens: 8)])[0].tokens
        XCTAssertEqual(after, before, "a failed replacement left adapter a as it was")
        // A good replacement takes effect; an unloaded adapter is unknown.
        try await server.loadAdapter(name: "a", path: Self.adapterB)
        let replaced = try await server.generate([.init(model: "a", prompt: "q", maxTokens: 8)])[0].tokens
        let viaB = try await server.generate([.init(model: "b", prompt: "q", maxTokens: 8)])[0].tokens
        XCTAssertEqual(replaced, viaB)
        try await server.unloadAdapter(name: "b")
        do {
            _ = try await server.generate([.init(model: "b", prompt: "q", maxTokens: 8)])
            XCTFail("an unloaded adapter answered")
        } catch let e as ServeError { XCTAssertEqual(e.status, 404) }
    }

    func testTheCacheNeverEvictsAnAdapterInUse() async throws {
        let server = try makeServer(maxLoaded: 1)
        defer { server.drain() }
        let aAlone = try await server.generate([.init(model: "a", prompt: "m", maxTokens: 8)])[0].tokens
        let bAlone = try await server.generate([.init(model: "b", prompt: "m", maxTokens: 8)])[0].tokens
        XCTAssertNotEqual(aAlone, bAlone)
        // Room for one adapter, both wanted at once: whichever comes second while the first runs is refused with
        // 429 rather than evicting the running one; whatever is answered is answered right.
        for _ in 0..<3 {
            async let first = try? await server.generate([.init(model: "a", prompt: "m", maxTokens: 8)])
            var second: [Int]?
            do { second = try await server.generate([.init(model: "b", prompt: "m", maxTokens: 8)])[0].tokens }
            catch let e as ServeError {
                XCTAssertEqual(e.status, 429, e.message)
            }
            if let second { XCTAssertEqual(second, bAlone) }
            if let out = await first { XCTAssertEqual(out[0].tokens, aAlone) }
        }
        // Both in one batch: the second adapter can never be resident with the first in use.
        do {
            _ = try await server.generate([.init(model: "a", prompt: "m", maxTokens: 8), .init(model: "b", prompt: "m", maxTokens: 8)])
            XCTFail("two adapters ran at once with room for one")
        } catch let e as ServeError { XCTAssertEqual(e.status, 429, e.message) }
        // Idle again, each is loaded on demand (evicting the other) with the same result.
        let again = try await server.generate([.init(model: "a", prompt: "m", maxTokens: 8)])[0].tokens
        XCTAssertEqual(again, aAlone)
        let bAgain = try await server.generate([.init(model: "b", prompt: "m", maxTokens: 8)])[0].tokens
        XCTAssertEqual(bAgain, bAlone)
    }
}
