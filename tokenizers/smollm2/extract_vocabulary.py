#!/usr/bin/env python3
"""Writes vocabulary.json: the tokenizer metadata of a GGUF file under its GGUF key names.

Usage: pip install gguf && python3 extract_vocabulary.py SmolLM2-135M-Instruct.Q4_1.gguf vocabulary.json

The result is what `BPETokenizer(ggufVocabularyJSON:)` reads; it carries no weights.
"""
import json
import sys

from gguf import GGUFReader

KEYS = [
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_eos_token",
]


def main(gguf_path, out_path):
    fields = GGUFReader(gguf_path).fields
    metadata = {key: fields[key].contents() for key in KEYS if key in fields}
    metadata["source"] = gguf_path.rsplit("/", 1)[-1]
    with open(out_path, "w", encoding="utf-8") as out:
        # One array element per line keeps diffs readable and the file greppable.
        out.write("{\n")
        items = list(metadata.items())
        for index, (key, value) in enumerate(items):
            if isinstance(value, list):
                body = ",\n".join(json.dumps(v, ensure_ascii=False) for v in value)
                out.write(f"{json.dumps(key)}: [\n{body}\n]")
            else:
                out.write(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
            out.write(",\n" if index + 1 < len(items) else "\n")
        out.write("}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
