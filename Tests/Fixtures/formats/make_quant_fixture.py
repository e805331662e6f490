"""Writes quants.gguf: inputs and gguf-py's `gguf.quants.quantize` of them, the reference that LoRAKit's
GGMLQuantizer must match bit for bit (Tests/ModelFormatsTests/GGUFWriterTests.swift).

Run with the interop venv:  .venv-interop/bin/python Tests/Fixtures/formats/make_quant_fixture.py
"""
import os
import numpy as np
import gguf
from gguf.quants import quantize
from gguf.constants import GGMLQuantizationType as T

rng = np.random.default_rng(1234)
rows = [
    rng.normal(0, 1, 64),                       # ordinary weights
    rng.normal(0, 0.02, 64),                    # small weights (LoRA-sized)
    np.concatenate([np.zeros(32), rng.uniform(-3, 3, 32)]),   # an all-zero block
    # exact halves after scaling (rounding ties), the negative extreme first, a repeated maximum
    np.concatenate([np.arange(-16, 16) * 0.5, [-4.0, 4.0] + [1.0] * 30]),
    rng.normal(0, 1e-5, 64) * rng.choice([1, 1e-3], 64),      # f16 subnormals
    rng.normal(0, 3e4, 64),                     # near and past the f16 maximum (65504)
]
inputs = np.stack(rows).astype(np.float32)
special = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, 65520.0, 65519.99, 1e-8, 5.960464477539063e-08,
                    2.980232238769531e-08, 2.9802326e-08, 3.0e-5, -6.1e-5, 1.0 + 2**-11] + [0.1 * i for i in range(16)],
                   dtype=np.float32).reshape(1, 32)

w = gguf.GGUFWriter(os.path.join(os.path.dirname(__file__), "quants.gguf"), "llama")
w.add_tensor("input", inputs)
for name, t in [("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("f16", T.F16), ("bf16", T.BF16)]:
    w.add_tensor(name, quantize(inputs, t), raw_dtype=t)
w.add_tensor("special", special)
for name, t in [("special_f16", T.F16), ("special_bf16", T.BF16)]:
    w.add_tensor(name, quantize(special, t), raw_dtype=t)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
