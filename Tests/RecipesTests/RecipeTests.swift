import XCTest
import LoRAKit

final class RecipeTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/training")

    func parse(_ text: String, overrides: [String] = []) throws -> Recipe {
        try Recipe.parse(text, file: fixtures.appendingPathComponent("inline.yaml"), overrides: overrides)
    }

    func testFullRecipeDecodes() throws {
        let r = try Recipe.load(fixtures.appendingPathComponent("recipe-full.yaml"))
        XCTAssertEqual(r.template, .chatml)
        XCTAssertEqual(r.task.type, .sft)
        XCTAssertEqual(r.task.masking, .prompt)
        XCTAssertEqual(r.datasets[0].path, fixtures.appendingPathComponent("mixed.jsonl").standardizedFileURL)
        XCTAssertEqual(r.datasets[0].onBadLine, .skip)
        XCTAssertEqual(r.datasets[0].validationFraction, 0.34)
        XCTAssertEqual(r.loraConfig.r, 4)
        XCTAssertEqual(r.loraConfig.targetModules, .names(["q_proj", "v_proj"]))
        XCTAssertEqual(r.training.learningRate, .auto)
        XCTAssertEqual(r.training.batchSize, .value(2))
        XCTAssertEqual(r.training.schedule, .cosine)
        XCTAssertEqual(r.training.warmupRatio, 0.1)
        XCTAssertTrue(r.training.packing)
        XCTAssertEqual(r.save.outputDir, fixtures.appendingPathComponent("out").standardizedFileURL)
        XCTAssertEqual(r.save.saveEvery, 10)
    }

    /// Unknown keys are errors at their line:column with a suggestion.
    func testUnknownKeyNamesLineColumnAndSuggestion() {
        let url = fixtures.appendingPathComponent("recipe-bad-key.yaml")
        XCTAssertThrowsError(try Recipe.load(url)) { error in
            let e = error as! RecipeError
            XCTAssertEqual(e.line, 7)
            XCTAssertEqual(e.column, 17)
            XCTAssertEqual(e.path, "training.learning_rat")
            XCTAssertTrue(e.description.hasPrefix("\(url.path):7:17: "), e.description)
            XCTAssertTrue(e.description.contains("did you mean 'learning_rate'"), e.description)
        }
    }

    func testTypeErrorsSayWhatWasExpected() {
        let base = "model: m\ndatasets:\n  - path: d.jsonl\n    type: alpaca\n"
        let cases: [(String, Int, Int, String)] = [
            (base + "training:\n  max_steps: ten\n", 6, 14, "expected an integer, found 'ten'"),
            (base + "training:\n  lr_scheduler: cosin\n", 6, 17, "did you mean 'cosine'"),
            (base + "training:\n  packing: maybe\n", 6, 12, "expected true or false"),
            ("model: m\ndatasets:\n  - path: d.jsonl\n    type: alpacca\n", 4, 11, "expected one of alpaca"),
            ("model: m\ndatasets:\n  - path: d.jsonl\n    type: alpaca\n    filter: status = 'ok'\n", 5, 20, "use '=='"),
            ("model: m\ndatasets: []\n", 2, 11, "non-empty list"),
            ("datasets:\n  - path: d.jsonl\n    type: text\n", 1, 1, "missing"),
            ("model: m\n  bad: [\n", 2, 6, "YAML syntax"),
        ]
        for (text, line, column, message) in cases {
            XCTAssertThrowsError(try parse(text), text) { error in
                let e = error as! RecipeError
                XCTAssertEqual(e.line, line, "\(e)")
                XCTAssertEqual(e.column, column, "\(e)")
                XCTAssertTrue(e.description.contains(message), "\(e)")
            }
        }
    }

    func testOverrides() throws {
        let text = "model: m\ndatasets:\n  - path: d.jsonl\n    type: alpaca\ntraining:\n  max_steps: 10\n"
        let r = try parse(text, overrides: ["training.max_steps=3", "training.learning_rate=auto", "lora.target_modules=[q_proj, o_proj]",
                                            "datasets.0.filter=n > 1", "save.output_dir=/tmp/x"])
        XCTAssertEqual(r.training.maxSteps, 3)
        XCTAssertEqual(r.training.learningRate, .auto)
        XCTAssertEqual(r.loraConfig.targetModules, .names(["q_proj", "o_proj"]))
        XCTAssertEqual(r.datasets[0].filter?.source, "n > 1")
        XCTAssertEqual(r.save.outputDir.path, "/tmp/x")
        XCTAssertTrue(r.resolvedText.contains("training.max_steps=3"))
        // An override with a bad value names the --set that gave it.
        XCTAssertThrowsError(try parse(text, overrides: ["training.max_steps=many"])) { error in
            XCTAssertTrue("\(error)".contains("--set training.max_steps=many"), "\(error)")
        }
        XCTAssertThrowsError(try parse(text, overrides: ["training.max_stpes=3"])) { error in
            XCTAssertTrue("\(error)".contains("did you mean 'max_steps'"), "\(error)")
        }
    }

    func testTaskDefaultsAndClassification() throws {
        let causal = try parse("model: m\ntask: causal_lm\ndatasets:\n  - {path: d.jsonl, type: text}\n")
        XCTAssertEqual(causal.task.masking, .none)
        XCTAssertThrowsError(try parse("model: m\ntask: classification\ndatasets:\n  - {path: d.jsonl, type: classification}\n")) {
            XCTAssertTrue("\($0)".contains("label names"))
        }
        let c = try parse("model: m\ntask: {type: classification, labels: [neg, pos]}\ndatasets:\n  - {path: d.jsonl, type: classification}\n")
        XCTAssertEqual(c.task.labels, ["neg", "pos"])
    }

    /// Every PEFT option LoRAKit implements can be written in a recipe: the `lora:` section goes through the
    /// adapter_config.json decoder, and its errors point at the key in the file.
    func testLoRASectionTakesEveryPEFTOption() throws {
        let text = """
            model: m
            datasets:
              - {path: d.jsonl, type: text}
            lora:
              r: 8
              lora_alpha: 16
              target_modules: [q_proj, k_proj, v_proj, o_proj]
              exclude_modules: [k_proj]
              layers_to_transform: [0, 1]
              rank_pattern: {v_proj: 4}
              alpha_pattern: {v_proj: 8.5}
              use_dora: true
              init_lora_weights: pissa
              bias: lora_only
            """
        let c = try parse(text).loraConfig
        XCTAssertEqual(c.r, 8)
        XCTAssertEqual(c.loraAlpha, 16)
        XCTAssertEqual(c.excludeModules, .names(["k_proj"]))
        XCTAssertEqual(c.layersToTransform, [0, 1])
        XCTAssertEqual(c.rankPattern, ["v_proj": 4])
        XCTAssertEqual(c.alphaPattern, ["v_proj": 8.5])
        XCTAssertTrue(c.useDoRA)
        XCTAssertEqual(c.initLoRAWeights, .pissa)
        XCTAssertEqual(c.bias, .loraOnly)

        let errors: [(String, Int, Int, String)] = [
            ("lora:\n  r: 0\n", 5, 6, "lora.r: the rank must be a positive integer"),
            ("lora:\n  rank_patern: {q_proj: 4}\n", 5, 16, "did you mean 'rank_pattern'"),
            ("lora:\n  init_lora_weights: olora\n", 5, 22, "supported: true, false"),
            ("lora:\n  use_qalora: true\n", 5, 15, "QALoRA is not supported"),
            ("lora:\n  target_modules: all-linear\n  layers_to_transform: [0]\n", 6, 24, "cannot be used when target_modules is a string"),
        ]
        for (section, line, column, message) in errors {
            XCTAssertThrowsError(try parse("model: m\ndatasets:\n  - {path: d.jsonl, type: text}\n" + section), section) { error in
                let e = error as! RecipeError
                XCTAssertEqual(e.line, line, "\(e)")
                XCTAssertEqual(e.column, column, "\(e)")
                XCTAssertTrue(e.description.contains(message), "\(e)")
            }
        }
    }

    /// `plugins:` paths are resolved against the recipe's directory.
    func testPluginsAreResolvedAgainstTheRecipe() throws {
        let r = try parse("model: m\nplugins: [../../Plugins/Qwen2/qwen2.json, /abs/lib.so]\ndatasets:\n  - {path: d.jsonl, type: text}\n")
        XCTAssertEqual(r.plugins.map(\.path), [fixtures.appendingPathComponent("../../Plugins/Qwen2/qwen2.json").standardizedFileURL.path, "/abs/lib.so"])
    }

    /// The shipped recipes validate.
    func testShippedRecipesValidate() throws {
        let recipes = fixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("recipes")
        let files = try FileManager.default.contentsOfDirectory(atPath: recipes.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertFalse(files.isEmpty)
        for f in files { XCTAssertNoThrow(try Recipe.load(recipes.appendingPathComponent(f)), f) }
    }

    /// Preparing the fixture dataset: filter, bad-line count, split and masking all visible in the counts.
    func testPrepareCountsEverything() throws {
        var r = try Recipe.load(fixtures.appendingPathComponent("recipe-full.yaml"))
        r.training.maxSeqLength = 4096
        let data = try PreparedData.prepare(r, tokenizer: SpaceTokenizer(), format: .alpaca)
        XCTAssertEqual(data.skippedBadLines.count, 3)
        XCTAssertEqual(data.filteredOut, 1)   // line 2 ("too short", n 1); lines 1 and 7 pass
        XCTAssertEqual(data.train.count + data.validation.count, 2)
        XCTAssertTrue(data.summary.contains("malformed lines skipped"), data.summary)
    }
}

/// Bytes as ids, for pipeline tests that need no vocabulary.
struct SpaceTokenizer: Tokenizer {
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int] { (addSpecialTokens ? [1] : []) + text.utf8.map { Int($0) } }
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String { String(decoding: ids.map { UInt8($0 % 256) }, as: UTF8.self) }
    func id(forToken token: String) -> Int? { token.utf8.first.map(Int.init) }
    func token(forID id: Int) -> String? { String(UnicodeScalar(UInt8(id % 256))) }
    var vocabularySize: Int { 256 }
    var specialTokenIDs: Set<Int> { [1, 2] }
    var bosTokenID: Int? { 1 }
    var eosTokenID: Int? { 2 }
    var padTokenID: Int? { 0 }
    var unkTokenID: Int? { nil }
}
