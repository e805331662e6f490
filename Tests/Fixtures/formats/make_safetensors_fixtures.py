#!/usr/bin/env python3
"""Makes the safetensors fixtures for ModelFormatsTests. A tool, not run by the tests; the outputs are committed.

    pip install safetensors numpy && python3 make_safetensors_fixtures.py

Writes, next to this script:
  python_written.safetensors  tensors of every dtype LoRAKit reads, serialized by the Python `safetensors` library
                              (safetensors 0.8.0); SafetensorsWriterTests writes the same tensors and must produce
                              these exact bytes.
  python_written.json         the same tensors as JSON (name → dtype, shape, values as float/int lists; F16/BF16
                              values are the exact float32 widening computed by numpy) for the reader tests.
  peft_llama_adapter.safetensors is copied by hand from the PEFT parity fixtures (llama-tied-rslora adapter).
"""
import json
import os

import numpy as np
from safetensors import TensorSpec, serialize

here = os.path.dirname(os.path.abspath(__file__))

f16_specials = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035156e-05, 5.9604645e-08, 3.0e-07, np.inf, -np.inf],
                        dtype=np.float16)
# BF16 as raw bit patterns: 1.0, -2.0, pi (rounded), smallest subnormal, +inf, -inf, largest finite, 0
bf16_bits = np.array([0x3F80, 0xC000, 0x4049, 0x0001, 0x7F80, 0xFF80, 0x7F7F, 0x0000], dtype=np.uint16)

tensors = {
    "weights.f32": np.arange(-6, 6, dtype=np.float32).reshape(3, 4) / 7,
    "weights.f16": f16_specials.reshape(2, 5),
    "weights.bf16": bf16_bits,
    "weights.f64": np.array([1.0 / 3.0, -1e-300, 2.0], dtype=np.float64),
    "ids.i64": np.array([[-(2 ** 40), 0, 7]], dtype=np.int64),
    "ids.i32": np.array([-5, 2 ** 31 - 1], dtype=np.int32),
    "ids.i16": np.array([-32768, 12], dtype=np.int16),
    "ids.i8": np.array([-128, 127, 0], dtype=np.int8),
    "ids.u8": np.array([0, 255], dtype=np.uint8),
    "mask.bool": np.array([True, False, True]),
    "empty.f32": np.zeros((0, 3), dtype=np.float32),
}
dtype_names = {"weights.bf16": "bfloat16"}

specs = {}
for name, array in tensors.items():
    array = np.ascontiguousarray(array)
    dtype = dtype_names.get(name, array.dtype.name)
    specs[name] = TensorSpec(dtype=dtype, shape=list(array.shape), data_ptr=array.ctypes.data, data_len=array.nbytes)
# One metadata key only: the Rust library serializes __metadata__ from a HashMap, so with several keys its order
# is not reproducible.
data = serialize(specs, {"format": "pt"})
with open(os.path.join(here, "python_written.safetensors"), "wb") as f:
    f.write(data)

expected = {}
for name, array in tensors.items():
    if name == "weights.bf16":
        values = (array.astype(np.uint32) << 16).view(np.float32)
        dtype = "BF16"
    else:
        values = array
        dtype = {"float32": "F32", "float16": "F16", "float64": "F64", "int64": "I64", "int32": "I32",
                 "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}[array.dtype.name]
    flat = values.reshape(-1)
    if flat.dtype.kind == "f":
        # JSON has no inf: encode as strings the test decodes.
        out = [str(v) if not np.isfinite(v) else float(np.float32(v)) if dtype != "F64" else float(v)
               for v in flat.astype(np.float64 if dtype == "F64" else np.float32)]
    else:
        out = [int(v) for v in flat]
    expected[name] = {"dtype": dtype, "shape": list(array.shape), "values": out}
with open(os.path.join(here, "python_written.json"), "w") as f:
    json.dump(expected, f, sort_keys=True)
print("wrote python_written.safetensors and python_written.json")
