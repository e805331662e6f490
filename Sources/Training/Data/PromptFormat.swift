import ChatTemplates

/// Renders a conversation to text: a chat template (chatml, llama3, the model's own, a custom one).
/// `addGenerationPrompt` appends the header of the next assistant turn, as in transformers.
public typealias ChatRenderer = @Sendable (_ messages: [ChatMessage], _ addGenerationPrompt: Bool) throws -> String

/// How rows become text: the Alpaca prompt, or a chat template applied to messages.
public enum PromptFormat: Sendable {
    /// Stanford Alpaca's prompt; the response is followed by the tokenizer's EOS.
    case alpaca
    /// A chat template; alpaca and completion rows become a user turn and an assistant turn.
    case chat(ChatRenderer)

    /// Stanford Alpaca's prompt for an instruction and an optional input (text up to "### Response:\n"): the user
    /// turn of the built-in Jinja template (`BuiltinTemplate.alpaca`), the one definition of the format.
    public static func alpacaPrompt(instruction: String, input: String) throws -> String {
        let user = ChatMessage(role: "user", content: instruction, extra: input.isEmpty ? [:] : ["input": .string(input)])
        return try alpacaTemplate.get().render(messages: [user], addGenerationPrompt: true)
    }

    /// Parsed once: the source is a constant, so the result never changes.
    private static let alpacaTemplate = Result { try BuiltinTemplate.alpaca.template() }
}

/// A piece of a formatted example: text and whether its tokens are trained on.
public struct TextSegment: Equatable, Sendable {
    public var text: String
    /// A response (assistant turn, completion, output): labels kept. A prompt: labels −100 under sft masking.
    public var isResponse: Bool
    public init(_ text: String, isResponse: Bool) {
        self.text = text
        self.isResponse = isResponse
    }
}

/// A row turned into text segments (or text and a class for classification).
public struct FormattedExample: Sendable {
    public var segments: [TextSegment]
    /// Whether the text came from a chat template (which writes its own BOS/EOS tokens as text).
    public var templated: Bool
    /// Classification rows: the class index.
    public var classLabel: Int?
    /// file:line, for errors and the preprocess view.
    public var origin: String
}

/// A row that does not have what its dataset type needs.
public struct DatasetRowError: Error, CustomStringConvertible, Equatable {
    public var origin: String
    public var reason: String
    public var description: String { "\(origin): \(reason)" }
}

/// Turns dataset rows into segments.
public struct ExampleFormatter: Sendable {
    public var format: PromptFormat
    /// Classification: label names in class order; a row's label may be a name or an index.
    public var classNames: [String]

    public init(format: PromptFormat, classNames: [String] = []) {
        self.format = format
        self.classNames = classNames
    }

    public func format(_ row: DatasetRow) throws -> FormattedExample {
        let origin = "\(row.source):\(row.line)"
        func string(_ role: String, required: Bool) throws -> String {
            let field = row.spec.field(role)
            switch row.value.value(atPath: field) {
            case .string(let s)?: return s
            case nil, .null?:
                if required { throw DatasetRowError(origin: origin, reason: "missing field \"\(field)\" (\(role), a string)") }
                return ""
            case let other?:
                throw DatasetRowError(origin: origin, reason: "field \"\(field)\" should be a string, found \(other.typeName)")
            }
        }
        switch row.type {
        case .alpaca:
            let (instruction, input, output) = (try string("instruction", required: true), try string("input", required: false),
                                                try string("output", required: true))
            switch format {
            case .alpaca:
                return FormattedExample(segments: [TextSegment(try PromptFormat.alpacaPrompt(instruction: instruction, input: input), isResponse: false),
                                                   TextSegment(output, isResponse: true)], templated: false, origin: origin)
            case .chat(let render):
                let user = input.isEmpty ? instruction : "\(instruction)\n\n\(input)"
                return try chatSegments([ChatMessage(role: "user", content: user), ChatMessage(role: "assistant", content: output)],
                                        render: render, origin: origin)
            }
        case .completion:
            let (prompt, completion) = (try string("prompt", required: true), try string("completion", required: true))
            return FormattedExample(segments: [TextSegment(prompt, isResponse: false), TextSegment(completion, isResponse: true)],
                                    templated: false, origin: origin)
        case .text:
            return FormattedExample(segments: [TextSegment(try string("text", required: true), isResponse: true)], templated: false, origin: origin)
        case .chat:
            guard case .chat(let render) = format else {
                throw DatasetRowError(origin: origin, reason: "chat rows need a chat template (template: chatml, llama3, model or custom text), not alpaca")
            }
            let field = row.spec.field("messages")
            guard let list = row.value.value(atPath: field)?.arrayValue else {
                throw DatasetRowError(origin: origin, reason: "field \"\(field)\" should be a list of {\(row.spec.field("role")), \(row.spec.field("content"))} objects")
            }
            let turns = try list.enumerated().map { i, m -> ChatMessage in
                guard let role = m.value(atPath: row.spec.field("role"))?.stringValue,
                      let content = m.value(atPath: row.spec.field("content"))?.stringValue else {
                    throw DatasetRowError(origin: origin, reason: "\(field)[\(i)] should have string fields \"\(row.spec.field("role"))\" and \"\(row.spec.field("content"))\"")
                }
                return ChatMessage(role: role, content: content)
            }
            return try chatSegments(turns, render: render, origin: origin)
        case .classification:
            let text = try string("text", required: true)
            let field = row.spec.field("label")
            let label: Int
            switch row.value.value(atPath: field) {
            case .int(let i)?: label = Int(i)
            case .string(let s)?:
                guard let i = classNames.firstIndex(of: s) else {
                    throw DatasetRowError(origin: origin, reason: "label \"\(s)\" is not one of the recipe's labels \(classNames)")
                }
                label = i
            default: throw DatasetRowError(origin: origin, reason: "field \"\(field)\" should be a class index or a label name")
            }
            if !classNames.isEmpty && !(0..<classNames.count).contains(label) {
                throw DatasetRowError(origin: origin, reason: "label \(label) is outside 0..<\(classNames.count)")
            }
            return FormattedExample(segments: [TextSegment(text, isResponse: false)], templated: false, classLabel: label, origin: origin)
        }
    }

    /// Splits a rendered conversation at turn boundaries by rendering growing prefixes: the text each assistant turn
    /// adds after its generation prompt is a response; everything else (system, user, headers) is prompt.
    func chatSegments(_ turns: [ChatMessage], render: ChatRenderer, origin: String) throws -> FormattedExample {
        guard turns.contains(where: { $0.role == "assistant" }) else {
            throw DatasetRowError(origin: origin, reason: "the conversation has no assistant turn to train on")
        }
        var segments: [TextSegment] = []
        var done = ""
        func append(_ full: String, isResponse: Bool) throws {
            guard full.hasPrefix(done) else {
                throw DatasetRowError(origin: origin, reason: "the chat template does not render conversations prefix by prefix, so turns cannot be masked")
            }
            let piece = String(full.dropFirst(done.count))
            if !piece.isEmpty { segments.append(TextSegment(piece, isResponse: isResponse)) }
            done = full
        }
        for i in turns.indices {
            if turns[i].role == "assistant" { try append(try render(Array(turns[..<i]), true), isResponse: false) }
            try append(try render(Array(turns[...i]), false), isResponse: turns[i].role == "assistant")
        }
        return FormattedExample(segments: segments, templated: true, origin: origin)
    }
}
