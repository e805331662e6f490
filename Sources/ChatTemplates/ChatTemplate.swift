import Foundation

/// One chat turn. `extra` carries other fields a template may read (e.g. Alpaca's `input`).
public struct ChatMessage: Equatable {
    public var role: String
    public var content: String
    public var extra: [String: Value]

    public init(role: String, content: String, extra: [String: Value] = [:]) {
        self.role = role
        self.content = content
        self.extra = extra
    }

    var value: Value {
        .dictionary([("role", .string(role)), ("content", .string(content))] + extra.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }
}

/// A chat template, parsed once, rendered as transformers' apply_chat_template(tokenize=False) renders it: Jinja
/// with trim_blocks and lstrip_blocks, `messages`, `add_generation_prompt`, the special tokens, and extra variables.
public struct ChatTemplate {
    public let source: String
    let nodes: [Node]

    public init(source: String) throws {
        self.source = source
        var parser = TemplateParser(pieces: try Lexer.pieces(source))
        nodes = try parser.parse()
    }

    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, specialTokens: [String: String] = [:],
                       extra: [String: Value] = [:]) throws -> String {
        var globals: [String: Value] = ["messages": .array(messages.map(\.value)), "add_generation_prompt": .bool(addGenerationPrompt),
                                        "tools": .none, "documents": .none]
        for (k, v) in specialTokens { globals[k] = .string(v) }
        for (k, v) in extra { globals[k] = v }
        let evaluator = Evaluator(globals: globals)
        try evaluator.render(nodes)
        return evaluator.output
    }
}

/// Templates LoRAKit ships, each Jinja source rendered by the same engine.
public enum BuiltinTemplate: String, CaseIterable {
    case chatml, llama3, alpaca

    public init?(named name: String) { self.init(rawValue: name.lowercased()) }

    public var source: String {
        switch self {
        case .chatml:
            return "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
        case .llama3:
            return "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
        case .alpaca:
            // Stanford Alpaca's prompt: a user turn is the instruction (its `input` field, when non-empty, selects the
            // variant with "### Input:"), an assistant turn the response; a system turn replaces the preamble.
            return """
            {% set ns = namespace(system='', started=false) %}{% for message in messages %}{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\\n\\n' %}{% elif message['role'] == 'user' %}{% if not ns.started %}{% if ns.system %}{{ ns.system }}{% elif message['input'] is defined and message['input'] %}{{ 'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\\n\\n' }}{% else %}{{ 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\\n\\n' }}{% endif %}{% set ns.started = true %}{% endif %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}{% if message['input'] is defined and message['input'] %}{{ '### Input:\\n' + message['input'] + '\\n\\n' }}{% endif %}{{ '### Response:\\n' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}
            """
        }
    }

    public func template() throws -> ChatTemplate { try ChatTemplate(source: source) }
}
