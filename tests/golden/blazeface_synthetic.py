"""Golden outputs of the Python LiteRT runtime (ai-edge-litert==2.1.4) for the BlazeFace short-range
model on a synthetic input that the Rust test rebuilds bit for bit:
input[i] = ((i * 7919) % 2001) / 1000 - 1, i over the 1x128x128x3 float32 tensor.

Writes regressors.f32 and classificators.f32 (little-endian float32) next to this file.
Run: python3 -m venv v && v/bin/pip install ai-edge-litert==2.1.4 numpy &&
     v/bin/python tests/golden/blazeface_synthetic.py ~/.cache/pinhole-assets/models/face_detection_short_range.tflite
"""
import os
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

model = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
n = 1 * 128 * 128 * 3
x = (((np.arange(n, dtype=np.int64) * 7919) % 2001).astype(np.float32) / np.float32(1000) - np.float32(1)).reshape(1, 128, 128, 3)
it = Interpreter(model_path=model, num_threads=1)
it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]["index"], x)
it.invoke()
for d in it.get_output_details():
    out = it.get_tensor(d["index"]).astype("<f4")
    out.tofile(os.path.join(here, d["name"] + ".f32"))
    print(d["name"], out.shape, out.reshape(-1)[:3])
