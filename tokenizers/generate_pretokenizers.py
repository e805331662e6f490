#!/usr/bin/env python3
"""Writes tokenizers/pretokenizers.json from Sources/Tokenizers/BPE/PreTokenizerPatterns.swift, after checking the
Swift table against transformers' GGUF_PRE_TOKENIZER_SPLITS (pip install transformers; no torch needed).

Run from the repository root: python3 tokenizers/generate_pretokenizers.py
"""
import json
import re

from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS

SWIFT = "Sources/Tokenizers/BPE/PreTokenizerPatterns.swift"


def swift_pattern(source, name):
    match = re.search(r'public static let %s = ((?:#"[^\n]*"#\s*(?:\+\s*)?)+)' % name, source)
    return "".join(re.findall(r'#"(.*?)"#', match.group(1)))


def main():
    source = open(SWIFT, encoding="utf-8").read()
    names = re.findall(r'"(\w+)": \w+,?', source.split("patterns: [String: String] = [")[1].split("]")[0])
    patterns = {name: swift_pattern(source, name) for name in names}
    body = source.split("patternNameForGGUFPre: [String: String] = [")[1].split("]")[0]
    table = dict(re.findall(r'"([\w.-]+)": "(\w+)"', body))
    assert set(table) == set(GGUF_PRE_TOKENIZER_SPLITS), set(table) ^ set(GGUF_PRE_TOKENIZER_SPLITS)
    for pre, name in table.items():
        assert GGUF_PRE_TOKENIZER_SPLITS[pre] == patterns[name], pre
    out = {
        "about": "Split regexes for byte-level BPE pre-tokenization, by name, and the GGUF tokenizer.ggml.pre values "
                 "that use them (as transformers integrations/gguf/gguf_tokenizer_mapping.py does); any other pre "
                 "value uses `default`. Generated from Sources/Tokenizers/BPE/PreTokenizerPatterns.swift by "
                 "generate_pretokenizers.py; a test keeps the two equal.",
        "default": "gpt2",
        "patterns": patterns,
        "gguf_pre": dict(sorted(table.items())),
    }
    with open("tokenizers/pretokenizers.json", "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
