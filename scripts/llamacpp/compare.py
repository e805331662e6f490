"""Runs LoRAKit's GGUF exports in llama.cpp (through llama-cpp-python) and compares them with LoRAKit.

  compare.py smollm2 WORK ADAPTER   merged f32, merged q8_0, and the Q4_1 base + GGUF LoRA, three chat prompts
  compare.py tiny WORK              Hugging Face directory bases (tiny Llama, GPT-2, Falcon) exported to f32, raw prompts

Per export and prompt:
  - llama.cpp's loader logs no warning or error (llama.cpp's own log, captured through llama_log_set; only the
    warnings about the context size we ask for are not about the file);
  - llama.cpp tokenizes the prompt to LoRAKit's ids (for chat prompts: rendered with the template stored in the file);
  - the first 32 greedy tokens (up to an end-of-generation token, as both stop) equal LoRAKit's. f32 exports must be
    equal. A quantized export may flip a token only at a near-tie: at the first difference LoRAKit's margin between
    its token and llama.cpp's must be below the export type's logit tolerance (a flip needs the two runs to differ by
    at least that margin there);
  - the logits of the prompt positions agree with `lorakit forward` within the export type's tolerance (TOLERANCE).
WORK holds, per prompt i, lorakit-i.txt (stderr of `lorakit generate --print-ids`) and logits-i.safetensors
(`lorakit forward` over the prompt and LoRAKit's generated tokens), as scripts/llamacpp-check.sh writes them.
Prints one line per check, writes WORK/summary.json, exits 1 on any failure.
"""
import ctypes
import json
import os
import sys

import numpy as np

import llama_cpp

# Max |logit difference| between llama.cpp and LoRAKit over the vocabulary: at every prompt position (TOLERANCE) and
# at the first one (FIRST_POSITION). llama.cpp runs with an F32 KV cache here (its default F16 cache alone moves
# logits by ~7e-2).
# The quantized bounds come from llama.cpp's own quantization error on the same model: llama.cpp run on the f32 export
# and on the quantized one differ by 2.044 (q8_0) and 1.989 (Q4_1 base + LoRA) over the prompt positions, 0.714 and
# 0.426 at the first (SmolLM2, the README main job's adapter, 3 chat prompts; README "Export"). LoRAKit runs the f32
# math, so its difference to a quantized llama.cpp run is that error plus the f32 difference (~1e-4): measured 2.045
# and 1.989, 0.714 and 0.426. Each bound is ~1.5× the measured, for another CPU's kernels; a wrong permutation,
# tensor or scale moves logits by ≫ 10.
TOLERANCE = {
    # f32 weights: only the summation order of llama.cpp's CPU kernels differs from LoRAKit's (measured 7.6e-5).
    "merged-f32": 1e-3,
    # q8_0 weights, and llama.cpp quantizes the activations to Q8_0 for their dot products.
    "merged-q8_0": 3.0,
    # the Q4_1 base: LoRAKit dequantizes it exactly and multiplies in f32; llama.cpp quantizes the activations to
    # Q8_1 for the Q4_1 dot products, and adds the LoRA separately.
    "lora": 3.0,
    "tiny-llama": 1e-3,
    # llama.cpp's CPU GELU (tanh approximation) reads an fp16 table; GPT-2's gelu_new is computed in f32 (measured
    # 5.7e-3 on logits of magnitude ~10 from std-0.3 weights).
    "tiny-gpt2": 2e-2,
    # the same table, and transformers' Falcon (and LoRAKit) use the exact erf GELU (measured 4.8e-3).
    "tiny-falcon": 2e-2,
}
FIRST_POSITION = dict(TOLERANCE, **{"merged-q8_0": 1.1, "lora": 0.65})
# A quantized run may pick another token only where LoRAKit's own choice was a near-tie: its margin over llama.cpp's
# token below this bound (measured margins at the first difference: 0.003–0.099; the logit error there is ~0.4–2).
NEAR_TIE = {"merged-q8_0": 0.5, "lora": 0.5}
EXACT_TOKENS = {"merged-f32", "tiny-llama", "tiny-gpt2", "tiny-falcon"}
GREEDY_TOKENS = 32

log = []  # (level, text) of llama.cpp's log since the last load


@llama_cpp.llama_log_callback
def log_callback(level, text, user_data):
    # ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the previous message).
    text = text.decode("utf-8", "replace")
    if level == 5 and log:
        log[-1] = (log[-1][0], log[-1][1] + text)
    else:
        log.append((level, text))


llama_cpp.llama_log_set(log_callback, ctypes.c_void_p(0))

# Warnings about the context we ask for, not about the file: a 512-token context for a model trained on 8192.
NOT_ABOUT_THE_FILE = ("n_ctx_seq", "n_ctx_per_seq")


