import XCTest
import LoRAKit

/// Issue 12: hostile YAML must stop with a located error, quickly, in `validate` and `train` (both read recipes
/// through Recipe.parse).
final class YAMLLimitTests: XCTestCase {
    let file = URL(fileURLWithPath: "/tmp/hostile.yaml")

    func message(_ text: String, overrides: [String] = []) -> String {
        do { _ = try Recipe.parse(text, file: file, overrides: overrides); return "no error" } catch { return "\(error)" }
    }

    /// Nine anchors, each ten aliases of the one before: 10⁹ nodes once expanded (it took 24 GB and was killed).
    func testBillionLaughsIsRefusedQuickly() {
        var text = "a0: &a0 [lol]\n"
        for i in 1...9 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        text += "model: x\n"
        let start = Date()
        let error = message(text)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertTrue(error.hasPrefix("/tmp/hostile.yaml:"), error)
        XCTAssertTrue(error.contains("aliases expand to more than 100000"), error)
    }

    /// 100k-deep nesting overflowed the stack in Yams's recursive composer (SIGSEGV), in both styles.
    func testDeepNestingIsRefusedWithoutOverflowingTheStack() {
        for text in [String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000),
                     String(repeating: "- ", count: 100_000) + "x\n",
                     String(repeating: "{a: ", count: 100_000) + "b" + String(repeating: "}", count: 100_000)] {
            let error = message(text)
            XCTAssertTrue(error.contains("nested more than 64 levels"), String(error.prefix(300)))
            XCTAssertTrue(error.hasPrefix("/tmp/hostile.yaml:1:"), String(error.prefix(300)))
        }
    }

    /// A --set value is YAML too.
    func testOverrideValuesHaveTheSameLimits() {
        let error = message("model: x\n", overrides: ["lora.r=" + String(repeating: "[", count: 5000)])
        XCTAssertTrue(error.contains("nested more than 64 levels"), error)
    }

    /// Ordinary anchors and moderate nesting are still fine: the limits are far above what a recipe needs.
    func testOrdinaryAliasesAndNestingStillParse() throws {
        let nested = String(repeating: "[", count: 30) + "1" + String(repeating: "]", count: 30)
        let text = "x-common: &c {r: 8}\nmodel: m\nlora: *c\nx-deep: \(nested)\n"
        let node = try RecipeNode.parse(text, file: "ok.yaml")
        guard case .map(let pairs, _) = node else { return XCTFail("\(node)") }
        XCTAssertEqual(pairs.map(\.key), ["x-common", "model", "lora", "x-deep"])
    }
}
