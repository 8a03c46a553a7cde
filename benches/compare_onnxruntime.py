#!/usr/bin/env python3
"""Time onnxruntime on facelite's models and compare with tract's criterion results.

Usage (Python 3.11, from the repository root):
  python3 -m venv /tmp/ort-venv && /tmp/ort-venv/bin/pip install -r benches/requirements-compare.txt
  cargo bench --bench models_raw            # tract side (optional; also: --bench vision)
  /tmp/ort-venv/bin/python benches/compare_onnxruntime.py [--criterion target/criterion]

Same ONNX files (models/*.onnx), same pinned input shapes as the Rust pipeline
(docs/vision.md, "Pipeline": CenterFace 1x3x256x320 NCHW RGB 0..255, FaceMesh 1x192x192x3 RGB/255,
recognition 1x150x150x3 RGB 0..255) and the same input tensors as benches/models_raw.rs and
tests/model_parity.rs (the PNG fixtures of tests/data/parity/). onnxruntime: CPU provider,
all graph optimisations, sequential execution, intra_op_num_threads = 1 and 2,
inter_op_num_threads = 1. Per model: median of --runs (20) timed runs after --warmup (3)
runs. The pipeline row is the sum detector + FaceMesh + recognition (one face).

With --criterion DIR it reads tract's medians from DIR/<group>/<function>/new/estimates.json
and prints tract/onnxruntime per model and for the pipeline. Default ids are those of
benches/models_raw.rs (`models_raw_<n>t/<centerface|facemesh|recognition>`); override with
--tract-id MODEL:THREADS=GROUP/FUNCTION, or use --preset vision for
benches/vision.rs (`vision/t<n>_detect`, `vision/t<n>_mesh`, `vision/t<n>_embed_net` — stage times
that include each stage's pre/post-processing — and `vision/t<n>_pipeline`, the whole decode +
detect + align + embed + mesh, used for the pipeline row). Criterion turns '/' inside a function
name into '_' in directory names, hence `t1_detect` for `t1/detect`.
CenterFace is IR 4 and lists its initializers as graph inputs, which stops onnxruntime from
constant-folding them; like make_parity.py this script removes them from the inputs first
(otherwise onnxruntime is measured handicapped).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PARITY = os.path.join(ROOT, "tests", "data", "parity")
MODELS = [  # id, file, shape, layout, scale
    ("centerface", "centerface.onnx", (1, 3, 256, 320), "NCHW", 1.0),
    ("facemesh", "human-facemesh.onnx", (1, 192, 192, 3), "NHWC", 1.0 / 255.0),
    ("recognition", "faceapi-recognition.onnx", (1, 150, 150, 3), "NHWC", 1.0),
]


def load_model(path, shape):
    m = onnx.load(path)
    inits = {t.name for t in m.graph.initializer}
    real = [i for i in m.graph.input if i.name not in inits]
    m.graph.ClearField("input")
    m.graph.input.extend(real)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    if [d.dim_value for d in dims] != list(shape):
        for d, v in zip(dims, shape):
            d.ClearField("dim_param")
            d.dim_value = v
        for o in m.graph.output:
            for d in o.type.tensor_type.shape.dim:
                d.dim_param = "d"
    return m.SerializeToString()


def fixture_input(file, shape, layout, scale):
    index_path = os.path.join(PARITY, "index.json")
    with open(index_path) as f:
        index = json.load(f)
    e = next(m for m in index["models"] if m["model"] == file)
    if tuple(e["shape"]) != tuple(shape):
        raise SystemExit(f"{file}: fixture shape {e['shape']} != pipeline shape {shape}")
    px = np.asarray(Image.open(os.path.join(PARITY, e["input_png"])).convert("RGB"), np.float32)
    px = px * np.float32(scale)
    x = px.transpose(2, 0, 1)[None] if layout == "NCHW" else px[None]
    return np.ascontiguousarray(x, np.float32)


def time_model(model_bytes, x, threads, runs, warmup):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def criterion_ms(crit_dir, ident):
    path = os.path.join(crit_dir, *ident.split("/"), "new", "estimates.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        est = json.load(f)
    return est["median"]["point_estimate"] / 1e6


def fmt(v, unit=""):
    return "-" if v is None else f"{v:.2f}{unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts (default 1,2)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--criterion", help="criterion output dir (e.g. target/criterion or $CARGO_TARGET_DIR/criterion)")
    ap.add_argument("--tract-id", action="append", default=[],
                    help="MODEL:THREADS=GROUP/FUNCTION, e.g. centerface:1=vision_1t/detect")
    ap.add_argument("--preset", choices=["models_raw", "vision"], default="models_raw",
                    help="which criterion bench the tract ids come from (default models_raw)")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    ort.set_default_logger_severity(3)

    if args.preset == "vision":
        stage = {"centerface": "detect", "facemesh": "mesh", "recognition": "embed_net", "pipeline": "pipeline"}
        ids = {(m, t): f"vision/t{t}_{stage[m]}" for m in stage for t in threads}
    else:
        ids = {(m, t): f"models_raw_{t}t/{m}" for m, *_ in MODELS for t in threads}
    for spec in args.tract_id:
        key, ident = spec.split("=", 1)
        model, t = key.split(":")
        ids[(model, int(t))] = ident

    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"median of {args.runs} runs after {args.warmup} warm-up runs, ms\n")
    rows = {}
    for mid, file, shape, layout, scale in MODELS:
        mb = load_model(os.path.join(ROOT, "models", file), shape)
        x = fixture_input(file, shape, layout, scale)
        for t in threads:
            ort_ms = time_model(mb, x, t, args.runs, args.warmup)
            tract_ms = criterion_ms(args.criterion, ids[(mid, t)]) if args.criterion else None
            rows[(mid, t)] = (ort_ms, tract_ms)

    header = f"{'model':<14}{'shape':<18}"
    for t in threads:
        header += f"{f'ORT {t}T':>10}{f'tract {t}T':>11}{'ratio':>8}"
    print(header)
    shapes = {mid: "x".join(map(str, shape)) for mid, _, shape, _, _ in MODELS}
    for mid, *_ in MODELS + [("pipeline",)]:
        line = f"{mid:<14}{shapes.get(mid, 'sum of 3'):<18}"
        for t in threads:
            if mid == "pipeline":
                ort_ms = sum(rows[(m, t)][0] for m, *_ in MODELS)
                tr = [rows[(m, t)][1] for m, *_ in MODELS]
                if ("pipeline", t) in ids and args.criterion:
                    tract_ms = criterion_ms(args.criterion, ids[("pipeline", t)])
                else:
                    tract_ms = None if any(v is None for v in tr) else sum(tr)
            else:
                ort_ms, tract_ms = rows[(mid, t)]
            ratio = None if tract_ms is None else tract_ms / ort_ms
            line += f"{fmt(ort_ms):>10}{fmt(tract_ms):>11}{fmt(ratio, 'x'):>8}"
        print(line)
    if args.criterion:
        print("\ntract ids:", ", ".join(f"{m}:{t}={i}" for (m, t), i in sorted(ids.items())))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{m}:{t}": {"ort_ms": o, "tract_ms": tr} for (m, t), (o, tr) in rows.items()}, f, indent=1)


if __name__ == "__main__":
    main()
