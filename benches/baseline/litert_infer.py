"""Baseline for `cargo bench --bench detect`: per-inference latency of the Python LiteRT runtime
(ai-edge-litert, the same libLiteRt build as Pinhole's) on the exact input the Rust side used.

Usage: litert_infer.py MODEL INPUT.f32 THREADS COUNT
Prints one line: p50_ms p99_ms (interpreter.invoke() only, after 20 warm-up runs).
"""
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

model, path, threads, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
it = Interpreter(model_path=model, num_threads=threads)
it.allocate_tensors()
inp = it.get_input_details()[0]
x = np.fromfile(path, dtype="<f4").reshape(inp["shape"])
it.set_tensor(inp["index"], x)
for _ in range(20):
    it.invoke()
times = []
for _ in range(count):
    t = time.perf_counter()
    it.invoke()
    times.append(time.perf_counter() - t)
    for d in it.get_output_details():
        it.get_tensor(d["index"])
times.sort()
print(f"{times[len(times) // 2] * 1e3:.4f} {times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3:.4f}")
