#!/usr/bin/env python3
"""Writes smollm2_cases.json and minilm_cases.json: hard cases with ids and decodes from Hugging Face itself.

Requires `pip install transformers tokenizers` (no torch). Run from the repository root:
    python3 Tests/Fixtures/tokenizers/generate_cases.py

SmolLM2: the tokenizer is built by transformers' own GGUF converter (`convert_gguf_tokenizer`, the code path of
`AutoTokenizer.from_pretrained(..., gguf_file=...)`) from tokenizers/smollm2/vocabulary.json, the GGUF metadata
extracted by tokenizers/smollm2/extract_vocabulary.py. Its ids on the reference texts are checked against
smollm2_reference.json (made with the GGUF file itself) before anything is written.
MiniLM: transformers' AutoTokenizer on tokenizers/minilm-l6 (tokenizer.json + tokenizer_config.json).
"""
import json
import os

from transformers import AutoTokenizer, TokenizersBackend
from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))

SHARED_CASES = [
    "",
    " ",
    "Hello world!",
    "family: 👨\u200d👩\u200d👧\u200d👦 and flags 🇫🇷🇯🇵",
    "中文分词测试，汉字和标点。",
    "한국어 텍스트 and 日本語",
    "combining: e\u0301 vs \u00e9, n\u0303o\u0308",
    "windows\r\nline\r\nendings\r\n",
    "digits 1234567890123456789 and 3.14159e-10",
    "tabs\tand\t\tmultiple     spaces   end   ",
    "\t\n  \n\n\n",
    "vertical\u000btab, next\u0085line, nbsp\u00a0here, ideographic\u3000space",
    "zero\u200bwidth and soft\u00adhyphen",
    "control \u0001\u0002 chars\u007f",
    "I'm, you're, it's, we'll, they'd, I've; I'M SHOUTING IT'S",
    "un-affordable… “quotes” — dashes – and ¡¿punctuation?!",
    "$100 + 20% = ~x^2 | a<b> {c} [d] `e` @f #g &h *i _j \\k /l",
    "Supercalifragilisticexpialidocious" * 6,
    "a" * 120,
    "MiXeD CaSe ÀÉÎÕÜ ÇÑ straße İstanbul ΣΑΣ",
    "math: ∑∫√∞ ≤≥ ℝ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "Ünïcödé naïve café résumé Ångström",
    "URL https://example.com/path?q=1&r=2#frag and email a.b@c.de",
    "code:\n\tif x:\n\t\treturn [i**2 for i in range(10)]\n",
]

BPE_CASES = SHARED_CASES + [
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "word<|im_end|>word <|im_start|> spaced <|endoftext|>",
    "<|im_start|><|im_end|><|im_start|>",
    "<|im_start|partial <|im_end",
    "<repo_name>lorakit<file_sep>main.swift<filename>",
]

WORDPIECE_CASES = SHARED_CASES + [
    "[CLS] already [SEP] inside [MASK] text[UNK]",
    "[cls] lowercase [sep] is not special",
    "Unbelievably un-affordable prices!!",
    "hyper" + "x" * 150,
]

# Byte sequences that are not valid UTF-8 on their own, decoded through token ids: tokens for lone bytes.
INVALID_BYTE_DECODES = [
    [0x80], [0xC3], [0xE6, 0x97], [0xF0, 0x9F, 0x98], [0x61, 0xBF, 0x62], [0xE6, 0x97, 0x61, 0xE6, 0x97, 0xA5],
]


def smollm2_backend():
    with open(os.path.join(ROOT, "tokenizers", "smollm2", "vocabulary.json"), encoding="utf-8") as f:
        meta = json.load(f)
    tokenizer_dict = {
        "tokenizer_type": meta["tokenizer.ggml.model"], "pre_tokenizer_type": meta["tokenizer.ggml.pre"],
        "tokens": meta["tokenizer.ggml.tokens"], "token_type": meta["tokenizer.ggml.token_type"],
        "merges": meta["tokenizer.ggml.merges"],
    }
    backend, _ = convert_gguf_tokenizer("llama", tokenizer_dict)
    return backend


