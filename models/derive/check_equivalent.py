#!/usr/bin/env python3
"""Check that a re-derived ONNX file is the same model as the shipped one.

Usage: check_equivalent.py SHIPPED.onnx DERIVED.onnx [TOL]

Used by derive.sh when the sha256 of a converted file differs from the shipped one.
Two checks, both must pass:
  1. structure: both files rewritten by canon_onnx.canonicalize() give identical bytes,
     i.e. the same graph (ops, attributes, wiring) with bit-identical weights; only node
     order and names may differ;
  2. numbers: onnxruntime outputs of both files on three fixed inputs (seeded uniform
     noise in the input's value range 0..1, 0..255 and a constant) agree within TOL
     (default 1e-5, absolute).
Exit status 0 = equivalent, 1 = not.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canon_onnx import canonicalize  # noqa: E402


def canon_bytes(path):
    return canonicalize(onnx.load(path)).SerializeToString()


def fixed_inputs(sess):
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    rng = np.random.default_rng(20261125)
    return inp.name, [
        rng.random(shape, dtype=np.float32),
        (rng.random(shape, dtype=np.float32) * 255.0).astype(np.float32),
        np.full(shape, 0.5, np.float32),
    ]


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    shipped, derived = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) == 4 else 1e-5
    same_structure = canon_bytes(shipped) == canon_bytes(derived)
    print(f"  structure (canonical form): {'identical' if same_structure else 'DIFFERENT'}")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    a = ort.InferenceSession(shipped, opts, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(derived, opts, providers=["CPUExecutionProvider"])
    name, inputs = fixed_inputs(a)
    names_a = [o.name for o in a.get_outputs()]
    names_b = [o.name for o in b.get_outputs()]
    if names_a != names_b:
        print(f"  outputs differ: {names_a} vs {names_b}")
        return 1
    worst = 0.0
    for x in inputs:
        for oa, ob in zip(a.run(None, {name: x}), b.run(None, {name: x})):
            if oa.shape != ob.shape:
                print(f"  output shapes differ: {oa.shape} vs {ob.shape}")
                return 1
            worst = max(worst, float(np.max(np.abs(oa.astype(np.float64) - ob.astype(np.float64)))))
    ok_numbers = worst <= tol
    print(f"  onnxruntime outputs: max |diff| {worst:.3g} (tolerance {tol:g}) -> {'ok' if ok_numbers else 'FAIL'}")
    return 0 if (same_structure and ok_numbers) else 1


if __name__ == "__main__":
    sys.exit(main())
