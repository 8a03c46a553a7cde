#!/usr/bin/env python3
"""Make the tract-vs-onnxruntime parity fixtures for every shipped model.

Usage (from the repository root, Python 3.11):
  python3 -m venv /tmp/parity-venv
  /tmp/parity-venv/bin/pip install -r tests/data/parity/requirements.txt
  /tmp/parity-venv/bin/python tests/data/parity/make_parity.py

For each model it writes, into tests/data/parity/:
  * <model>.input.png: the model input as a lossless 8-bit RGB PNG at exactly the model's
    input size, so Rust and Python decode identical pixels;
  * <model>.<output>.f32: onnxruntime's output for that input, raw little-endian float32;
  * index.json: per model the input name, layout, shape, normalisation, every output's name,
    shape, file and value range, and the tolerance tests/model_parity.rs applies.
The inputs come from tests/data/obama.jpg and shapes/preprocessing follow docs/vision.md
(the vision engine's contract): CenterFace letterboxed to 320x256 (NCHW, RGB raw 0..255);
FaceMesh 192x192 crop, box x1.4 eye-levelled (NHWC, RGB/255); recognition 150x150 dlib chip
from the 5 CenterFace landmarks (NHWC, RGB raw 0..255). The crops are made here with Pillow;
they only need to be realistic face inputs, the parity test feeds the PNG pixels as they are.
Everything is deterministic: re-running gives the same files.
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ort.set_default_logger_severity(3)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MODELS = os.path.join(ROOT, "models")
SOURCE = os.path.join(ROOT, "tests", "data", "obama.jpg")
DLIB_150 = np.array([(47.549, 46.599), (100.476, 46.599), (74.013, 76.563),
                     (50.415, 103.023), (97.610, 103.023)], np.float64)
# |tract - onnxruntime| <= REL_TOL * max(1, max |reference|), per output
REL_TOL = 1e-4


def session(model_or_path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    src = model_or_path if isinstance(model_or_path, (str, bytes)) else model_or_path.SerializeToString()
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def centerface_session(h, w):
    """CenterFace declares [10,3,32,32]; onnxruntime needs the real dims (tract ignores them)."""
    m = onnx.load(os.path.join(MODELS, "centerface.onnx"))
    # IR 4 lists every initializer as a graph input too; drop those so onnxruntime folds them
    inits = {t.name for t in m.graph.initializer}
    real = [i for i in m.graph.input if i.name not in inits]
    m.graph.ClearField("input")
    m.graph.input.extend(real)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    for d, v in zip(dims, (1, 3, h, w)):
        d.dim_value = v
    for o in m.graph.output:
        for d in o.type.tensor_type.shape.dim:
            d.dim_param = "d"
    return session(m)


def letterbox(img, w, h):
    s = min(w / img.width, h / img.height)
    rw, rh = max(1, round(img.width * s)), max(1, round(img.height * s))
    canvas = Image.new("RGB", (w, h), (0, 0, 0))
    canvas.paste(img.resize((rw, rh), Image.BILINEAR, reducing_gap=None), (0, 0))
    return canvas, s


def decode_centerface(outs, thresh=0.5):
    heat, scale, off, lms = (o[0] for o in outs)
    faces = []
    for y, x in zip(*np.where(heat[0] > thresh)):
        s0, s1 = np.exp(scale[0, y, x]) * 4, np.exp(scale[1, y, x]) * 4
        x1 = (x + off[1, y, x] + 0.5) * 4 - s1 / 2
        y1 = (y + off[0, y, x] + 0.5) * 4 - s0 / 2
        pts = [(lms[2 * j + 1, y, x] * s1 + x1, lms[2 * j, y, x] * s0 + y1) for j in range(5)]
        faces.append((float(heat[0, y, x]), (x1, y1, x1 + s1, y1 + s0), pts))
    faces.sort(key=lambda f: -f[0])
    if not faces:
        raise SystemExit("CenterFace found no face in the parity image")
    return faces[0]


def similarity(src, dst):
    """4-DoF similarity (Umeyama) mapping src points onto dst; returns 2x3 matrix."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    sc, dc = src - ms, dst - md
    cov = dc.T @ sc / len(src)
    u, d, vt = np.linalg.svd(cov)
    sgn = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sgn[1, 1] = -1
    r = u @ sgn @ vt
    k = np.trace(np.diag(d) @ sgn) / sc.var(0).sum()
    t = md - k * r @ ms
    return np.hstack([k * r, t[:, None]])


