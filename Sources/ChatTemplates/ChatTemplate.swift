/// One chat turn. `extra` holds any other fields a template reads (Alpaca's `input`, `tool_calls`, `name`, …);
/// they appear in the template's message dict after `role` and `content`, in key order.
public struct ChatMessage: Equatable {
    public var role: String
    public var content: String
    public var extra: [String: Value]

    public init(role: String, content: String, extra: [String: Value] = [:]) {
        self.role = role
        self.content = content
        self.extra = extra
    }

    /// The message as the dict transformers passes to the template.
    public var value: Value {
        var pairs: [(String, Value)] = [("role", .string(role)), ("content", .string(content))]
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) {
            if let i = pairs.firstIndex(where: { $0.0 == key }) { pairs[i].1 = value } else { pairs.append((key, value)) }
        }
        return .dictionary(pairs)
    }
}

/// A chat template parsed once and rendered as transformers' `apply_chat_template(messages, tokenize=False,
/// add_generation_prompt:)` renders it: Jinja2 with trim_blocks and lstrip_blocks, the loop controls, and the
/// globals `raise_exception`, `strftime_now`, `range`, `namespace`, plus the `tojson` filter.
public struct ChatTemplate {
    /// The Jinja source, as given.
    public let source: String
    private let nodes: [Node]

    /// Parses `source`; throws `TemplateError.syntax` with the line and column of the fault.
    public init(source: String) throws {
        self.source = source
        var parser = try TemplateParser(source: source)
        nodes = try parser.parse()
    }

    /// Renders the conversation.
    /// - Parameters:
    ///   - specialTokens: `bos_token`, `eos_token`, … as the tokenizer spells them (transformers passes its
    ///     special_tokens_map).
    ///   - extra: further template variables (transformers' **kwargs, e.g. `date_string`, `tools`), which win over
    ///     the others.
    /// - Throws: `TemplateError.raised` when the template calls raise_exception, `.runtime` for other failures.
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, specialTokens: [String: String] = [:],
                       extra: [String: Value] = [:]) throws -> String {
        var variables: [String: Value] = ["messages": .array(messages.map(\.value)), "add_generation_prompt": .bool(addGenerationPrompt),
                                          "tools": .none, "documents": .none]
        for (name, token) in specialTokens { variables[name] = .string(token) }
        for (name, value) in extra { variables[name] = value }
        let evaluator = Evaluator(variables: variables)
        try evaluator.render(nodes)
        return evaluator.output
    }
}
