import XCTest
import LoRAKit

/// Issue 12, JSONL rows: hostile lines are errors that name the file and line (json-c keeps its own parse stack,
/// limited to 32 levels by default, so deep nesting cannot overflow ours).
final class JSONLLimitTests: XCTestCase {
    func error(_ text: String) -> String {
        do { _ = try JSONLReader.read(Data(text.utf8), name: "rows.jsonl"); return "no error" } catch { return "\(error)" }
    }

    func testDeepNestingAndInvalidUTF8AreLineErrors() {
        let deep = "{\"a\": " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        XCTAssertTrue(error("{\"ok\": 1}\n" + deep + "\n").hasPrefix("rows.jsonl:2: invalid JSON"), String(error(deep).prefix(200)))
        let bytes = Data("{\"ok\": 1}\n{\"text\": \"".utf8) + Data([0xC3, 0x28]) + Data("\"}\n".utf8)
        XCTAssertThrowsError(try JSONLReader.read(bytes, name: "rows.jsonl")) { XCTAssertTrue("\($0)".hasPrefix("rows.jsonl:2:"), "\($0)") }
        // Escaped NUL is valid JSON and is kept (length-aware strings).
        let rows = try? JSONLReader.read(Data("{\"text\": \"a\\u0000b\"}\n".utf8), name: "rows.jsonl").rows
        XCTAssertEqual(rows?.first?.value["text"], .string("a\u{0}b"))
    }

    /// Out-of-range numbers: a row (json-c saturates integers) or an error at line 1, never a trap.
    func testHugeNumbersDoNotTrap() {
        for number in ["1e999", "99999999999999999999999", "-9223372036854775809", "-1e999"] {
            let text = "{\"n\": \(number)}\n"
            do {
                let rows = try JSONLReader.read(Data(text.utf8), name: "rows.jsonl").rows
                XCTAssertEqual(rows.count, 1, number)
            } catch {
                XCTAssertTrue("\(error)".hasPrefix("rows.jsonl:1:"), "\(number): \(error)")
            }
        }
    }
}
