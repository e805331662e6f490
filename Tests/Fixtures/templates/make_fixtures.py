"""Renders chat templates with Python's jinja2 configured as transformers configures it
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, raise_exception, tojson with
ensure_ascii=False) and writes template + inputs + expected output to cases.json. A tool, not run by tests.
Usage: python3 make_fixtures.py SMOLLM2_TEMPLATE_FILE BUILTINS_JSON > cases.json"""
import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols

def raise_exception(message): raise ValueError(message)
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

templates = {"smollm2": open(sys.argv[1]).read()}
templates.update(json.load(open(sys.argv[2])))
templates["zephyr"] = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
templates["mistral"] = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
templates["qwen25"] = "{%- if messages[0]['role'] == 'system' %}\n    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n{%- else %}\n    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\") %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n"
templates["engine"] = "{% set ns = namespace(n=0, names=[]) %}\n  {% for m in messages if m.role != 'system' %}\n    {% set ns.n = ns.n + 1 %}{{ loop.index }}/{{ loop.length }}:{{ m['content'][:5] | upper }}{% if not loop.last %},{% endif %}\n  {% else %}none\n  {% endfor %}\n{{ ns.n }} {{ messages | length }} {{ (messages | map(attribute='role') | list) | tojson }} {{ messages[::-1][0].role }} {{ undefined_var is defined }} {{ 'x' ~ 3 ~ none }} {{ [1,2,3] | join('-') }} {{ {'a': 1, 'b': [true, none]} | tojson(indent=2) }}\n{%- for k, v in {'k1': 'v1'}.items() %} {{ k }}={{ v }}{% endfor %} {{ '  pad  '.strip() }}|{{ 7 // 2 }} {{ 7 % 3 }} {{ 2 * 3 + 1 }} {{ 'yes' if messages else 'no' }}"

conversations = {
    "system_user": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is the capital of France?"}],
    "user_only": [{"role": "user", "content": "Hi there!"}],
    "multi_turn": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "Times 3?"}],
    "unicode_newlines": [{"role": "user", "content": "Café — naïve\n日本語 🚀\n\n  indented"}, {"role": "assistant", "content": ""}],
    "alpaca_input": [{"role": "user", "content": "Translate to French.", "input": "Good morning"}, {"role": "assistant", "content": "Bonjour"}],
    "bad_order": [{"role": "assistant", "content": "I speak first"}, {"role": "user", "content": "no"}],
}
special = {"bos_token": "<s>", "eos_token": "</s>"}
cases = []
for tname, src in templates.items():
    t = env.from_string(src)
    for cname, msgs in conversations.items():
        for agp in (False, True):
            case = {"template": tname, "source": src, "conversation": cname, "messages": msgs, "add_generation_prompt": agp, "special_tokens": special}
            try:
                case["expected"] = t.render(messages=msgs, add_generation_prompt=agp, tools=None, documents=None, **special)
            except ValueError as e:
                case["error"] = str(e)
            cases.append(case)
json.dump(cases, sys.stdout, ensure_ascii=False, indent=1)