def bpe_cases():
    backend = smollm2_backend()
    with open(os.path.join(HERE, "smollm2_reference.json"), encoding="utf-8") as f:
        for row in json.load(f):
            got = backend.encode(row["text"], add_special_tokens=False).ids
            assert got == row["ids"], f"converter disagrees with the GGUF reference on {row['text']!r}"
    byte_token = {b: backend.token_to_id("".join(bytes_to_unicode()[b])) for b in range(256)}
    cases = []
    for text in BPE_CASES:
        ids = backend.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "ids": ids,
                      "decoded": backend.decode(ids, skip_special_tokens=False),
                      "decoded_skipping_special": backend.decode(ids, skip_special_tokens=True)})
    decodes = []
    for raw in INVALID_BYTE_DECODES:
        ids = [byte_token[b] for b in raw]
        decodes.append({"ids": ids, "decoded": backend.decode(ids, skip_special_tokens=False)})
    return {"generator": "transformers convert_gguf_tokenizer on tokenizers/smollm2/vocabulary.json",
            "cases": cases, "decodes": decodes}


def bytes_to_unicode():
    from transformers.convert_slow_tokenizer import bytes_to_unicode as spelling
    return spelling()


def wordpiece_cases():
    tokenizer = AutoTokenizer.from_pretrained(os.path.join(ROOT, "tokenizers", "minilm-l6"))
    cases = []
    for text in WORDPIECE_CASES:
        ids = tokenizer(text)["input_ids"]
        cases.append({"text": text, "ids": ids,
                      "decoded": tokenizer.decode(ids, skip_special_tokens=False),
                      "decoded_skipping_special": tokenizer.decode(ids, skip_special_tokens=True)})
    pair = tokenizer("The first sentence.", "And the second one!", padding="max_length", max_length=24)
    return {"generator": f"transformers AutoTokenizer on tokenizers/minilm-l6 ({type(tokenizer).__name__})",
            "cases": cases,
            "pair": {"a": "The first sentence.", "b": "And the second one!", "length": 24,
                     "input_ids": pair["input_ids"], "attention_mask": pair["attention_mask"],
                     "token_type_ids": pair["token_type_ids"]}}


def tiny_bpe(kind):
    """A small byte-level BPE trained here, saved as a tokenizer.json: exercises the tokenizer.json path with
    `Split` + `ByteLevel` (llama3) or `ByteLevel(use_regex, add_prefix_space)` (gpt2)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    with open(os.path.join(ROOT, "tokenizers", "pretokenizers.json"), encoding="utf-8") as f:
        patterns = json.load(f)["patterns"]
    tokenizer = Tokenizer(models.BPE())
    if kind == "llama3":
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(patterns["llama3"]), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|begin_of_text|>", "<|eot_id|>"])
    tokenizer.train_from_iterator(SHARED_CASES * 3 + BPE_CASES, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", 0)])
    tokenizer.save(os.path.join(HERE, f"tiny_{kind}_bpe.tokenizer.json"))
    cases = []
    for text in SHARED_CASES + ["<|begin_of_text|>Hi<|eot_id|> there <|eot_id|>"]:
        ids = tokenizer.encode(text, add_special_tokens=True).ids
        cases.append({"text": text, "ids": ids, "decoded": tokenizer.decode(ids, skip_special_tokens=False),
                      "decoded_skipping_special": tokenizer.decode(ids, skip_special_tokens=True)})
    return cases


def write(name, payload):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    write("smollm2_cases.json", bpe_cases())
    write("minilm_cases.json", wordpiece_cases())
    write("tiny_llama3_bpe_cases.json", tiny_bpe("llama3"))
    write("tiny_gpt2_bpe_cases.json", tiny_bpe("gpt2"))
