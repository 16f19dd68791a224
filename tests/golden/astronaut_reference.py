"""Reference detections for the decoder tests: MediaPipe's SSD-anchor models run by the Python
LiteRT runtime (ai-edge-litert==2.1.4) on astronaut.png, decoded by this script's own
implementation of MediaPipe's graph options (SsdAnchorsCalculator, TensorsToDetectionsCalculator
with reverse_output_order and sigmoid scores, weighted non-maximum suppression), written
independently of the Rust decoder it checks.

The picture (512x512, square: no letterbox) is resized with Pillow's bilinear filter and scaled
to [-1, 1]. The Rust side resizes with its own bilinear code, so inputs differ by rounding: the
test compares with a tolerance.

Writes astronaut_detections.json next to this file.
Run: python3 -m venv v && v/bin/pip install ai-edge-litert==2.1.4 numpy pillow &&
     v/bin/python tests/golden/astronaut_reference.py ~/.cache/pinhole-assets
"""
import json
import os
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

assets = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))

# name: (model file, input size, strides, interpolated anchor, coords, score threshold)
MODELS = {
    "face_short": ("models/face_detection_short_range.tflite", 128, [8, 16, 16, 16], True, 16, 0.5),
    "face_full": ("models/face_detection_full_range_sparse.tflite", 192, [4], False, 16, 0.5),
    "person": ("models/pose_detection.tflite", 224, [8, 16, 32, 32, 32], True, 12, 0.5),
}


def anchors(size, strides, interpolated):
    """SsdAnchorsCalculator with fixed_anchor_size: only centres matter (w = h = 1)."""
    out = []
    i = 0
    while i < len(strides):
        # Layers with the same stride share one feature map.
        j = i
        per_cell = 0
        while j < len(strides) and strides[j] == strides[i]:
            per_cell += 2 if interpolated else 1
            j += 1
        fm = int(np.ceil(size / strides[i]))
        for y in range(fm):
            for x in range(fm):
                for _ in range(per_cell):
                    out.append(((x + 0.5) / fm, (y + 0.5) / fm))
        i = j
    return np.array(out, dtype=np.float64)


def decode(raw_boxes, raw_scores, anc, size, threshold):
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.astype(np.float64), -100, 100)))
    dets = []
    for k in range(len(anc)):
        if scores[k] < threshold:
            continue
        xc = raw_boxes[k, 0] / size + anc[k, 0]
        yc = raw_boxes[k, 1] / size + anc[k, 1]
        w = raw_boxes[k, 2] / size
        h = raw_boxes[k, 3] / size
        dets.append((float(scores[k]), np.array([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2])))
    return dets


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(dets, threshold=0.3):
    rest = sorted(dets, key=lambda d: -d[0])
    out = []
    while rest:
        top = rest[0]
        cluster = [d for d in rest if iou(top[1], d[1]) > threshold]
        rest = [d for d in rest if iou(top[1], d[1]) <= threshold]
        total = sum(d[0] for d in cluster)
        box = sum(d[0] * d[1] for d in cluster) / total
        out.append((top[0], box))
    return out


img = Image.open(os.path.join(assets, "images/astronaut.png")).convert("RGB")
result = {}
for name, (path, size, strides, interpolated, coords, threshold) in MODELS.items():
    x = np.asarray(img.resize((size, size), Image.BILINEAR), dtype=np.float32) / 127.5 - 1.0
    it = Interpreter(model_path=os.path.join(assets, path), num_threads=1)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x[np.newaxis])
    it.invoke()
    outs = [it.get_tensor(d["index"]) for d in it.get_output_details()]
    boxes = next(o for o in outs if o.shape[-1] == coords)[0]
    scores = next(o for o in outs if o.shape[-1] == 1)[0, :, 0]
    anc = anchors(size, strides, interpolated)
    assert len(anc) == boxes.shape[0], (name, len(anc), boxes.shape)
    found = weighted_nms(decode(boxes, scores, anc, size, threshold))
    result[name] = [
        {"score": round(s, 4), "box": [round(float(v), 4) for v in (b[0], b[1], b[2] - b[0], b[3] - b[1])]}
        for s, b in found
    ]
    print(name, result[name])
with open(os.path.join(here, "astronaut_detections.json"), "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
