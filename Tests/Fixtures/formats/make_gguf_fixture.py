#!/usr/bin/env python3
"""Makes the GGUF fixture for ModelFormatsTests. A tool, not run by the tests; the outputs are committed.

    pip install gguf numpy safetensors && python3 make_gguf_fixture.py

Writes, next to this script (made with gguf-py 0.19.0):
  tiny.gguf                  GGUF v3, alignment 64, metadata of every value type (incl. nested arrays) and one small
                             tensor per supported GGML type plus one unsupported (Q2_K).
  tiny_expected.safetensors  gguf.quants.dequantize of each supported tensor, F32, PyTorch-order shapes.
Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 are quantized from random normals with gguf.quants.quantize; gguf-py cannot quantize the
K-quants, so their blocks are random bytes with sane F16 super-block scales.
"""
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V
from gguf import GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize
from safetensors.numpy import save_file

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)

writer = GGUFWriter(os.path.join(here, "tiny.gguf"), arch="llama")  # adds general.architecture = "llama"
writer.add_custom_alignment(64)
writer.add_key_value("test.uint8", 200, V.UINT8)
writer.add_key_value("test.int8", -100, V.INT8)
writer.add_key_value("test.uint16", 60000, V.UINT16)
writer.add_key_value("test.int16", -30000, V.INT16)
writer.add_key_value("test.uint32", 4000000000, V.UINT32)
writer.add_key_value("test.int32", -2000000000, V.INT32)
writer.add_key_value("test.float32", 0.15625, V.FLOAT32)
writer.add_key_value("test.bool", True, V.BOOL)
writer.add_key_value("test.string", "héllo ✓", V.STRING)
writer.add_key_value("test.uint64", 2 ** 63 + 5, V.UINT64)
writer.add_key_value("test.int64", -(2 ** 40), V.INT64)
writer.add_key_value("test.float64", 1.0 / 3.0, V.FLOAT64)
writer.add_array("test.ints", [1, -2, 3])
writer.add_array("test.floats", [0.5, -1.25])
writer.add_array("test.strings", ["a", "", "ccc"])
writer.add_array("test.bools", [True, False])
writer.add_key_value("test.nested", [[1, 2], [3]], V.ARRAY, sub_type=V.ARRAY)

expected = {}


def add_quantized(name, qtype, shape):
    values = rng.standard_normal(shape).astype(np.float32)
    data = quantize(values, qtype)
    writer.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)
    expected[name] = dequantize(data, qtype).reshape(shape).astype(np.float32)


def add_random_blocks(name, qtype, shape, scale_offsets):
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n_blocks = int(np.prod(shape)) // block_size
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for offset in scale_offsets:  # replace random F16 scales (which could be NaN/inf) with small finite ones
        scales = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
        blocks[:, offset:offset + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    data = blocks.reshape(shape[0], -1)
    writer.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)
    if qtype != T.Q2_K:
        expected[name] = dequantize(data, qtype).reshape(shape).astype(np.float32)


f32 = (np.arange(24, dtype=np.float32) - 12) / 8
writer.add_tensor("t.f32", f32.reshape(2, 3, 4))
expected["t.f32"] = f32.reshape(2, 3, 4)
f16 = np.array([0, -0.0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08, np.inf] * 3, dtype=np.float16).reshape(3, 8)
writer.add_tensor("t.f16", f16)
expected["t.f16"] = f16.astype(np.float32)
add_quantized("t.bf16", T.BF16, (2, 8))
for qtype in (T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1):
    add_quantized(f"t.{qtype.name.lower()}", qtype, (3, 64))
add_random_blocks("t.q4_k", T.Q4_K, (2, 256), [0, 2])
add_random_blocks("t.q5_k", T.Q5_K, (2, 256), [0, 2])
add_random_blocks("t.q6_k", T.Q6_K, (2, 256), [208])
add_random_blocks("t.q2_k", T.Q2_K, (1, 256), [80, 82])

writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
save_file(expected, os.path.join(here, "tiny_expected.safetensors"))
print("wrote tiny.gguf and tiny_expected.safetensors")
