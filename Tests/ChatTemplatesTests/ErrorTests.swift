import XCTest
import ChatTemplates

/// Errors are typed and say where in the template they happened.
final class ErrorTests: XCTestCase {
    func testMissingEndTagNamesIt() {
        XCTAssertThrowsError(try ChatTemplate(source: "line one\n{% if x %}\nno end")) { error in
            XCTAssertTrue("\(error)".contains("endif"), "\(error)")
        }
    }

    func testSyntaxErrorHasLineAndColumn() {
        XCTAssertThrowsError(try ChatTemplate(source: "a\nb\n  {{ x + }}")) { error in
            guard case TemplateError.syntax(_, let at) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(at, SourceLocation(line: 3, column: 10))
        }
        XCTAssertThrowsError(try ChatTemplate(source: "{% frobnicate %}")) { error in
            guard case TemplateError.syntax(let message, let at) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("frobnicate"))
            XCTAssertEqual(at, SourceLocation(line: 1, column: 4))
        }
    }

    func testRaiseExceptionCarriesMessage() throws {
        let mistral = try ChatTemplate(source: "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                                       + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% endfor %}")
        XCTAssertThrowsError(try mistral.render(messages: [ChatMessage(role: "assistant", content: "x")], addGenerationPrompt: false)) { error in
            XCTAssertEqual(error as? TemplateError, .raised("Conversation roles must alternate user/assistant/user/assistant/..."))
        }
    }

    func testRuntimeErrorHasLocation() throws {
        let t = try ChatTemplate(source: "ok\n{{ 1 + 'a' }}")
        XCTAssertThrowsError(try t.render(messages: [], addGenerationPrompt: false)) { error in
            guard case TemplateError.runtime(_, let at) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(at.line, 2)
        }
    }

    func testValueConstruction() {
        let v: Value = ["a": 1, "b": [true, nil, 1.5, "s"]]
        XCTAssertEqual(v, .dictionary([("a", .int(1)), ("b", .array([.bool(true), .none, .double(1.5), .string("s")]))]))
        XCTAssertEqual(Value(["x": 1, "y": "z"] as [String: Any]), .dictionary([("x", .int(1)), ("y", .string("z"))]))
        XCTAssertEqual(Value(nil as Any?), .none)
    }

    func testStrftimeNowIsDefinedAndFormats() throws {
        let out = try ChatTemplate(source: "{{ strftime_now is defined }} {{ strftime_now('%Y') | length }}").render(messages: [], addGenerationPrompt: false)
        XCTAssertEqual(out, "True 4")
    }
}