def warp(img, m, size):
    """Pixel-index convention: chip pixel (u,v) samples image point inv(m)(u,v)."""
    a = np.vstack([m, [0, 0, 1]])
    inv = np.linalg.inv(a)
    # PIL's AFFINE works on pixel-corner coordinates: shift by half a pixel on both sides
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    coeffs = (shift @ inv @ unshift)[:2].ravel()
    return img.transform((size, size), Image.AFFINE, tuple(coeffs), resample=Image.BILINEAR, fillcolor=(0, 0, 0))


def save_outputs(model, sess, x, index_entry):
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    for meta, val in zip(sess.get_outputs(), outs):
        fname = f"{model}.{meta.name.replace(':', '_').replace('.', '_')}.f32"
        val = np.ascontiguousarray(val, dtype="<f4")
        val.tofile(os.path.join(HERE, fname))
        index_entry["outputs"].append({
            "name": meta.name, "shape": list(val.shape), "file": fname,
            "min": float(val.min()), "max": float(val.max()),
        })
    return outs


def png_pixels(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)


def main():
    img = Image.open(SOURCE).convert("RGB")
    index = {"generator": "tests/data/parity/make_parity.py", "onnxruntime": ort.__version__,
             "source_image": "tests/data/obama.jpg", "rel_tol": REL_TOL,
             "tolerance_rule": "|tract - ort| <= rel_tol * max(1, max|ref|) per output",
             "models": []}

    # CenterFace: letterbox 320x256 (W x H), NCHW raw 0..255
    det_png = "centerface.input.png"
    lb, s = letterbox(img, 320, 256)
    lb.save(os.path.join(HERE, det_png), optimize=True)
    px = png_pixels(os.path.join(HERE, det_png))
    x = np.ascontiguousarray(px.transpose(2, 0, 1)[None])
    entry = {"model": "centerface.onnx", "input_png": det_png, "input_name": "input.1",
             "shape": [1, 3, 256, 320], "layout": "NCHW", "scale": 1.0, "offset": 0.0,
             "normalisation": "RGB raw 0..255", "outputs": []}
    outs = save_outputs("centerface", centerface_session(256, 320), x, entry)
    index["models"].append(entry)
    score, box, pts = decode_centerface(outs)
    pts_img = [(px_ / s, py_ / s) for px_, py_ in pts]
    box_img = [v / s for v in box]

    # recognition: 150x150 dlib chip, NHWC raw 0..255
    rec_png = "faceapi-recognition.input.png"
    warp(img, similarity(pts_img, DLIB_150), 150).save(os.path.join(HERE, rec_png), optimize=True)
    x = np.ascontiguousarray(png_pixels(os.path.join(HERE, rec_png))[None])
    entry = {"model": "faceapi-recognition.onnx", "input_png": rec_png, "input_name": "input",
             "shape": [1, 150, 150, 3], "layout": "NHWC", "scale": 1.0, "offset": 0.0,
             "normalisation": "RGB raw 0..255 (mean/255 inside the graph)", "outputs": []}
    save_outputs("faceapi-recognition", session(os.path.join(MODELS, "faceapi-recognition.onnx")), x, entry)
    index["models"].append(entry)

    # FaceMesh: box x1.4 square, eye-levelled, 192x192, NHWC RGB/255
    mesh_png = "human-facemesh.input.png"
    cx, cy = (box_img[0] + box_img[2]) / 2, (box_img[1] + box_img[3]) / 2
    side = 1.4 * max(box_img[2] - box_img[0], box_img[3] - box_img[1])
    (lx, ly), (rx, ry) = pts_img[0], pts_img[1]
    ang = np.arctan2(ry - ly, rx - lx)
    k = 192.0 / side
    c, sn = np.cos(-ang) * k, np.sin(-ang) * k
    # image -> crop: rotate by -ang about the box centre, scale k, centre at (95.5, 95.5)
    m = np.array([[c, -sn, 95.5 - (c * cx - sn * cy)], [sn, c, 95.5 - (sn * cx + c * cy)]])
    warp(img, m, 192).save(os.path.join(HERE, mesh_png), optimize=True)
    x = np.ascontiguousarray((png_pixels(os.path.join(HERE, mesh_png)) / np.float32(255.0))[None])
    entry = {"model": "human-facemesh.onnx", "input_png": mesh_png, "input_name": "input_1:0",
             "shape": [1, 192, 192, 3], "layout": "NHWC", "scale": 1.0 / 255.0, "offset": 0.0,
             "normalisation": "RGB / 255 (0..1), computed in float32 as v / 255.0", "outputs": []}
    save_outputs("human-facemesh", session(os.path.join(MODELS, "human-facemesh.onnx")), x, entry)
    index["models"].append(entry)

    with open(os.path.join(HERE, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"detector score {score:.3f}, box {[round(v, 1) for v in box_img]}")


if __name__ == "__main__":
    main()
