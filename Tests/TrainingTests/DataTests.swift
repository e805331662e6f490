import XCTest
import LoRAKit

final class DataTests: XCTestCase {
    let mixed = trainingFixtures.appendingPathComponent("mixed.jsonl")

    /// Malformed lines are an error naming file:line by default …
    func testBadLineIsAnErrorWithFileAndLine() {
        XCTAssertThrowsError(try JSONLReader.read(mixed)) { error in
            let e = error as! JSONLError
            XCTAssertEqual(e.line, 3)
            XCTAssertTrue(e.description.hasPrefix("\(mixed.path):3: "), e.description)
        }
    }

    /// … and under `skip` they are counted, never silently dropped: line 3 (truncated), 5 (an array), 6 (text
    /// after the object). The blank line 4 is not a row.
    func testSkippedLinesAreCounted() throws {
        let c = try JSONLReader.read(mixed, onBadLine: .skip)
        XCTAssertEqual(c.rows.map(\.line), [1, 2, 7])
        XCTAssertEqual(c.skipped.map(\.line), [3, 5, 6])
        XCTAssertTrue(c.skipped[1].reason.contains("expected a JSON object"), c.skipped[1].reason)
        XCTAssertTrue(c.skipped[2].reason.contains("unexpected text") || c.skipped[2].reason.contains("invalid JSON"), c.skipped[2].reason)
        XCTAssertEqual(c.rows[2].value["tags"], .array([.string("math")]))
        XCTAssertEqual(c.rows[2].value["n"], .int(10))
    }

    func testJSONStringsAreExact() throws {
        let line = #"{"t": "caf\u00e9 \ud83d\ude00 \"q\" \\ tab\t nul\u0000end"}"#
        let c = try JSONLReader.read(Data(line.utf8), name: "inline")
        XCTAssertEqual(c.rows[0].value["t"], .string("café 😀 \"q\" \\ tab\t nul\u{0}end"))
    }

