import Foundation
import ModelFormats
import XCTest

/// Reads the real all-MiniLM-L6-v2 checkpoint that scripts/fetch-models.sh puts in the model cache. Skipped when
/// the model is absent (CI runs the fetch script before testing).
final class MiniLMSafetensorsTests: XCTestCase {
    /// Expected values were printed once with Python `safetensors.safe_open(..., "np")` (float32 reprs) and are
    /// compared exactly.
    func testOpensTheCachedCheckpoint() throws {
        let cache = ProcessInfo.processInfo.environment["LORAKIT_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/lorakit").path
        let directory = URL(fileURLWithPath: cache).appendingPathComponent("models/minilm-l6")
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("\(directory.path)/model.safetensors not found; run scripts/fetch-models.sh")
        }
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        XCTAssertEqual(checkpoint.tensorNames.count, 104)
        XCTAssertEqual(checkpoint.files.first?.metadata, ["format": "pt"])
        let name = "embeddings.word_embeddings.weight"
        XCTAssertEqual(try checkpoint.info(name).dtype, .F32)
        XCTAssertEqual(try checkpoint.info(name).shape, [30522, 384])
        let values = try checkpoint.floats(name)
        XCTAssertEqual(Array(values[(101 * 384)..<(101 * 384 + 3)]), [-0.017619397, -0.0076005496, 0.047105543])
    }
}
