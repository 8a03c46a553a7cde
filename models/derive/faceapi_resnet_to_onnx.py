#!/usr/bin/env python3
"""Rebuild face-api.js' FaceRecognitionNet (dlib ResNet, 128-d) as an ONNX graph.

Usage: faceapi_resnet_to_onnx.py MODEL_DIR OUT.onnx
  MODEL_DIR = package/model of the npm tarball @vladmandic/face-api@1.7.15
  (face_recognition_model-weights_manifest.json + face_recognition_model.bin).

The weights are not a graph model: the manifest lists named tensors (most of them
uint8-quantised, value = q * scale + min) and the forward pass lives in TypeScript
(src/faceRecognitionNet/*.ts). This script transcribes that forward pass 1:1 with
onnx.helper, including face-api's quirks:
  * input NHWC 1x150x150x3, RGB 0..255; (x - mean_rgb) / 255 is inside the graph;
  * conv -> + bias -> * scale -> + scale bias (-> relu);
  * residualDown: stride-2 VALID conv branch, 2x2 avg-pool shortcut whose channel
    deficit is zero-padded, and the conv branch zero-padded by one row/column at the
    bottom/right when the pool and conv spatial sizes disagree;
  * global mean over H, W, then a 256x128 MatMul -> `descriptor` [1,128] (not normalised).
The output is deterministic: same inputs give a byte-identical file.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MEAN_RGB = [122.782, 117.001, 104.298]
DOC = ("face-api.js FaceRecognitionNet (port of dlib dlib_face_recognition_resnet_model_v1, "
       "weights by Davis King, public domain per davisking/dlib-models), weights "
       "uint8-dequantized from npm @vladmandic/face-api@1.7.15")


def load_weights(model_dir):
    """Decode the tfjs weights manifest the way tfjs-core io.decodeWeights does."""
    manifest_path = os.path.join(model_dir, "face_recognition_model-weights_manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    weights = {}
    for group in manifest:
        blob = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for spec in group["weights"]:
            shape = spec["shape"]
            n = int(np.prod(shape)) if shape else 1
            q = spec.get("quantization")
            if q is not None:
                if q["dtype"] != "uint8":
                    raise SystemExit(f"unsupported quantisation {q['dtype']} for {spec['name']}")
                raw = np.frombuffer(blob, dtype=np.uint8, count=n, offset=off)
                off += n
                # float32 arithmetic, as tfjs' dequantisation on a float32 tensor
                val = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
            else:
                if spec["dtype"] != "float32":
                    raise SystemExit(f"unsupported dtype {spec['dtype']} for {spec['name']}")
                val = np.frombuffer(blob, dtype="<f4", count=n, offset=off).copy()
                off += 4 * n
            weights[spec["name"]] = val.reshape(shape)
        if off != len(blob):
            raise SystemExit(f"weights manifest covers {off} bytes, blob has {len(blob)}")
    return weights


class Builder:
    def __init__(self, w):
        self.w = w
        self.nodes = []
        self.inits = []
        self.count = 0

    def _next(self):
        self.count += 1
        return self.count

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type, inputs, **attrs):
        name = f"{op_type}_{self._next()}"
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def conv(self, x, prefix, stride, relu, valid):
        w = self.w
        filt = w[f"{prefix}/conv/filters"]                 # HWIO
        k = filt.shape[0]
        wn = self.init(f"{prefix}/w", np.ascontiguousarray(filt.transpose(3, 2, 0, 1)))
        bn = self.init(f"{prefix}/b", w[f"{prefix}/conv/bias"].astype(np.float32))
        c = filt.shape[3]
        sn = self.init(f"{prefix}/s", w[f"{prefix}/scale/weights"].reshape(1, c, 1, 1).astype(np.float32))
        sbn = self.init(f"{prefix}/sb", w[f"{prefix}/scale/biases"].reshape(1, c, 1, 1).astype(np.float32))
        p = 0 if valid else (k - 1) // 2
        out = self.op("Conv", [x, wn, bn], kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p])
        out = self.op("Mul", [out, sn])
        out = self.op("Add", [out, sbn])
        if relu:
            out = self.op("Relu", [out])
        return out

    def residual(self, x, prefix):
        out = self.conv(x, f"{prefix}/conv1", 1, True, False)
        out = self.conv(out, f"{prefix}/conv2", 1, False, False)
        out = self.op("Add", [out, x])
        return self.op("Relu", [out])

    def residual_down(self, x, prefix, in_c, in_hw):
        out = self.conv(x, f"{prefix}/conv1", 2, True, True)
        out = self.conv(out, f"{prefix}/conv2", 1, False, False)
        out_c = self.w[f"{prefix}/conv2/conv/filters"].shape[3]
        conv_hw = (in_hw - 3) // 2 + 1
        pool_hw = in_hw // 2
        pooled = self.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0])
        if pool_hw != conv_hw:
            d = pool_hw - conv_hw
            pn = self.init(f"pads_hw_{self._next()}", np.array([0, 0, 0, 0, 0, 0, d, d], np.int64))
            out = self.op("Pad", [out, pn])
        if in_c != out_c:
            pn = self.init(f"pads_c_{self._next()}", np.array([0, 0, 0, 0, 0, out_c - in_c, 0, 0], np.int64))
            pooled = self.op("Pad", [pooled, pn])
        out = self.op("Add", [pooled, out])
        return self.op("Relu", [out]), out_c, pool_hw


def build(model_dir):
    b = Builder(load_weights(model_dir))
    mean = b.init("mean_rgb", np.array(MEAN_RGB, np.float32).reshape(1, 3, 1, 1))
    c255 = b.init("c255", np.array([255.0], np.float32))
    x = b.op("Transpose", ["input"], perm=[0, 3, 1, 2])
    x = b.op("Sub", [x, mean])
    x = b.op("Div", [x, c255])
    x = b.conv(x, "conv32_down", 2, True, True)                       # 150 -> 72
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0])  # -> 35
    c, hw = 32, 35
    for p in ("conv32_1", "conv32_2", "conv32_3"):
        x = b.residual(x, p)
    x, c, hw = b.residual_down(x, "conv64_down", c, hw)
    for p in ("conv64_1", "conv64_2", "conv64_3"):
        x = b.residual(x, p)
    x, c, hw = b.residual_down(x, "conv128_down", c, hw)
    for p in ("conv128_1", "conv128_2"):
        x = b.residual(x, p)
    x, c, hw = b.residual_down(x, "conv256_down", c, hw)
    for p in ("conv256_1", "conv256_2"):
        x = b.residual(x, p)
    x, c, hw = b.residual_down(x, "conv256_down_out", c, hw)
    x = b.op("ReduceMean", [x], axes=[2, 3], keepdims=0)
    fc = b.init("fc", b.w["fc"].astype(np.float32))
    b.nodes.append(helper.make_node("MatMul", [x, fc], ["descriptor"], name="fc_matmul"))
    graph = helper.make_graph(
        b.nodes, "faceapi_face_recognition_resnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 150, 150, 3])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, [1, 128])],
        initializer=b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="faceapi_resnet_to_onnx.py", doc_string=DOC)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    model = build(sys.argv[1])
    with open(sys.argv[2], "wb") as f:
        f.write(model.SerializeToString())


if __name__ == "__main__":
    main()