    func testFilterExpressions() throws {
        let row: JSONValue = .object(["status": .string("ok"), "n": .int(7), "s": .double(0.5), "tags": .array([.string("math")]),
                                      "meta": .object(["lang": .string("en")])])
        let cases: [(String, Bool)] = [
            (#"status == "ok""#, true), (#"status != "ok""#, false), ("n > 5 and s < 0.6", true), ("n < 5 or s > 0.6", false),
            (#"not status == "ok""#, false), (#""math" in tags"#, true), (#"status in ["ok", "fine"]"#, true),
            (#"status not in ["ok"]"#, false), (#"meta.lang == 'en'"#, true), ("missing == null", true), ("n >= 7 and n <= 7", true),
            (#"(n > 100 or status == "ok") and not (s == 1)"#, true), (#"n == "7""#, false),
        ]
        for (source, expected) in cases {
            XCTAssertEqual(try FilterExpression(source).matches(row), expected, source)
        }
        XCTAssertThrowsError(try FilterExpression("status = 'ok'")) { XCTAssertEqual(($0 as! FilterError).column, 8) }
        XCTAssertThrowsError(try FilterExpression("status == ")) { XCTAssertTrue("\($0)".contains("expected a value")) }
    }

    /// Filtering and the validation split: 3 "ok" rows of 4 parsed, one held out.
    func testLoadFiltersAndSplits() throws {
        let spec = DatasetSpec(path: mixed, type: .alpaca, filter: try FilterExpression(#"status == "ok""#), onBadLine: .skip,
                               validationFraction: 0.34)
        let rows = try LoadedRows.load([spec], seed: 1)
        XCTAssertEqual(rows.filteredOut, 1)
        XCTAssertEqual(rows.skippedBadLines.count, 3)
        XCTAssertEqual(rows.train.count + rows.validation.count, 2)
        XCTAssertEqual(rows.validation.count, 1)
    }

    /// SFT on the Alpaca prompt: BOS and the prompt are −100, the response and EOS keep their ids.
    func testAlpacaPromptIsMasked() throws {
        let row = DatasetRow(source: "x", line: 1, value: .object(["instruction": .string("Say hi"), "output": .string("hi")]), type: .alpaca,
                             spec: DatasetSpec(path: mixed, type: .alpaca))
        let formatted = try ExampleFormatter(format: .alpaca).format(row)
        let prompt = try PromptFormat.alpacaPrompt(instruction: "Say hi", input: "")
        let (e, truncated) = ExampleTokenizer(tokenizer: CharTokenizer(), masking: .prompt, maxLength: 4096).tokenize(formatted)
        XCTAssertFalse(truncated)
        XCTAssertEqual(e.inputIDs.count, 1 + prompt.count + 2 + 1)
        XCTAssertEqual(e.inputIDs.first, 2)
        XCTAssertEqual(e.inputIDs.last, 3)
        XCTAssertTrue(e.labels.prefix(1 + prompt.count).allSatisfy { $0 == ignoreIndex })
        XCTAssertEqual(Array(e.labels.suffix(3)), [104, 105, 3] as [Int32])
        // causal_lm trains everything.
        let all = ExampleTokenizer(tokenizer: CharTokenizer(), masking: .none, maxLength: 4096).tokenize(formatted).example
        XCTAssertEqual(Array(all.labels.dropFirst()), Array(all.inputIDs.dropFirst()), "everything but the post-processor's BOS is trained")
        // Truncation keeps the start.
        let cut = ExampleTokenizer(tokenizer: CharTokenizer(), masking: .prompt, maxLength: 10).tokenize(formatted)
        XCTAssertTrue(cut.truncated)
        XCTAssertEqual(cut.example.inputIDs.count, 10)
    }

    /// Chat masking: every assistant turn is trained and nothing else; `last_response` trains only the last.
    func testChatTrainsAssistantTurnsOnly() throws {
        let messages: JSONValue = .array([
            .object(["role": .string("system"), "content": .string("S")]), .object(["role": .string("user"), "content": .string("U1")]),
            .object(["role": .string("assistant"), "content": .string("A1")]), .object(["role": .string("user"), "content": .string("U2")]),
            .object(["role": .string("assistant"), "content": .string("A2")]),
        ])
        let row = DatasetRow(source: "x", line: 1, value: .object(["messages": messages]), type: .chat, spec: DatasetSpec(path: mixed, type: .chat))
        let formatted = try ExampleFormatter(format: .chat(chatMLRenderer)).format(row)
        let tok = CharTokenizer()
        func trainedText(_ masking: LabelMasking) -> String {
            let e = ExampleTokenizer(tokenizer: tok, masking: masking, maxLength: 4096).tokenize(formatted).example
            return tok.decode(e.labels.filter { $0 != ignoreIndex }.map(Int.init), skipSpecialTokens: false)
        }
        XCTAssertEqual(trainedText(.prompt), "A1</>A2</>")
        XCTAssertEqual(trainedText(.allButLastResponse), "A2</>")
        let e = ExampleTokenizer(tokenizer: tok, masking: .prompt, maxLength: 4096).tokenize(formatted).example
        XCTAssertEqual(tok.decode(e.inputIDs.map(Int.init), skipSpecialTokens: false), "<system>S</><user>U1</><assistant>A1</><user>U2</><assistant>A2</>")
        // No BOS/EOS added: the template owns them.
        XCTAssertNotEqual(e.inputIDs.first, 2)
    }

    /// Packing: positions restart at 0 per sample, segment ids number the samples (0 = padding), each sample's
    /// last position has no target, and prompt masks survive the shift.
    func testPackingRestartsPositionsAndSeparatesSegments() {
        let a = TokenizedExample(inputIDs: [10, 11, 12], labels: [ignoreIndex, 11, 12])
        let b = TokenizedExample(inputIDs: [20, 21], labels: [ignoreIndex, 21])
        let c = TokenizedExample(inputIDs: [30, 31, 32, 33], labels: [30, 31, ignoreIndex, 33])
        XCTAssertEqual(BatchBuilder.packRows([3, 2, 4], length: 6), [[0, 1], [2]])
        let batch = BatchBuilder.packed([[a, b], [c]], length: 6, padID: 0)
        XCTAssertEqual(batch.input.inputIDs.shape, [2, 5])
        XCTAssertEqual(batch.input.inputIDs.values, [10, 11, 12, 20, 21, 30, 31, 32, 33, 0])
        XCTAssertEqual(batch.input.positionIDs!.values, [0, 1, 2, 0, 1, 0, 1, 2, 3, 0])
        XCTAssertEqual(batch.input.segmentIDs!.values, [1, 1, 1, 2, 2, 1, 1, 1, 1, 0])
        XCTAssertEqual(batch.input.attentionMask!.values, [1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
        XCTAssertEqual(batch.targets.values, [11, 12, ignoreIndex, 21, ignoreIndex, 31, ignoreIndex, 33, ignoreIndex, ignoreIndex])
        XCTAssertEqual(batch.targetCount, 5)
        // The epoch plan packs in its shuffled order and rebuilds the same rows.
        let plan = EpochPlan(lengths: [3, 2, 4], batchSize: 2, maxLength: 6, packing: true, seed: 1, epoch: 0)
        let rebuilt = plan.batch(0, examples: [a, b, c], maxLength: 6, padID: 0)
        XCTAssertEqual(rebuilt.tokenCount, 9)
    }

    /// The seeded order depends on (seed, epoch) only.
    func testEpochOrderIsDeterministic() {
        let lengths = Array(repeating: 4, count: 20)
        let p1 = EpochPlan(lengths: lengths, batchSize: 3, maxLength: 8, packing: false, seed: 5, epoch: 1)
        let p2 = EpochPlan(lengths: lengths, batchSize: 3, maxLength: 8, packing: false, seed: 5, epoch: 1)
        let p3 = EpochPlan(lengths: lengths, batchSize: 3, maxLength: 8, packing: false, seed: 5, epoch: 2)
        XCTAssertEqual(p1.batches, p2.batches)
        XCTAssertNotEqual(p1.batches, p3.batches)
        XCTAssertEqual(Set(p1.batches.flatMap { $0 }), Set(0..<20))
    }
}
