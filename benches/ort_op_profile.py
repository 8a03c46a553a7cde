#!/usr/bin/env python3
"""onnxruntime's own time per operator kind and per node on one of facelite's models.

The counterpart of `cargo bench --bench model_ops` (tract's time per operator): the two side by
side show which layers onnxruntime runs faster, which is where tract's plan has room left.

Usage (from the repository root, with the venv of benches/compare_onnxruntime.py):
  /tmp/ort-venv/bin/python benches/ort_op_profile.py centerface 1
  /tmp/ort-venv/bin/python benches/ort_op_profile.py recognition 2 --nodes 30

Sessions are set up as compare_onnxruntime.py's model timings (all graph optimisations,
sequential execution, the given intra-op thread count) with onnxruntime's profiler on; the input
is the model's parity fixture. Per node: the median kernel time over the runs after the warm-up.
Convolutions are told apart by their weights: "Conv 1x1", "Conv depthwise" (one input channel
per group) or "Conv OxIxKHxKW". Times include the profiler's own overhead, a few microseconds
per node.
"""

import argparse
import collections
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_onnxruntime as compare  # noqa: E402

import onnxruntime as ort  # noqa: E402


def kind_of(event):
    args = event["args"]
    op = args.get("op_name", "?")
    if op != "Conv":
        return op
    shapes = [list(d.values())[0] for d in args.get("input_type_shape", [])]
    w = shapes[1] if len(shapes) > 1 else []
    if len(w) != 4:
        return "Conv"
    if w[1] == 1:
        return "Conv depthwise"
    if w[2:] == [1, 1]:
        return "Conv 1x1"
    return "Conv " + "x".join(str(d) for d in w)


def main():
    models = {m[0]: m for m in compare.MODELS}
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=sorted(models))
    ap.add_argument("threads", type=int, nargs="?", default=1)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=20, help="slowest nodes to list")
    a = ap.parse_args()

    _, file, shape, layout, scale = models[a.model]
    model_bytes = compare.load_model(os.path.join(compare.ROOT, "models", file), shape)
    x = compare.fixture_input(file, shape, layout, scale)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join("/tmp", f"ort_op_profile_{os.getpid()}")
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(a.warmup + a.runs):
        sess.run(None, feed)
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    os.remove(path)

    times = collections.defaultdict(list)
    kinds, shapes = {}, {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        node = e["name"][: -len("_kernel_time")]
        times[node].append(e["dur"] / 1000.0)
        kinds[node] = kind_of(e)
        shapes[node] = [list(d.values())[0] for d in e["args"].get("output_type_shape", [])]
    median = {n: statistics.median(v[a.warmup:] or v) for n, v in times.items()}

    per_kind = collections.defaultdict(float)
    count = collections.Counter()
    for n, ms in median.items():
        per_kind[kinds[n]] += ms
        count[kinds[n]] += 1
    total = sum(median.values())
    print(f"{a.model} ({file}, input {list(shape)}), onnxruntime {ort.__version__}, "
          f"{a.threads} thread(s): sum of node medians {total:.2f} ms over {a.runs} runs")
    for k, ms in sorted(per_kind.items(), key=lambda t: -t[1]):
        print(f"  {k:<30}{count[k]:>4} nodes {ms:8.2f} ms {100 * ms / total:6.1f}%")
    print("  slowest nodes:")
    for n, ms in sorted(median.items(), key=lambda t: -t[1])[: a.nodes]:
        print(f"    {ms:7.3f} ms  {kinds[n]:<20} {n}  -> {shapes[n]}")


if __name__ == "__main__":
    main()
