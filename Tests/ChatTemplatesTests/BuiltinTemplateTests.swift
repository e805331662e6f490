import XCTest
import ChatTemplates

/// The built-ins' exact text (their jinja2 parity is in JinjaParityTests).
final class BuiltinTemplateTests: XCTestCase {
    func testNamesResolve() throws {
        XCTAssertEqual(BuiltinTemplate(named: "ChatML"), .chatml)
        XCTAssertEqual(BuiltinTemplate(named: "llama3"), .llama3)
        XCTAssertEqual(BuiltinTemplate(named: "alpaca"), .alpaca)
        XCTAssertNil(BuiltinTemplate(named: "vicuna"))
        for b in BuiltinTemplate.allCases { XCTAssertNoThrow(try b.template(), b.rawValue) }
    }

    func testChatML() throws {
        let out = try BuiltinTemplate.chatml.template().render(
            messages: [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "U")], addGenerationPrompt: true)
        XCTAssertEqual(out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n")
    }

    func testLlama3StripsContent() throws {
        let out = try BuiltinTemplate.llama3.template().render(
            messages: [ChatMessage(role: "user", content: "  Hi \n")], addGenerationPrompt: true,
            specialTokens: ["bos_token": "<|begin_of_text|>"])
        XCTAssertEqual(out, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                       + "<|start_header_id|>assistant<|end_header_id|>\n\n")
    }

    func testAlpacaWithAndWithoutInput() throws {
        let t = try BuiltinTemplate.alpaca.template()
        let plain = try t.render(messages: [ChatMessage(role: "user", content: "Do X."), ChatMessage(role: "assistant", content: "Done.")],
                                 addGenerationPrompt: false, specialTokens: ["eos_token": "</s>"])
        XCTAssertEqual(plain, "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
                       + "### Instruction:\nDo X.\n\n### Response:\nDone.</s>")
        let withInput = try t.render(messages: [ChatMessage(role: "user", content: "Sum.", extra: ["input": "1, 2"])],
                                     addGenerationPrompt: true)
        XCTAssertEqual(withInput, "Below is an instruction that describes a task, paired with an input that provides further context. "
                       + "Write a response that appropriately completes the request.\n\n### Instruction:\nSum.\n\n### Input:\n1, 2\n\n### Response:\n")
    }
}
