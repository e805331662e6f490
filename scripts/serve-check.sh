#!/usr/bin/env bash
# Integration check of `lorakit serve` with real clients on an ephemeral loopback port (127.0.0.1 only):
#  - the official openai Python client (chat, streaming, models, completions, seeded sampling, stop, typed errors),
#    with the greedy chat answer equal to `lorakit generate --adapter … --chat`;
#  - curl for the rest: /health, /metrics, 401 without the key, malformed JSON, unknown model, max_tokens out of
#    range, prompt over the context (OpenAI-style JSON errors, server still serving), adapter hot load (a mismatched
#    one refused with 400 and the reason) and unload, 429 on a full queue, SIGTERM finishing requests in flight;
#  - the same greedy equality on SmolLM2 with its PEFT adapter when the model is in the cache, and 100 mixed
#    requests (malformed ones included) through `lorakit bench serve --mixed`.
# Python: the interop venv (.venv-interop, or INTEROP_VENV), with `openai` installed into it when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
lorakit=${LORAKIT:-.build/release/lorakit}
venv=${INTEROP_VENV:-.venv-interop}
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python" -c "import openai" 2>/dev/null || "$venv/bin/pip" install -q openai
py="$venv/bin/python"
fixtures=Tests/Fixtures/serving
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "serve-check: FAIL: $*" >&2; exit 1; }
key=serve-check-key

# start NAME ARGS…: runs `lorakit serve --port 0 ARGS…` and sets url / pid once it prints its port.
start() {
    local name=$1; shift
    "$lorakit" serve --port 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 600); do
        if grep -q "on http://127.0.0.1:" "$work/$name.out" 2>/dev/null; then break; fi
        kill -0 "$pid" 2>/dev/null || { cat "$work/$name.err" >&2; fail "$name server exited at start"; }
        sleep 0.1
    done
    url=$(grep -o "http://127.0.0.1:[0-9]*" "$work/$name.out" | head -1)
    [ -n "$url" ] || fail "$name server printed no address"
}

# expect STATUS CURL-ARGS…: the status code must match and an error body must be OpenAI-shaped.
expect() {
    local want=$1; shift
    local got
    got=$(curl -s -o "$work/body" -w "%{http_code}" "$@")
    [ "$got" = "$want" ] || fail "wanted $want, got $got for $* : $(head -c 300 "$work/body")"
    if [ "$want" -ge 400 ]; then
        "$py" -c "import json,sys; e=json.load(open(sys.argv[1]))['error']; assert e['message'] and e['type'], e" "$work/body" \
            || fail "error body not OpenAI-shaped: $(head -c 300 "$work/body")"
    fi
}

# --- tiny fixture: every endpoint ---
start tiny --model $fixtures/tiny-llama --served-model-name tiny --adapter-dir $fixtures --max-loaded-adapters 2 --api-key $key
auth=(-H "Authorization: Bearer $key")
json=(-H "Content-Type: application/json")
# The tiny model's context is 64 tokens (bytes); ChatML takes 52 of them around "Hi".
# The tiny model ships no chat template; the server then renders chats with chatml, so generate is told the same.
"$lorakit" generate --model $fixtures/tiny-llama --adapter $fixtures/adapter-a --chat --template chatml --prompt "Hi" \
    --max-tokens 10 >"$work/expected-tiny.txt" 2>/dev/null
"$py" scripts/serving/openai_client_check.py "$url" $key tiny adapter-a "$work/expected-tiny.txt" "Hi" 10

