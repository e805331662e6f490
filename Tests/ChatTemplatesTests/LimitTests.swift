import XCTest
import ChatTemplates

/// Issue 12: a chat template comes from a model's files, so a hostile one must end in a TemplateError, never a
/// stack overflow, an integer-overflow trap, a huge allocation or a hang.
final class LimitTests: XCTestCase {
    func render(_ source: String) throws -> String {
        try ChatTemplate(source: source).render(messages: [ChatMessage(role: "user", content: "hi")], addGenerationPrompt: false)
    }

    func assertError(_ source: String, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try render(source), file: file, line: line) { error in
            XCTAssertTrue(error is TemplateError && "\(error)".contains(text), String("\(error)".prefix(300)), file: file, line: line)
        }
    }

    func testDeeplyNestedExpressionsAndBlocksAreSyntaxErrors() {
        assertError("{{ " + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000) + " }}",
                    contains: "nested more than 64")
        assertError("{{ " + String(repeating: "[", count: 100_000) + " }}", contains: "nested more than 64")
        assertError("{{ " + String(repeating: "-", count: 100_000) + "1 }}", contains: "nested more than 64")
        assertError(String(repeating: "{% if true %}", count: 100_000), contains: "blocks nested more than 64")
        assertError("{{ 1" + String(repeating: " + 1", count: 100_000) + " }}", contains: "more than 512 operators")
        assertError("{{ x" + String(repeating: ".a", count: 100_000) + " }}", contains: "more than 512 operators")
        assertError("{{ " + String(repeating: "not ", count: 100_000) + "x }}", contains: "more than 512 operators")
    }

    func testIntegerOverflowIsAnErrorNotATrap() {
        assertError("{{ 9223372036854775807 + 1 }}", contains: "integer overflow in '+'")
        assertError("{{ -9223372036854775807 - 2 }}", contains: "integer overflow in '-'")
        assertError("{{ 4294967296 * 4294967296 }}", contains: "integer overflow in '*'")
        assertError("{{ 3 ** 100 }}", contains: "integer overflow in '**'")
        assertError("{{ (-9223372036854775807 - 1) // -1 }}", contains: "integer overflow in '//'")
        XCTAssertEqual(try render("{{ (-9223372036854775807 - 1) % -1 }}|{{ 2 ** 62 }}|{{ 7 // -2 }}"), "0|4611686018427387904|-4")
    }

    func testHugeProductsAreRefusedBeforeAllocating() {
        assertError("{{ 'abc' * 1000000000000 }}", contains: "would build more than")
        assertError("{{ [1, 2] * 9223372036854775807 }}", contains: "would build more than")
        assertError("{% for i in range(1000000000000) %}{% endfor %}", contains: "range() of more than")
        assertError("{% for i in range(-9223372036854775807, 9223372036854775807) %}{% endfor %}", contains: "range() of more than")
        XCTAssertEqual(try render("{{ 'ab' * 3 }}{% for i in range(3) %}{{ i }}{% endfor %}"), "ababab012")
    }

    func testRunawayLoopsAndRecursiveMacrosStop() {
        assertError("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
                    contains: "more than 1000000 loop iterations")
        assertError("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", contains: "macros nested more than 64")
    }

    /// Python's int() and abs() and unary minus have unbounded integers; ours are 64-bit, so these are errors,
    /// not Int(_:) or negation traps.
    func testIntFilterAbsAndNegationOutOfRange() {
        assertError("{{ 1e300 | int }}", contains: "does not fit 64 bits")
        assertError("{{ '1e300' | int }}", contains: "does not fit 64 bits")
        assertError("{{ (-9223372036854775807 - 1) | abs }}", contains: "integer overflow in abs()")
        assertError("{{ -(-9223372036854775807 - 1) }}", contains: "integer overflow in unary '-'")
        XCTAssertEqual(try render("{{ 2.9 | int }}|{{ '-7.5' | int }}|{{ -5 | abs }}|{{ -(-3) }}"), "2|-7|5|3")
    }
}
