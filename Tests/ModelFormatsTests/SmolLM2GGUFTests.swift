import Foundation
import ModelFormats
import XCTest

/// Reads the real SmolLM2-135M-Instruct Q4_1 GGUF that scripts/fetch-models.sh puts in the model cache. Skipped
/// when the model is absent (CI runs the fetch script before testing).
final class SmolLM2GGUFTests: XCTestCase {
    private func modelURL() throws -> URL {
        let cache = ProcessInfo.processInfo.environment["LORAKIT_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/lorakit").path
        let url = URL(fileURLWithPath: cache)
            .appendingPathComponent("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(url.path) not found; run scripts/fetch-models.sh")
        }
        return url
    }

    /// Expected values were computed once with gguf-py 0.19.0 (`GGUFReader` + `gguf.quants.dequantize`, float32
    /// reprs) and are compared exactly (tolerance 0), since our dequantization is bit-exact with gguf-py.
    func testMetadataAndDequantizedValuesMatchGGUFPy() throws {
        let file = try GGUFFile(url: modelURL())
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.architecture, "llama")
        XCTAssertEqual(file.tensorInfos.count, 272)
        XCTAssertEqual(file["llama.block_count"]?.int, 30)
        XCTAssertEqual(file["llama.embedding_length"]?.int, 576)
        XCTAssertEqual(file["tokenizer.ggml.tokens"]?.strings?.prefix(3), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])

        let q = try file.info("blk.0.attn_q.weight")
        XCTAssertEqual(q.type, .Q4_1)
        XCTAssertEqual(q.shape, [576, 576])
        let values = try file.floats("blk.0.attn_q.weight")
        XCTAssertEqual(Array(values[0..<4]), [-0.09631348, 0.15734863, -0.09631348, -0.73046875])
        XCTAssertEqual(Array(values[(5 * 576 + 100)..<(5 * 576 + 103)]), [-0.296875, -0.703125, 0.71875])
        XCTAssertEqual(Array(values.suffix(3)), [-0.096832275, -0.14984131, -0.25585938])
        // gguf-py: float64 sum of the dequantized tensor = 59.22322082519531 (float64 summation order differs
        // slightly from numpy's pairwise sum, hence the 1e-9 relative tolerance).
        XCTAssertEqual(values.reduce(0.0) { $0 + Double($1) }, 59.22322082519531, accuracy: 59.22 * 1e-9)

        let down = try file.info("blk.0.ffn_down.weight")
        XCTAssertEqual(down.shape, [576, 1536])
        var row = [Float](repeating: 0, count: down.rowLength)
        try file.dequantizeRow("blk.0.ffn_down.weight", row: 3, into: &row)
        XCTAssertEqual(Array(row[1000..<1003]), [-0.19659424, -0.011169434, -0.66015625])

        let embedding = try file.info("token_embd.weight")
        XCTAssertEqual(embedding.type, .Q8_0)
        XCTAssertEqual(embedding.shape, [49152, 576])
        try file.dequantizeRow("token_embd.weight", row: 1000, into: &row)
        XCTAssertEqual(Array(row[0..<3]), [-0.11193848, -0.07395935, 0.037979126])
    }

    /// Every tensor (~135M parameters) dequantized: the float64 sum must be gguf-py's total, -10067.611953556538.
    /// The time is printed for information; speed targets live in `lorakit bench`, not in unit tests.
    func testWholeModelDequantizesToGGUFPyTotal() throws {
        let url = try modelURL()
        let start = Date()
        let file = try GGUFFile(url: url)
        let opened = Date()
        var total = 0.0
        var parameters = 0
        for info in file.tensorInfos {
            let values = try file.floats(info.name)
            parameters += values.count
            total += values.withUnsafeBufferPointer { buffer in
                var sum = 0.0
                for v in buffer { sum += Double(v) }
                return sum
            }
        }
        let finished = Date()
        let openTime = opened.timeIntervalSince(start), dequantizeTime = finished.timeIntervalSince(opened)
        print("SmolLM2 GGUF: open \(String(format: "%.3f", openTime)) s, dequantize+sum \(parameters) values "
              + "\(String(format: "%.3f", dequantizeTime)) s")
        XCTAssertEqual(parameters, 134_515_008)
        XCTAssertEqual(total, -10067.611953556538, accuracy: 1e-6)
    }
}
