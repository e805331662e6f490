import XCTest
import Foundation
import ChatTemplates

/// Byte-for-byte parity with Python's jinja2 3.1.6 configured as transformers configures it. Expected outputs come
/// from Tests/Fixtures/templates/make_fixtures.py; an expected error means the Swift side must throw.
final class JinjaParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/templates")

    static func load(_ name: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    /// Chat templates (SmolLM2 from its GGUF, Llama 3.1, Mistral, Zephyr, Qwen2.5, the built-ins) × conversations.
    func testChatTemplatesMatchJinja2() throws {
        let cases = try Self.load("cases.json")
        XCTAssertGreaterThan(cases.count, 150)
        var templates: [String: ChatTemplate] = [:]
        var checked = Set<String>()
        for c in cases {
            let name = c["template"] as! String
            let template = try templates[name] ?? ChatTemplate(source: c["source"] as! String)
            templates[name] = template
            let messages = (c["messages"] as! [[String: Any]]).map { m in
                ChatMessage(role: m["role"] as! String, content: m["content"] as! String,
                            extra: m.filter { $0.key != "role" && $0.key != "content" }.mapValues { Value($0) })
            }
            let extra = (c["extra"] as! [String: Any]).mapValues { Value($0) }
            let label = "\(name)/\(c["conversation"]!)/\(extra.keys.sorted())/agp=\(c["add_generation_prompt"]!)"
            do {
                let out = try template.render(messages: messages, addGenerationPrompt: c["add_generation_prompt"] as! Bool,
                                              specialTokens: c["special_tokens"] as! [String: String], extra: extra)
                if let error = c["error"] as? String { XCTFail("\(label): expected the error '\(error)', rendered \(out.debugDescription)"); continue }
                XCTAssertEqual(out, c["expected"] as? String, label)
            } catch TemplateError.raised(let message) {
                XCTAssertEqual(message, c["error"] as? String, label)
            }
            checked.insert(name)
        }
        XCTAssertEqual(checked, ["smollm2", "llama31", "mistral", "zephyr", "qwen25", "chatml", "llama3", "alpaca"])
    }

    /// One engine feature per case: whitespace control, loops, filters, tests, namespace, slices, undefined, …
    func testEngineCasesMatchJinja2() throws {
        for c in try Self.load("engine.json") {
            let name = c["name"] as! String
            let variables = (c["variables"] as! [String: Any]).mapValues { Value($0) }
            do {
                let out = try ChatTemplate(source: c["source"] as! String).render(messages: [], addGenerationPrompt: false, extra: variables)
                if let error = c["error"] as? String { XCTFail("\(name): expected the error '\(error)', rendered \(out.debugDescription)"); continue }
                XCTAssertEqual(out, c["expected"] as? String, name)
            } catch {
                guard let expected = c["error"] as? String else { XCTFail("\(name): \(error)"); continue }
                if case TemplateError.raised(let message) = error { XCTAssertEqual(message, expected, name) }
            }
        }
    }
}
