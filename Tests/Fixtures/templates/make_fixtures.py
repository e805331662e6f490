"""Renders chat templates and engine snippets with Python's jinja2, configured as transformers configures it
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, raise_exception, tojson with
ensure_ascii=False), and writes template + inputs + expected output (or error message) as JSON:
  cases.json   chat templates x conversations, with and without add_generation_prompt
  engine.json  small templates exercising one engine feature each, with their variables
A tool for maintainers, not run by the tests:  python3 make_fixtures.py
smollm2.jinja is read from the GGUF metadata key tokenizer.chat_template of SmolLM2-135M-Instruct when that model
is in ~/.cache/lorakit; the built-in templates are read out of Sources/ChatTemplates/BuiltinTemplate.swift."""
import json, os, re, struct, pathlib
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]

def raise_exception(message):
    raise ValueError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' definition (utils/chat_template_utils.py)
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

def gguf_chat_template(path):
    """tokenizer.chat_template from a GGUF file's metadata (GGUF v3: little-endian, u64 lengths)."""
    with open(path, "rb") as f:
        magic, version, n_tensors, n_kv = struct.unpack("<4sIQQ", f.read(24))
        assert magic == b"GGUF", path
        def read_str():
            (n,) = struct.unpack("<Q", f.read(8)); return f.read(n).decode()
        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
        def skip(t):
            if t == 8: read_str()
            elif t == 9:
                et, n = struct.unpack("<IQ", f.read(12))
                for _ in range(n): skip(et)
            else: f.read(sizes[t])
        for _ in range(n_kv):
            key = read_str(); (t,) = struct.unpack("<I", f.read(4))
            if key == "tokenizer.chat_template" and t == 8: return read_str()
            skip(t)
    raise KeyError("tokenizer.chat_template")

def swift_builtins():
    src = (ROOT / "Sources/ChatTemplates/BuiltinTemplate.swift").read_text()
    out = {}
    for name in ("chatml", "llama3", "alpaca"):
        m = re.search(r'case \.' + name + r':\n\s*return """\n(.*?)\n( *)"""', src, re.S)
        indent = len(m.group(2))
        body = "\n".join(line[indent:] for line in m.group(1).split("\n"))
        out[name] = body.replace("\\\\", "\\")
    return out

gguf = os.path.expanduser("~/.cache/lorakit/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
if os.path.exists(gguf):
    (HERE / "smollm2.jinja").write_text(gguf_chat_template(gguf))

templates = {name: (HERE / f"{name}.jinja").read_text() for name in ("smollm2", "llama31", "mistral", "zephyr", "qwen25")}
templates.update(swift_builtins())

def sorted_keys(x):
    """Swift builds dicts from JSON with sorted keys (Swift dictionaries have no order), so inputs use that order."""
    if isinstance(x, dict): return {k: sorted_keys(x[k]) for k in sorted(x)}
    if isinstance(x, list): return [sorted_keys(v) for v in x]
    return x

def msg(role, content, **extra):
    # The order ChatMessage.value uses: role, content, then extra fields by key.
    d = {"role": role, "content": content}
    for k in sorted(extra): d[k] = sorted_keys(extra[k])
    return d

weather_tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city"}}, "required": ["city"]}}}
weather_tool = sorted_keys(weather_tool)
tool_call = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}

conversations = {
    "system_user": [msg("system", "You are terse."), msg("user", "What is the capital of France?")],
    "user_only": [msg("user", "Hi there!")],
    "multi_turn": [msg("user", "2+2?"), msg("assistant", "4"), msg("user", "Times 3?")],
    "system_multi_turn": [msg("system", "  Be kind.  "), msg("user", "Hello"), msg("assistant", "Hi! How can I help?"), msg("user", "Tell me a joke.")],
    "unicode_newlines": [msg("user", "Café — naïve\n日本語 🚀\n\n  indented\ttab"), msg("assistant", "Réponse: \"quoted\" and 'single'\n")],
    "empty_content": [msg("user", ""), msg("assistant", "")],
    "alpaca_input": [msg("user", "Translate to French.", input="Good morning"), msg("assistant", "Bonjour")],
    "alpaca_empty_input": [msg("user", "Name a color.", input=""), msg("assistant", "Blue")],
    "bad_order": [msg("assistant", "I speak first"), msg("user", "no")],
    "tool_call": [msg("user", "Weather in Paris?"), msg("assistant", "", tool_calls=[tool_call]), msg("tool", "{\"temp\": 21}"), msg("tool", "sunny")],
}
# (template, conversation) pairs whose inputs the template does not handle: skipped.
skip = {("llama31", "empty_content"), ("alpaca", "tool_call"), ("chatml", "tool_call"), ("llama3", "tool_call"),
        ("smollm2", "tool_call"), ("zephyr", "tool_call"), ("mistral", "tool_call")}
