"""The official openai client against `lorakit serve` (chat, streaming, models, completions).

usage: openai_client_check.py BASE_URL API_KEY BASE_MODEL ADAPTER EXPECTED_CHAT_FILE PROMPT MAX_TOKENS
EXPECTED_CHAT_FILE holds `lorakit generate --adapter … --chat --prompt PROMPT --max-tokens MAX_TOKENS` output
(greedy): the server's greedy chat answer must be the same text."""
import sys
import openai
from openai import OpenAI

base_url, key, base_model, adapter = sys.argv[1:5]
expected_path, PROMPT, MAX = sys.argv[5], sys.argv[6], int(sys.argv[7])
client = OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=120)

# /v1/models: the base, and every adapter with the base as parent.
models = {m.id: m for m in client.models.list().data}
assert base_model in models, f"base {base_model} not in {list(models)}"
assert adapter in models, f"adapter {adapter} not in {list(models)}"
assert getattr(models[adapter], "parent", None) == base_model, models[adapter]
assert getattr(models[base_model], "parent", "missing") is None, models[base_model]

# Chat, greedy: usage, finish_reason, and the same text as `lorakit generate --adapter --chat`.
chat = client.chat.completions.create(model=adapter, messages=[{"role": "user", "content": PROMPT}],
                                      max_tokens=MAX, temperature=0)
choice = chat.choices[0]
assert choice.message.role == "assistant"
assert choice.finish_reason in ("stop", "length"), choice.finish_reason
assert chat.usage.completion_tokens > 0 and chat.usage.prompt_tokens > 0, chat.usage
assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
expected = open(expected_path, encoding="utf-8").read()
expected = expected[:-1] if expected.endswith("\n") else expected
assert choice.message.content == expected, f"server {choice.message.content!r} != generate {expected!r}"

# Streaming: the chunks concatenate to the non-streamed answer; the usage chunk comes last.
stream = client.chat.completions.create(model=adapter, messages=[{"role": "user", "content": PROMPT}],
                                        max_tokens=MAX, temperature=0, stream=True,
                                        stream_options={"include_usage": True})
pieces, finish, usage = [], None, None
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for c in chunk.choices:
        if c.delta.content:
            pieces.append(c.delta.content)
        if c.finish_reason:
            finish = c.finish_reason
assert "".join(pieces) == choice.message.content, ("".join(pieces), choice.message.content)
assert finish == choice.finish_reason and usage and usage.completion_tokens == chat.usage.completion_tokens

# Sampling is seeded: the same seed repeats, stop strings cut the text.
a = client.chat.completions.create(model=base_model, messages=[{"role": "user", "content": PROMPT}], max_tokens=MAX,
                                   temperature=0.9, top_p=0.9, seed=7, extra_body={"top_k": 40})
b = client.chat.completions.create(model=base_model, messages=[{"role": "user", "content": PROMPT}], max_tokens=MAX,
                                   temperature=0.9, top_p=0.9, seed=7, extra_body={"top_k": 40})
assert a.choices[0].message.content == b.choices[0].message.content
full = choice.message.content
if len(full) > 4:
    stop = full[2:4]
    cut = client.chat.completions.create(model=adapter, messages=[{"role": "user", "content": PROMPT}],
                                         max_tokens=MAX, temperature=0, stop=[stop])
    assert cut.choices[0].message.content == full[:full.index(stop)], (cut.choices[0].message.content, full, stop)
    assert cut.choices[0].finish_reason == "stop"

# Completions, streamed and not.
comp = client.completions.create(model=adapter, prompt="2+3=", max_tokens=8, temperature=0)
assert comp.choices[0].text is not None and comp.usage.completion_tokens > 0
text = "".join(c.choices[0].text for c in client.completions.create(model=adapter, prompt="2+3=", max_tokens=8,
                                                                     temperature=0, stream=True) if c.choices)
assert text == comp.choices[0].text, (text, comp.choices[0].text)

# Errors surface as the client's typed exceptions.
try:
    client.chat.completions.create(model="no-such-adapter", messages=[{"role": "user", "content": "x"}], max_tokens=4)
    raise AssertionError("unknown model answered")
except openai.NotFoundError:
    pass
try:
    OpenAI(base_url=base_url + "/v1", api_key="wrong", max_retries=0).models.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError:
    pass
print("openai client: models, chat, streaming, seeded sampling, stop, completions, errors ok")