expect 200 "$url/health"
expect 401 "$url/v1/models"
expect 401 "$url/v1/chat/completions" "${json[@]}" -H "Authorization: Bearer nope" -d '{"model":"tiny","messages":[{"role":"user","content":"x"}]}'
expect 400 "$url/v1/chat/completions" "${auth[@]}" "${json[@]}" -d '{"model": "tiny", "messages": ['
expect 400 "$url/v1/chat/completions" "${auth[@]}" "${json[@]}" -d '[1, 2]'
expect 404 "$url/v1/chat/completions" "${auth[@]}" "${json[@]}" -d '{"model":"nope","messages":[{"role":"user","content":"x"}]}'
expect 400 "$url/v1/chat/completions" "${auth[@]}" "${json[@]}" -d '{"model":"tiny","max_tokens":0,"messages":[{"role":"user","content":"x"}]}'
expect 400 "$url/v1/completions" "${auth[@]}" "${json[@]}" -d '{"model":"tiny","max_tokens":100000,"prompt":"x"}'
expect 400 "$url/v1/completions" "${auth[@]}" "${json[@]}" -d '{"model":"tiny","temperature":"hot","prompt":"x"}'
long=$(printf 'a%.0s' $(seq 1 80))
expect 400 "$url/v1/completions" "${auth[@]}" "${json[@]}" -d "{\"model\":\"tiny\",\"prompt\":\"$long\"}"
grep -q context_length_exceeded "$work/body" || fail "over-context error lacks its code: $(cat "$work/body")"
expect 400 "$url/v1/completions" "${auth[@]}" "${json[@]}" -d '{"model":"tiny","prompt":"abcdefghij","max_tokens":60}'
# Still serving after all that, with usage.
expect 200 "$url/v1/completions" "${auth[@]}" "${json[@]}" -d '{"model":"adapter-b","prompt":"2+2=","max_tokens":5,"temperature":0}'
grep -q '"completion_tokens":5' "$work/body" || fail "no usage: $(cat "$work/body")"
# The greedy completion through the server = `lorakit generate --adapter` (no chat template).
"$lorakit" generate --model $fixtures/tiny-llama --adapter $fixtures/adapter-b --prompt "2+2=" --max-tokens 5 >"$work/gen-b.txt" 2>/dev/null
"$py" -c "
import json,sys
got=json.load(open(sys.argv[1]))['choices'][0]['text']; want=open(sys.argv[2],encoding='utf-8').read()[:-1]
assert got==want,(got,want)" "$work/body" "$work/gen-b.txt" || fail "server completion differs from lorakit generate"
# Streaming over SSE ends with [DONE].
curl -sN "$url/v1/chat/completions" "${auth[@]}" "${json[@]}" \
    -d '{"model":"adapter-a","stream":true,"max_tokens":4,"messages":[{"role":"user","content":"hi"}]}' >"$work/sse"
grep -q '^data: {' "$work/sse" && tail -2 "$work/sse" | grep -q '^data: \[DONE\]' || fail "SSE stream malformed: $(cat "$work/sse")"

# Adapters: a mismatched one is refused with the reason; a good one loads, lists with its parent, unloads.
mkdir -p "$work/bad"
"$py" - "$work/bad" <<'PY'
import json, sys, numpy as np
from safetensors.numpy import save_file
d = sys.argv[1]
json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 2, "target_modules": ["q_proj"]}, open(d + "/adapter_config.json", "w"))
save_file({f"base_model.model.model.layers.{i}.self_attn.q_proj.lora_{ab}.weight": np.zeros(s, np.float32)
           for i in range(2) for ab, s in (("A", (2, 32)), ("B", (64, 2)))}, d + "/adapter_model.safetensors")
PY
expect 400 "$url/v1/load_lora_adapter" "${auth[@]}" "${json[@]}" -d "{\"lora_name\":\"adapter-a\",\"lora_path\":\"$work/bad\"}"
grep -q "shape" "$work/body" || fail "mismatch reason missing: $(cat "$work/body")"
expect 400 "$url/v1/load_lora_adapter" "${auth[@]}" "${json[@]}" -d "{\"lora_name\":\"x\",\"lora_path\":\"$work/none\"}"
expect 200 "$url/v1/load_lora_adapter" "${auth[@]}" "${json[@]}" -d "{\"lora_name\":\"hot\",\"lora_path\":\"$fixtures/adapter-a\"}"
expect 200 "$url/v1/models" "${auth[@]}"
"$py" -c "import json,sys; m={x['id']:x for x in json.load(open(sys.argv[1]))['data']}; assert m['hot']['parent']=='tiny', m" "$work/body" \
    || fail "hot-loaded adapter not listed with its parent"