extras = {
    "plain": {},
    "tools": {"tools": [weather_tool]},
    "date": {"date_string": "03 Mar 2025", "tools_in_user_message": False, "tools": [weather_tool]},
}
special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

def render(source, **variables):
    try:
        return {"expected": env.from_string(source).render(**variables)}
    except ValueError as e:
        return {"error": str(e)}

cases = []
for tname, src in templates.items():
    for cname, msgs in conversations.items():
        if (tname, cname) in skip: continue
        for ename, extra in extras.items():
            if ename != "plain" and tname not in ("llama31", "qwen25"): continue
            if ename == "date" and tname != "llama31": continue
            for agp in (False, True):
                case = {"template": tname, "source": src, "conversation": cname, "messages": msgs, "extra": extra,
                        "add_generation_prompt": agp, "special_tokens": special}
                variables = {"messages": msgs, "add_generation_prompt": agp, "tools": None, "documents": None}
                case.update(render(src, **{**variables, **special, **extra}))
                cases.append(case)

# Engine snippets: (name, source, variables). Dicts in variables must have sorted keys (Swift's Value(Any) sorts).
engine = [
    ("whitespace_dash", "a  {{- 'b' -}}  c\n  {%- if true -%}  d  {%- endif -%}\n e", {}),
    ("trim_lstrip", "<ul>\n    {% for x in xs %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>\n", {"xs": [1, 2]}),
    ("lstrip_plus", "  {%+ if true %}x{% endif %}\n  {# comment #}\ny", {}),
    ("trailing_newline", "Hello\n", {}),
    ("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc", {}),
    ("comment_trim", "a\n{# c #}\nb {#- d -#} c", {}),
    ("loop_vars", "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}", {"xs": ["a", "b", "c"]}),
    ("loop_filter_else", "{% for x in xs if x > 1 %}{{ x }}/{{ loop.length }} {% else %}none{% endfor %}|{% for x in [] %}{% else %}empty{% endfor %}", {"xs": [1, 2, 3]}),
    ("loop_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}{% for k, v in d | items %}{{ k }}{% endfor %}{% for k in d %}{{ k }}{% endfor %}", {"d": {"a": 1, "b": [1, 2]}}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loop_scope", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", {}),
    ("set_block", "{% set greeting %}Hi {{ name }}!{% endset %}[{{ greeting }}]", {"name": "Ann"}),
    ("set_tuple", "{% set a, b = 1, 'two' %}{{ a }}{{ b }}", {}),
    ("slices", "{{ xs[1:] }}{{ xs[:-1] }}{{ xs[::-1] }}{{ xs[::2] }}{{ s[1:3] }}{{ s[::-1] }}{{ xs[-1] }}{{ xs[10:] }}", {"xs": [1, 2, 3, 4], "s": "hello"}),
    ("undefined", "[{{ nope }}][{{ nope | default('dflt') }}][{{ nope is defined }}][{{ nope is undefined }}][{% for x in nope %}x{% endfor %}][{{ nope | length }}][{% if nope %}t{% else %}f{% endif %}][{{ d.missing }}][{{ d['missing'] is defined }}][{{ nope ~ 'x' }}]", {"d": {}}),
    ("undefined_attribute_error", "{{ nope.attr }}", {}),
    ("literals", "{{ 'a\\tb\\n' }}{{ \"q'\" }}{{ 1 }}{{ 1.5 }}{{ 2.0 }}{{ true }}{{ True }}{{ none }}{{ None }}{{ [1, 'a', none, true] }}{{ {'k': 'v', 'n': 1.0} }}{{ 'adj' 'acent' }}{{ '\\u00e9\\x41' }}", {}),
    ("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 * 3 + 1 }} {{ 1 + 2.5 }} {{ -3 }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 'n' ~ 1 * 2 }}", {}),
    ("concat_binds_tighter_than_plus", "{{ 1 ~ 2 + 3 }}", {}),
    ("comparisons", "{{ 1 < 2 }}{{ 'a' < 'b' }}{{ 1 == 1.0 }}{{ 'x' in 'xyz' }}{{ 2 not in [1, 3] }}{{ 'k' in d }}{{ not 0 }}{{ 1 and 'yes' }}{{ 0 or 'no' }}{{ none or '' }}", {"d": {"k": 1}}),
    ("ternary", "{{ 'a' if x else 'b' }}{{ 'c' if not x }}|{{ 'd' if x }}", {"x": True}),
    ("tests", "{{ 'a' is string }}{{ 1 is number }}{{ 1.5 is number }}{{ d is mapping }}{{ xs is iterable }}{{ xs is sequence }}{{ 's' is iterable }}{{ none is none }}{{ true is true }}{{ false is false }}{{ 1 is true }}{{ d is iterable }}{{ 3 is odd }}{{ 4 is even }}{{ 6 is divisibleby 3 }}{{ 1 is not string }}", {"d": {"a": 1}, "xs": [1]}),
    ("string_filters", "{{ '  x  ' | trim }}|{{ 'hello world' | title }}|{{ \"they're-here (now)\" | title }}|{{ 'hELLO' | capitalize }}|{{ 'abc' | upper }}{{ 'ABC' | lower }}|{{ 'a-b-a' | replace('a', 'x') }}|{{ 'abc' | length }}|{{ 'abc' | reverse }}|{{ 42 | string }}{{ '3' | int + 1 }}{{ '2.5' | float }}{{ 'x' | int }}{{ -3 | abs }}{{ 2.567 | round(2) }}{{ 2.5 | round }}", {}),
    ("list_filters", "{{ xs | join(', ') }}|{{ xs | first }}{{ xs | last }}|{{ xs | length }}{{ xs | count }}|{{ xs | reverse | list }}|{{ ['b', 'A', 'a', 'c'] | unique | list }}|{{ ['b', 'A', 'c'] | sort }}|{{ [3, 1, 2] | sort(reverse=true) }}|{{ 'abc' | list }}|{{ [1, 2] | sum }}", {"xs": [3, 1, 2]}),
    ("select_map", "{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|{{ ms | rejectattr('role', 'equalto', 'user') | list | length }}|{{ ms | map(attribute='role') | unique | list }}|{{ [1, 0, 2] | select | list }}|{{ ['a', 'code', 'b'] | reject('equalto', 'code') | list }}|{{ ms | selectattr('flag') | list | length }}|{{ ['a ', ' b'] | map('trim') | list }}", {"ms": [{"content": "u1", "role": "user"}, {"content": "a1", "flag": True, "role": "assistant"}, {"content": "u2", "role": "user"}]}),
    ("tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}|{{ [] | tojson(indent=2) }}|{{ none | tojson }}|{{ 1.5 | tojson }}", {"d": {"a": [1, True, None], "b": {"c": "ü"}, "e": {}}}),
    ("string_methods", "{{ '  x '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  x'.lstrip() }}|{{ 'x  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('bc') }}{{ 'abc'.startswith(('x', 'a')) }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ \"hello wORLD it's\".title() }}|{{ 'a b c'.split(' ', 1) }}", {}),
    ("dict_methods", "{{ d.keys() | list }}{{ d.values() | list }}{{ d.get('a') }}{{ d.get('z') }}{{ d.get('z', 'dflt') }}{{ d['a'] }}{{ d.a }}", {"d": {"a": 1, "b": 2}}),
    ("macro", "{% macro tag(name, body='x') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}{{ tag('a') }}{{ tag('b', 'y') }}{{ tag('c', body='z') }}", {}),
    ("raise", "{% if true %}{{ raise_exception('Bad ' ~ 'thing') }}{% endif %}", {}),
    ("str_of_values", "{{ [1.0, 'a\\'b', \"c\", {'k': none}] }}{{ 10 / 4 }}{{ 1e3 }}", {}),
    ("filters_precedence", "{{ -3 | abs }} {{ 'a' ~ 'b' | upper }} {{ 1 + 2 | string }}", {}),
]
engine_cases = []
for name, src, variables in engine:
    case = {"name": name, "source": src, "variables": variables}
    try:
        case["expected"] = env.from_string(src).render(**variables)
    except ValueError as e:
        case["error"] = str(e)
    except Exception as e:  # jinja2 errors: the Swift side must throw too
        case["error"] = type(e).__name__ + ": " + str(e)
    engine_cases.append(case)

(HERE / "cases.json").write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n")
(HERE / "engine.json").write_text(json.dumps(engine_cases, ensure_ascii=False, indent=1) + "\n")
print(len(cases), "cases,", len(engine_cases), "engine cases")
