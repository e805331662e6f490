"""Random PEFT LoRA adapters for SmolLM2-135M (hidden 576, 9 heads / 3 KV heads of 64, MLP 1536, 30 layers), for
`lorakit bench serve`: r 16 on every projection, seeded, B not zero so each adapter changes the output.

usage: make_bench_adapters.py OUT_DIR COUNT [RANK]"""
import json, os, sys
import numpy as np
from safetensors.numpy import save_file

out, count = sys.argv[1], int(sys.argv[2])
r = int(sys.argv[3]) if len(sys.argv) > 3 else 16
shapes = {"self_attn.q_proj": (576, 576), "self_attn.k_proj": (576, 192), "self_attn.v_proj": (576, 192),
          "self_attn.o_proj": (576, 576), "mlp.gate_proj": (576, 1536), "mlp.up_proj": (576, 1536),
          "mlp.down_proj": (1536, 576)}
for i in range(count):
    rng = np.random.default_rng(100 + i)
    tensors = {}
    for layer in range(30):
        for path, (fan_in, fan_out) in shapes.items():
            key = f"base_model.model.model.layers.{layer}.{path}"
            tensors[key + ".lora_A.weight"] = (rng.standard_normal((r, fan_in)) / np.sqrt(fan_in)).astype(np.float32)
            tensors[key + ".lora_B.weight"] = (rng.standard_normal((fan_out, r)) * 0.01).astype(np.float32)
    d = os.path.join(out, f"bench{i}")
    os.makedirs(d, exist_ok=True)
    save_file(tensors, os.path.join(d, "adapter_model.safetensors"), metadata={"format": "pt"})
    json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": 2 * r, "lora_dropout": 0.0,
               "target_modules": [p.split(".")[1] for p in shapes], "bias": "none", "inference_mode": True,
               "init_lora_weights": True, "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"},
              open(os.path.join(d, "adapter_config.json"), "w"), indent=2)
print(f"{count} r{r} adapters in {out}")
