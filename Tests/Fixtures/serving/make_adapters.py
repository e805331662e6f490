"""Writes the two tiny PEFT adapters of the serving tests for tiny-llama (the parity fixture's random Llama,
hidden 64, 4 heads of 16, 2 KV heads, MLP 96, 2 layers) with numpy and safetensors only, seeded, so they are
reproducible: `python make_adapters.py` from this folder.

adapter-a: r 4 on q/k/v/o/gate/up/down; adapter-b: r 8 on q/v only and its own chat template (tokenizer_config.json),
so the tests see adapters with different targets and ranks side by side in one batch."""
import json, os
import numpy as np
from safetensors.numpy import save_file

SHAPES = {"self_attn.q_proj": (64, 64), "self_attn.k_proj": (64, 32), "self_attn.v_proj": (64, 32),
          "self_attn.o_proj": (64, 64), "mlp.gate_proj": (64, 96), "mlp.up_proj": (64, 96), "mlp.down_proj": (96, 64)}

def write(name, r, alpha, targets, seed, template=None):
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(2):
        for path, (fan_in, fan_out) in SHAPES.items():
            if path.split(".")[-1] not in targets:
                continue
            key = f"base_model.model.model.layers.{layer}.{path}"
            tensors[key + ".lora_A.weight"] = (rng.standard_normal((r, fan_in)) * 0.3).astype(np.float32)
            tensors[key + ".lora_B.weight"] = (rng.standard_normal((fan_out, r)) * 0.3).astype(np.float32)
    os.makedirs(name, exist_ok=True)
    save_file(tensors, os.path.join(name, "adapter_model.safetensors"), metadata={"format": "pt"})
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
              "target_modules": targets, "bias": "none", "fan_in_fan_out": False, "inference_mode": True,
              "init_lora_weights": True, "modules_to_save": None, "base_model_name_or_path": "tiny-llama"}
    with open(os.path.join(name, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if template:
        with open(os.path.join(name, "tokenizer_config.json"), "w") as f:
            json.dump({"chat_template": template}, f, indent=2)

write("adapter-a", 4, 8, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], 1)
write("adapter-b", 8, 16, ["q_proj", "v_proj"], 2,
      template="{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}")
