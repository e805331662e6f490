import XCTest
import Foundation
import ChatTemplates

/// Every case of Tests/Fixtures/templates/cases.json (rendered by Python's jinja2 configured as transformers
/// configures it; see make_fixtures.py) must render byte-identically, or raise the same exception message.
final class JinjaParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/templates")

    func testAllCasesMatchJinja2() throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("cases.json"))
        let cases = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        XCTAssertGreaterThan(cases.count, 50)
        var templates: [String: ChatTemplate] = [:]
        for c in cases {
            let name = c["template"] as! String, source = c["source"] as! String
            let template = try templates[name] ?? ChatTemplate(source: source)
            templates[name] = template
            let messages = (c["messages"] as! [[String: Any]]).map { m in
                ChatMessage(role: m["role"] as! String, content: m["content"] as! String,
                            extra: m.filter { $0.key != "role" && $0.key != "content" }.mapValues { Value($0) })
            }
            let label = "\(name)/\(c["conversation"]!)/agp=\(c["add_generation_prompt"]!)"
            do {
                let out = try template.render(messages: messages, addGenerationPrompt: c["add_generation_prompt"] as! Bool,
                                              specialTokens: c["special_tokens"] as! [String: String])
                if let error = c["error"] as? String { XCTFail("\(label): expected the error '\(error)', rendered \(out.debugDescription)"); continue }
                XCTAssertEqual(out, c["expected"] as? String, label)
            } catch TemplateError.raised(let message) {
                XCTAssertEqual(message, c["error"] as? String, label)
            }
        }
    }

    func testBuiltinsAreNamedAndParse() throws {
        for b in BuiltinTemplate.allCases { XCTAssertNoThrow(try b.template(), b.rawValue) }
        XCTAssertEqual(BuiltinTemplate(named: "ChatML"), .chatml)
    }

    func testSyntaxErrorsNameTheLine() {
        XCTAssertThrowsError(try ChatTemplate(source: "line one\n{% if x %}\nno end")) { error in
            XCTAssertTrue("\(error)".contains("endif"), "\(error)")
        }
        XCTAssertThrowsError(try ChatTemplate(source: "a\nb\n{{ x + }}")) { error in
            XCTAssertTrue("\(error)".contains("line 3"), "\(error)")
        }
    }
}
