import XCTest
import Foundation
import LoRAKit

/// Issue 12: an invalid or missing config.json / adapter_config.json used to surface as Foundation's
/// `Error Domain=NSCocoaErrorDomain Code=3840 "The data is not in the correct format."`, naming neither the file
/// nor the place. Now the error names the file, and for a syntax error its line and column.
final class ConfigFileErrorTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-json-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { [dir] in try? FileManager.default.removeItem(at: dir!) }
    }

    func write(_ name: String, _ text: String) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    func testInvalidJSONNamesFileLineAndColumn() throws {
        let adapter = try write("adapter_config.json", "{\n  \"r\": 8,\n  \"lora_alpha\": oops\n}\n")
        let config = try write("config.json", "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 64,,\n}\n")
        let a = message { _ = try LoRAConfig(contentsOf: adapter) }
        let c = message { _ = try ModelConfig(contentsOf: config) }
        XCTAssertTrue(a.hasPrefix("\(adapter.path):3:17: invalid JSON"), a)
        // The second comma of `64,,` (column 21) is where a key was expected.
        XCTAssertTrue(c.hasPrefix("\(config.path):3:21: invalid JSON"), c)
        for m in [a, c] { XCTAssertFalse(m.contains("NSCocoaErrorDomain"), m) }
    }

    func testEmptyTruncatedAndNonObjectFiles() throws {
        let empty = try write("empty.json", "")
        let truncated = try write("truncated.json", "{\"r\": 8")
        let array = try write("array.json", "[1, 2]")
        XCTAssertEqual(message { _ = try LoRAConfig(contentsOf: empty) }, "\(empty.path): invalid JSON: the file is empty")
        XCTAssertTrue(message { _ = try LoRAConfig(contentsOf: truncated) }.hasPrefix("\(truncated.path): invalid JSON"))
        XCTAssertEqual(message { _ = try ModelConfig(contentsOf: array) },
                       "\(array.path): expected a JSON object at the top level, found an array")
    }

    func testMissingFileIsNamed() {
        let missing = dir.appendingPathComponent("nope/adapter_config.json")
        XCTAssertEqual(message { _ = try LoRAConfig(contentsOf: missing) }, "\(missing.path): no such file")
        XCTAssertEqual(message { _ = try ModelConfig(contentsOf: missing) }, "\(missing.path): no such file")
    }

    /// Found by the configs fuzz harness (Tests/Fixtures/fuzz/configs-crash-f5478f31.json, kept as found): a whole
    /// number past Int.max for "r" trapped in Int(_:) ("Double value cannot be converted to Int").
    func testFuzzFoundHugeIntegerIsAnErrorNamingTheKey() throws {
        let found = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz/configs-crash-f5478f31.json")
        let m = message { _ = try LoRAConfig(contentsOf: found) }
        XCTAssertTrue(m.contains("configs-crash-f5478f31.json") && m.contains("\"r\"") && m.contains("expected an integer"), m)
        // Huge but whole lora_alpha values are written back without Int(_:) too.
        var config = LoRAConfig()
        config.loraAlpha = 1e300
        XCTAssertNoThrow(try config.jsonData())
    }
}
