#!/usr/bin/env python3
"""The README's step-time model for data-parallel LoRA training over N hosts (README: Several machines).

    T_step(N) = T_compute + T_allreduce(N)                         (the all-reduce follows backward; no overlap)
    T_allreduce(N) = 2(N-1)/N * S / B  +  2(N-1) * k * alpha        (ring: reduce-scatter + all-gather, k buckets)
                   + 2 * 2*ceil(log2 N) * alpha                     (the two small all-reduces of every update)

S = gradient bytes per update (measured), k = buckets, B = usable bandwidth per link direction, alpha = per-message
latency. Prints a Markdown table; the inputs are arguments so the table can be redone with other measurements.

scaling-model.py T_COMPUTE_QKVO T_COMPUTE_ALL [FAST_FACTOR]
"""
import math, sys

t_qkvo, t_all = float(sys.argv[1]), float(sys.argv[2])
fast = float(sys.argv[3]) if len(sys.argv) > 3 else 16
targets = {"q,k,v,o": (7.3728e6, 1, t_qkvo), "all linear": (19.53792e6, 2, t_all)}
links = {"10 GbE": (1.1e9, 50e-6), "100 GbE": (10e9, 20e-6)}

def allreduce(n, size, buckets, bandwidth, alpha):
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * size / bandwidth + 2 * (n - 1) * buckets * alpha + 4 * math.ceil(math.log2(n)) * alpha

cols = [(t, l) for t in targets for l in links]
print("| N | " + " | ".join(f"{t}, {l}: all-reduce ms" for t, l in cols) + " |")
print("|---|" + "---|" * len(cols))
for n in (2, 4, 8, 16, 64):
    print(f"| {n} | " + " | ".join(f"{1e3 * allreduce(n, targets[t][0], targets[t][1], *links[l]):.1f}" for t, l in cols) + " |")
print()
print("| N | " + " | ".join(f"{t}, {l}: step s (efficiency), this host · {fast:g}× faster host" for t, l in cols) + " |")
print("|---|" + "---|" * len(cols))
for n in (2, 4, 8, 16, 64):
    cells = []
    for t, l in cols:
        size, buckets, compute = targets[t]
        a = allreduce(n, size, buckets, *links[l])
        cells.append(f"{compute + a:.3f} ({compute / (compute + a):.1%}) · {compute / fast + a:.3f} ({compute / fast / (compute / fast + a):.1%})")
    print(f"| {n} | " + " | ".join(cells) + " |")