expect 200 "$url/v1/chat/completions" "${auth[@]}" "${json[@]}" -d '{"model":"hot","max_tokens":3,"messages":[{"role":"user","content":"x"}]}'
expect 200 "$url/v1/unload_lora_adapter" "${auth[@]}" "${json[@]}" -d '{"lora_name":"hot"}'
expect 404 "$url/v1/chat/completions" "${auth[@]}" "${json[@]}" -d '{"model":"hot","max_tokens":3,"messages":[{"role":"user","content":"x"}]}'
expect 404 "$url/v1/unload_lora_adapter" "${auth[@]}" "${json[@]}" -d '{"lora_name":"hot"}'
expect 200 "$url/metrics"
for m in lorakit_requests_total lorakit_generation_tokens_total lorakit_queue_depth lorakit_batch_size lorakit_loaded_adapters lorakit_decode_batch_size; do
    grep -q "^$m" "$work/body" || fail "/metrics lacks $m"
done
kill -TERM "$pid"; wait "$pid" || fail "tiny server did not exit 0 on SIGTERM"

# A full queue gives 429, and every accepted request is still answered.
start queue --model $fixtures/tiny-llama --served-model-name tiny --max-batch 1 --max-queue 1
"$py" - "$url" <<'PY'
import json, sys, threading, urllib.request, urllib.error
url, codes = sys.argv[1], []
def go():
    body = json.dumps({"model": "tiny", "prompt": "a", "max_tokens": 60, "temperature": 0}).encode()
    req = urllib.request.Request(url + "/v1/completions", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            codes.append(r.status if json.load(r)["usage"]["completion_tokens"] > 0 else -1)
    except urllib.error.HTTPError as e:
        codes.append(e.code)
threads = [threading.Thread(target=go) for _ in range(24)]
for t in threads: t.start()
for t in threads: t.join()
assert set(codes) <= {200, 429} and 429 in codes and 200 in codes, codes
print(f"queue: {codes.count(200)} answered, {codes.count(429)} refused with 429")
PY
kill -TERM "$pid"; wait "$pid" || fail "queue server did not exit 0"

# --- SmolLM2 with its PEFT adapter: greedy chat = lorakit generate; SIGTERM finishes requests in flight ---
if [ -e "${LORAKIT_CACHE:-$HOME/.cache/lorakit}/models/smollm2-135m-instruct" ]; then
    adapter=Tests/Fixtures/real/smollm2_adapter
    "$lorakit" generate --model smollm2-135m-instruct --adapter $adapter --chat --prompt "What is 2+3?" --max-tokens 16 \
        >"$work/expected-smol.txt" 2>/dev/null
    start smol --model smollm2-135m-instruct --adapter sft=$adapter --api-key $key
    "$py" scripts/serving/openai_client_check.py "$url" $key smollm2-135m-instruct sft "$work/expected-smol.txt" "What is 2+3?" 16
    for i in 1 2 3 4; do
        curl -s -o "$work/inflight$i" -w "%{http_code}" "$url/v1/chat/completions" "${auth[@]}" "${json[@]}" \
            -d '{"model":"sft","max_tokens":48,"temperature":0,"messages":[{"role":"user","content":"Tell me about the sea."}]}' \
            >"$work/inflight$i.code" &
        inflight+=($!)
    done
    sleep 1
    kill -TERM "$pid"
    wait "$pid" || fail "SmolLM2 server did not exit 0 on SIGTERM"
    for p in "${inflight[@]}"; do wait "$p" || true; done
    for i in 1 2 3 4; do
        [ "$(cat "$work/inflight$i.code")" = 200 ] || fail "in-flight request $i not finished: $(cat "$work/inflight$i.code")"
        grep -q '"completion_tokens":' "$work/inflight$i" || fail "in-flight request $i has no usage"
    done
    echo "serve-check: SmolLM2 greedy = lorakit generate; SIGTERM finished 4 in-flight requests, exit 0"
    # Mixed requests, every fifth malformed (bad JSON, unknown model, max_tokens 0, prompt over the context), 16
    # at a time over the adapter and the base: nothing dropped, every good one answered, every bad one its 4xx.
    # 100 here for CI's budget (each prompt pass runs alone, ~0.1-0.3 s); the issue's 500 is the same command.
    "$lorakit" bench serve --model smollm2-135m-instruct --adapter sft=$adapter --mixed 100 --clients 16 \
        --max-tokens 4 --deadline 90 >"$work/mixed.out" 2>"$work/mixed.err" \
        || { cat "$work/mixed.out" "$work/mixed.err" >&2; fail "the mixed-request run"; }
    grep "^mixed:" "$work/mixed.out"
else
    echo "serve-check: SmolLM2 not in the cache; its checks skipped"
fi
echo "serve-check: ok"
