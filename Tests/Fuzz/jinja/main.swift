import ChatTemplates
import Foundation

let messages = [
    ChatMessage(role: "system", content: "Be brief."),
    ChatMessage(role: "user", content: "Hi {{ there }}"),
    ChatMessage(role: "assistant", content: "Hello."),
    ChatMessage(role: "user", content: "Bye"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let source = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let template = try? ChatTemplate(source: source) else { return 0 }
    _ = try? template.render(messages: messages, addGenerationPrompt: true,
                             specialTokens: ["bos_token": "<s>", "eos_token": "</s>"])
    return 0
}