def load(path, lora=None, n_ctx=512):
    log.clear()
    llm = llama_cpp.Llama(model_path=path, lora_path=lora, n_ctx=n_ctx, n_threads=2, logits_all=True, verbose=False,
                          seed=0, type_k=0, type_v=0)
    warnings = [t.strip() for level, t in log if level in (3, 4) and not any(k in t for k in NOT_ABOUT_THE_FILE)]
    if not log:
        warnings.append("llama.cpp logged nothing: the log capture is not working, so warnings cannot be checked")
    return llm, warnings


def greedy(llm, prompt_ids):
    """llama.cpp's greedy tokens and its logits at every position (prompt and generated)."""
    llm.reset()
    llm.eval(prompt_ids)
    out = []
    while len(out) < GREEDY_TOKENS:
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
            break
        out.append(token)
        llm.eval([token])
    return out, np.array(llm.scores[: llm.n_tokens], dtype=np.float32)


def read_logits(path):
    """The `logits` [T, vocab] F32 tensor of a safetensors file (8-byte header length, JSON header, raw data)."""
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    info = json.loads(data[8:8 + n])["logits"]
    start, end = info["data_offsets"]
    return np.frombuffer(data[8 + n + start:8 + n + end], dtype="<f4").reshape(info["shape"])


def render(template, tokens, prompt):
    """The chat prompt as transformers' apply_chat_template renders it (jinja2, trim_blocks and lstrip_blocks)."""
    import jinja2.sandbox
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    special = {k: v["content"] for k, v in tokens.items() if k.endswith("_token") and isinstance(v, dict)}
    return env.from_string(template).render(messages=[{"role": "user", "content": prompt}], add_generation_prompt=True, **special)


def lorakit_runs(work, prefix, count):
    runs = []
    for i in range(count):
        lines = open(os.path.join(work, f"{prefix}lorakit-{i}.txt")).read().splitlines()
        ids = json.loads(next(line for line in lines if line.startswith('{"prompt_ids"')))
        runs.append({"prompt_ids": ids["prompt_ids"], "generated_ids": ids["generated_ids"],
                     "logits": read_logits(os.path.join(work, f"{prefix}logits-{i}.safetensors"))})
    return runs


class Checker:
    def __init__(self):
        self.failures = 0
        self.summary = {}

    def report(self, ok, text):
        print(("ok   " if ok else "FAIL ") + text)
        if not ok:
            self.failures += 1

    def loaded(self, kind, warnings):
        self.report(not warnings, f"{kind}: llama.cpp loaded it" + (f" with {len(warnings)} warning(s): {warnings[:3]}" if warnings
                                                                     else f" without warnings ({len(log)} log lines read)"))

    def compare(self, kind, i, llm, run):
        """Greedy tokens, near-ties and prompt logits of one prompt; `run` is LoRAKit's."""
        tolerance, first_tolerance = TOLERANCE[kind], FIRST_POSITION[kind]
        tokens, logits = greedy(llm, run["prompt_ids"])
        expected, reference = run["generated_ids"], run["logits"]
        n_prompt = len(run["prompt_ids"])
        prompt_diff = float(np.abs(logits[:n_prompt] - reference[:n_prompt]).max())
        first_diff = float(np.abs(logits[0] - reference[0]).max())
        same = next((k for k, (a, b) in enumerate(zip(tokens, expected)) if a != b), min(len(tokens), len(expected)))
        identical = tokens == expected
        line = (f"{kind} prompt {i}: {same}/{len(expected)} greedy tokens equal; max |Δlogit| over {n_prompt} prompt "
                f"positions {prompt_diff:.2e} (tolerance {tolerance:g}), first position {first_diff:.2e} (tolerance {first_tolerance:g})")
        entry = {"equal_tokens": same, "of": len(expected), "llama_cpp_tokens": len(tokens), "max_logit_diff": prompt_diff,
                 "first_position_diff": first_diff}
        ok = prompt_diff <= tolerance and first_diff <= first_tolerance
        if not identical:
            if same < min(len(tokens), len(expected)):
                # Both ran the same prefix up to here; position p's logits predict generated token `same`.
                p = n_prompt - 1 + same
                ours, theirs = expected[same], tokens[same]
                margin = float(reference[p][ours] - reference[p][theirs])
                their_margin = float(logits[p][theirs] - logits[p][ours])
                entry.update({"lorakit_margin": margin, "llama_cpp_margin": their_margin})
                near_tie = kind in NEAR_TIE and margin <= NEAR_TIE[kind]
                here = float(np.abs(logits[p] - reference[p]).max())
                line += (f"; token {same}: LoRAKit {ours} by a margin of {margin:.3f}, llama.cpp {theirs} by {their_margin:.3f} "
                         f"(max |Δlogit| there {here:.3f})" + (f" — a near-tie (bound {NEAR_TIE[kind]:g})" if near_tie else
                         f" — not a near-tie (bound {NEAR_TIE[kind]:g})" if kind in NEAR_TIE else ""))
                entry["divergence_max_logit_diff"] = here
                ok = ok and near_tie
            else:
                # One stopped earlier (an end-of-generation token won): that is a token difference too.
                line += f"; one run stopped early (llama.cpp {len(tokens)} tokens, LoRAKit {len(expected)})"
                ok = False
        self.report(ok, line)
        self.summary.setdefault(kind, []).append(entry)
        return logits


