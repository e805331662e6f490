/// Templates LoRAKit ships for models without one, each Jinja source rendered by the same engine.
public enum BuiltinTemplate: String, CaseIterable {
    /// ChatML: `<|im_start|>role\ncontent<|im_end|>\n` per message; generation prompt `<|im_start|>assistant\n`.
    case chatml
    /// Meta Llama 3 Instruct: `bos_token`, then `<|start_header_id|>role<|end_header_id|>\n\n` + stripped content +
    /// `<|eot_id|>` per message; generation prompt `<|start_header_id|>assistant<|end_header_id|>\n\n`.
    case llama3
    /// Stanford Alpaca. A user message's content is the instruction and its extra field `input` (when non-empty) the
    /// input, which selects the "paired with an input" preamble and adds an "### Input:" section; an assistant
    /// message's content is the response, followed by `eos_token`. A system message replaces the preamble.
    case alpaca

    /// The template called `name` (case-insensitive): "chatml", "llama3" or "alpaca".
    public init?(named name: String) { self.init(rawValue: name.lowercased()) }

    public var source: String {
        switch self {
        case .chatml:
            return """
            {% for message in messages %}
            {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' -}}
            {% endfor %}
            {% if add_generation_prompt %}
            {{- '<|im_start|>assistant\\n' -}}
            {% endif %}
            """
        case .llama3:
            return """
            {{- bos_token -}}
            {% for message in messages %}
            {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' -}}
            {% endfor %}
            {% if add_generation_prompt %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {% endif %}
            """
        case .alpaca:
            return """
            {% set ns = namespace(preamble='', started=false) %}
            {% for message in messages %}
                {% if message['role'] == 'system' %}
                    {% set ns.preamble = message['content'] + '\\n\\n' %}
                {% elif message['role'] == 'user' %}
                    {% set has_input = message['input'] is defined and message['input'] %}
                    {% if not ns.started %}
                        {% if ns.preamble %}
            {{ ns.preamble }}
                        {%- elif has_input %}
            {{ 'Below is an instruction that describes a task, paired with an input that provides further context. ' }}
            {{- 'Write a response that appropriately completes the request.\\n\\n' }}
                        {%- else %}
            {{ 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\\n\\n' }}
                        {%- endif %}
                        {% set ns.started = true %}
                    {% endif %}
            {{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}
                    {%- if has_input %}
            {{ '### Input:\\n' + message['input'] + '\\n\\n' }}
                    {%- endif %}
            {{ '### Response:\\n' }}
                {%- elif message['role'] == 'assistant' %}
            {{ message['content'] + eos_token }}
                {%- endif %}
            {% endfor %}
            """
        }
    }

    /// The parsed template.
    public func template() throws -> ChatTemplate { try ChatTemplate(source: source) }
}