def smollm2(work, adapter, checker):
    record = os.path.join(adapter, "lorakit_tokens.json")
    if os.path.exists(record):
        tokens = json.load(open(record))
    else:
        # An adapter trained elsewhere: the export keeps the base model's template, so that is the one to render.
        import gguf
        tokens = {"chat_template": gguf.GGUFReader(os.path.join(work, "base.gguf")).fields["tokenizer.chat_template"].contents()}
        print("note: the adapter has no lorakit_tokens.json; the base model's chat template is expected")
    prompts = json.load(open(os.path.join(work, "prompts.json")))
    runs = lorakit_runs(work, "", len(prompts))
    llama_logits = {}
    for kind, path, lora in [("merged-f32", "merged-f32.gguf", None), ("merged-q8_0", "merged-q8_0.gguf", None),
                             ("lora", "base.gguf", "adapter-f32.gguf")]:
        llm, warnings = load(os.path.join(work, path), os.path.join(work, lora) if lora else None)
        checker.loaded(kind, warnings)
        template = llm.metadata.get("tokenizer.chat_template")
        checker.report(template == tokens["chat_template"], f"{kind}: tokenizer.chat_template is the template the adapter was trained with")
        for i, (prompt, run) in enumerate(zip(prompts, runs)):
            ids = llm.tokenize(render(tokens["chat_template"], tokens, prompt).encode("utf-8"), add_bos=False, special=True)
            checker.report(ids == run["prompt_ids"], f"{kind} prompt {i}: llama.cpp tokenizes the rendered prompt to LoRAKit's {len(ids)} ids")
            llama_logits[(kind, i)] = checker.compare(kind, i, llm, run)
        del llm
    # llama.cpp's own quantization error: the same merged model run by llama.cpp in f32 and quantized, at the prompt
    # positions (the two runs share the prompt). This is the size the tolerances above are taken from.
    for kind in ["merged-q8_0", "lora"]:
        own, first = [], []
        for i, run in enumerate(runs):
            n = len(run["prompt_ids"])
            own.append(float(np.abs(llama_logits[(kind, i)][:n] - llama_logits[("merged-f32", i)][:n]).max()))
            first.append(float(np.abs(llama_logits[(kind, i)][0] - llama_logits[("merged-f32", i)][0]).max()))
        print(f"info {kind}: llama.cpp's own difference to its f32 run: prompt positions "
              + ", ".join(f"{d:.3f}" for d in own) + ", first position " + ", ".join(f"{d:.3f}" for d in first)
              + " (LoRAKit's: " + ", ".join(f"{e['max_logit_diff']:.3f}" for e in checker.summary[kind]) + ")")
        checker.summary[kind + "-llama.cpp-own"] = {"prompt": own, "first_position": first}


def tiny(work, checker):
    prompts = json.load(open(os.path.join(work, "tiny-prompts.json")))
    for kind in ["tiny-llama", "tiny-gpt2", "tiny-falcon"]:
        runs = lorakit_runs(work, kind + "-", len(prompts))
        llm, warnings = load(os.path.join(work, kind + ".gguf"), n_ctx=128)
        checker.loaded(kind, warnings)
        for i, (prompt, run) in enumerate(zip(prompts, runs)):
            ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            checker.report(ids == run["prompt_ids"], f"{kind} prompt {i}: llama.cpp tokenizes to LoRAKit's ids ({len(ids)}, BOS included as transformers adds it)")
            checker.compare(kind, i, llm, run)
        del llm


def main():
    mode, work = sys.argv[1], sys.argv[2]
    checker = Checker()
    if mode == "smollm2":
        smollm2(work, sys.argv[3], checker)
    else:
        tiny(work, checker)
    json.dump(checker.summary, open(os.path.join(work, f"summary-{mode}.json"), "w"), indent=1)
    print(f"llamacpp-check {mode}: {checker.failures} failure(s)")
    sys.exit(1 if checker.failures else 0)


if __name__ == "__main__":
    main()
