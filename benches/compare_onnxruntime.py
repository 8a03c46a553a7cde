#!/usr/bin/env python3
"""Time onnxruntime on facelite's models and on a reference pipeline; compare with tract's criterion results.

Usage (Python 3.11, from the repository root):
  python3 -m venv /tmp/ort-venv && /tmp/ort-venv/bin/pip install -r benches/requirements-compare.txt
  cargo bench --bench models_raw            # tract side (optional; also: --bench vision)
  /tmp/ort-venv/bin/python benches/compare_onnxruntime.py [--criterion target/criterion] [--preset vision]
  /tmp/ort-venv/bin/python benches/compare_onnxruntime.py --check [--facelite target/release/facelite]
  /tmp/ort-venv/bin/python benches/compare_onnxruntime.py --alternate 10 --bench-binary BIN
      (BIN: the path `cargo bench --bench vision --no-run` prints; end-to-end rounds, see --help)

Models. Same ONNX files (models/*.onnx), same pinned input shapes as the Rust pipeline
(docs/vision.md, "Pipeline": CenterFace 1x3x256x320 NCHW RGB 0..255, FaceMesh 1x192x192x3 RGB/255,
recognition 1x150x150x3 RGB 0..255) and the same input tensors as benches/models_raw.rs and
tests/model_parity.rs (the PNG fixtures of tests/data/parity/). onnxruntime: CPU provider,
all graph optimisations, sequential execution, intra_op_num_threads = 1 and 2,
inter_op_num_threads = 1. Per model: median of --runs (20) timed runs after --warmup (3)
runs. The "models only" row is the sum detector + FaceMesh + recognition (one face): model runs
only, no decode and no pre/post-processing.

Reference pipeline (ORT+OpenCV, end to end). What a competent integrator would write in Python
with onnxruntime, OpenCV (cv2.setNumThreads = the ORT thread count) and numpy, doing the work of
tract's `vision/t<n>_pipeline` (Engine::decode_image + Engine::analyze_with_mesh) on
tests/data/obama.jpg (910x1137, one face), from the JPEG bytes in memory to a 128-d embedding and
468 mesh points. obama.jpg restarts its Huffman data at every MCU row, as camera JPEGs often do,
so at n threads tract decodes it in n bands side by side (src/vision/jpeg_bands.rs); OpenCV
decodes it whole. Timed like the models (median of --runs after --warmup runs), per stage too.
The three sessions are set up like the models' above except that their intra-op threads do not
spin after a run (session.intra_op.allow_spinning = 0): with spinning, each session's idle pool
keeps a core busy after its run, and at 2 threads on 2 cores the pipeline took ~62 ms instead of
~32 (decode and FaceMesh slowed ~2x by the spinning threads of the other sessions).
  decode        cv2.imdecode(IMREAD_COLOR): BGR uint8 with the EXIF orientation applied, like
                src/vision/decode.rs. The image stays BGR; every tensor below is written in RGB
                order by flipping the channels of the small resized/warped image.
  detect pre    letterbox as src/vision/resize.rs: scale = min(W/w, H/h) in f32, resized size
                rounded, top-left, black padding, NCHW RGB 0..255 float; 320x256 (WxH) for
                landscape, 256x320 (tensor 1x3x320x256) for portrait images. The shrink is done
                in two cv2.resize(INTER_AREA) steps like resize.rs: first by its integer part k
                (3 for obama.jpg) with OpenCV's exact k x k box mean, then area-resampled to the
                final size (2.4 ms in all on this 2-core machine, against 4.0 ms for a single
                fractional INTER_AREA resize of the full image). Differences from tract: its
                second step is a triangle filter (the tensors differ by ~1.3 grey levels on
                average, the detected landmarks by ~1 px), and it averages the last w % k columns
                and h % k rows as a partial block where OpenCV leaves them out (a geometry shift
                of at most (k-1)/w). ORT runs the model at the portrait shape (tract runs a
                transposed network instead, with identical results).
  detect model  the CenterFace session (portrait and landscape sessions built at start; the
                640x512 fallback of detect.rs, used when the primary size finds no face, is built
                on first use and is not exercised by obama.jpg).
  detect post   numpy, as detect.rs: heat > 0.5, box = exp(scale) x 4 around (cell + offset + 0.5)
                x 4, 5 landmarks, greedy NMS at IoU 0.3 (best score first; cv2.dnn.NMSBoxes,
                same rule as detect.rs `nms`), boxes clipped to the image, then the subject of
                src/vision/subject.rs (largest area x score).
  align         Umeyama similarity (closed form, as warp.rs `similarity`) from the 5 landmarks to
                the dlib 150-px template of embed.rs, then the warp of warp.rs
                `warp_to_tensor`: when the map shrinks by s >= 2 the face region (chip corners +
                2k px margin) is first box-averaged by k = floor(s) with cv2.resize(INTER_AREA)
                (an exact k x k box mean, like resize.rs `box_reduce`), then cv2.warpAffine
                (INTER_LINEAR, black border, 8-bit result) maps it to 150x150; RGB 0..255 NHWC
                float (tract samples in float: 0.25 grey levels apart on average). For
                1.5 < s < 2 tract averages 2x2 bilinear samples per pixel; this script pre-shrinks
                the region by s with INTER_AREA instead (not exercised by obama.jpg: s = 2.2).
  embed model   the recognition session and the L2 normalisation (tract's embed_net bench also
                includes both).
  mesh crop     mesh.rs `crop_transform`: square of 1.4 x the larger box side centred on the box,
                rotated so the detector's eye line is level, to 192x192; the same warp as align
                (here s = 2.4: 2x box pre-shrink, then bilinear), RGB / 255 NHWC float.
  mesh model    the FaceMesh session, and the 468 points mapped back to image pixels (z scaled
                by the crop's zoom), as mesh.rs.
Not in the reference pipeline: tract's analyze also computes the face quality measures
(`vision/t<n>_quality`, ~0.3 ms, printed for reference) and the FaceTooSmall check, and its mesh
stage the mesh measures (yaw, eye openness, ...; microseconds), which here only --check computes. At 2
threads tract's pipeline (engine.rs `analyze_with_mesh`) runs FaceMesh on one thread beside the
embedder, which splits its layers across the pool; the reference pipeline runs its three
sessions one after the other, each with the same thread count.

--check runs a facelite binary's `analyze --dump-tensors` on obama.jpg and prints how closely the
reference pipeline agrees with tract: the detector input, chip and FaceMesh input tensors (max /
mean absolute difference), box and landmarks (pixels), the embedding (cosine against ORT on
tract's own chip tensor), the mesh points (pixels, against ORT on tract's own crop tensor mapped
back with tract's crop) and the mesh measures against tract's. Then step by step, each stage
given the other pipeline's intermediate result: ORT's detector and this post-processing on
tract's detector input; the warps from tract's landmarks; and, with OpenCV's decoded pixels
handed to facelite as a PNG, the decoders, the letterbox and the warps alone. Exit status 1 if
the pipelines disagree (another face, landmarks more than 2 px apart, cosine <= 0.99).

With --criterion DIR it reads tract's medians from DIR/<group>/<function>/new/estimates.json
and prints tract/onnxruntime per model and for the pipeline. Default ids are those of
benches/models_raw.rs (`models_raw_<n>t/<centerface|facemesh|recognition>`); override with
--tract-id MODEL:THREADS=GROUP/FUNCTION, or use --preset vision for
benches/vision.rs (`vision/t<n>_detect`, `vision/t<n>_mesh`, `vision/t<n>_embed_net` — stage times
that include each stage's pre/post-processing, so their "models only" sum is not models only).
The end-to-end row is set against `vision/t<n>_pipeline` (the whole decode + detect + align +
embed + quality + mesh; id `pipeline`) and the stage table against the other `vision/` stage
benches, whatever the preset, when DIR has them. Criterion turns '/' inside a function name
into '_' in directory names, hence `t1_detect` for `t1/detect`.
CenterFace is IR 4 and lists its initializers as graph inputs, which stops onnxruntime from
constant-folding them; like make_parity.py this script removes them from the inputs first
(otherwise onnxruntime is measured handicapped).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PARITY = os.path.join(ROOT, "tests", "data", "parity")
PIPELINE_IMAGE = os.path.join(ROOT, "tests", "data", "obama.jpg")
MODELS = [  # id, file, shape, layout, scale
    ("centerface", "centerface.onnx", (1, 3, 256, 320), "NCHW", 1.0),
    ("facemesh", "human-facemesh.onnx", (1, 192, 192, 3), "NHWC", 1.0 / 255.0),
    ("recognition", "faceapi-recognition.onnx", (1, 150, 150, 3), "NHWC", 1.0),
]

# The Rust pipeline's constants (src/vision/detect.rs, embed.rs, mesh.rs).
SCORE_THRESHOLD = 0.5
NMS_IOU = 0.3
DETECT_PRIMARY = (320, 256)  # width, height (landscape; portrait is transposed)
DETECT_FALLBACK = (640, 512)
CHIP = 150
DLIB_150_TEMPLATE = np.array([
    [47.549, 46.599], [100.476, 46.599], [74.013, 76.563], [50.415, 103.023], [97.610, 103.023],
], np.float64)
MESH_SIZE = 192
MESH_CROP_SCALE = 1.4
MESH_POINTS = 468
STAGES = ["decode", "detect pre", "detect model", "detect post", "align", "embed model",
          "mesh crop", "mesh model"]


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


def session(model_bytes, threads, spin=True):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def time_model(model_bytes, x, threads, runs, warmup):
    sess = session(model_bytes, threads)
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


# ---- reference pipeline: onnxruntime + OpenCV + numpy -------------------------------------------

def similarity(src, dst):
    """Least-squares similarity src -> dst (Umeyama, closed form in 2-D) as a 2x3 matrix."""
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    sxx = float((s * s).sum())
    if sxx < 1e-9:
        return None
    a = float((s * d).sum()) / sxx
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / sxx
    return np.array([[a, -b, md[0] - (a * ms[0] - b * ms[1])],
                     [b, a, md[1] - (b * ms[0] + a * ms[1])]], np.float64)


def warp(img, to_out, size):
    """img (uint8, HxWx3) through the 2x3 map `to_out` (image -> output pixel centres) into a
    size x size uint8 image; a shrink s >= 2 is box-averaged by floor(s) first (see the docstring)."""
    inv = cv2.invertAffineTransform(to_out)
    shrink = 1.0 / math.sqrt(abs(np.linalg.det(to_out[:, :2])))
    if shrink > 1.5:
        h, w = img.shape[:2]
        k = min(math.floor(shrink), 32) if shrink >= 2 else shrink
        corners = np.array([[-1, -1], [size, -1], [-1, size], [size, size]], np.float64)
        pts = corners @ inv[:, :2].T + inv[:, 2]
        margin = 2.0 * math.ceil(k)
        x0 = math.floor(max(pts[:, 0].min() - margin, 0.0))
        y0 = math.floor(max(pts[:, 1].min() - margin, 0.0))
        x1 = math.ceil(min(pts[:, 0].max() + margin, w))
        y1 = math.ceil(min(pts[:, 1].max() + margin, h))
        sw, sh = int((x1 - x0) // k), int((y1 - y0) // k)
        if sw > 0 and sh > 0:
            # Integer k: a region of exactly sw*k x sh*k pixels (an exact box mean); otherwise the
            # whole region, area-resampled by its own ratio.
            rw, rh = (sw * k, sh * k) if isinstance(k, int) else (x1 - x0, y1 - y0)
            small = cv2.resize(img[y0:y0 + rh, x0:x0 + rw], (sw, sh), interpolation=cv2.INTER_AREA)
            fx, fy = rw / sw, rh / sh
            # Reduced pixel i covers image pixels x0 + i*fx .. x0 + (i+1)*fx: centre to centre.
            from_img = np.array([[1 / fx, 0, (0.5 - x0) / fx - 0.5],
                                 [0, 1 / fy, (0.5 - y0) / fy - 0.5]], np.float64)
            to_small = from_img[:, :2] @ inv
            to_small[:, 2] += from_img[:, 2]
            return cv2.warpAffine(small, to_small, (size, size),
                                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.warpAffine(img, inv, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def letterbox(img, width, height):
    """NCHW RGB 0..255 float tensor of `img` (BGR uint8) letterboxed top-left into width x height."""
    h, w = img.shape[:2]
    scale = min(np.float32(width) / np.float32(w), np.float32(height) / np.float32(h))
    rw = min(max(math.floor(float(np.float32(w) * scale) + 0.5), 1), width)
    rh = min(max(math.floor(float(np.float32(h) * scale) + 0.5), 1), height)
    k = max(1, min(math.floor(min(w / rw, h / rh)), 32))
    if k >= 2:
        # The integer part of the shrink first, as resize.rs: an exact k x k box mean (OpenCV's
        # fast INTER_AREA path; the last w % k columns and h % k rows are left out).
        img = cv2.resize(img[:h // k * k, :w // k * k], (w // k, h // k), interpolation=cv2.INTER_AREA)
    small = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_AREA)
    x = np.zeros((1, 3, height, width), np.float32)
    x[0, :, :rh, :rw] = small.transpose(2, 0, 1)[::-1]
    return x, float(scale)


def decode_centerface(outputs, scale, img_w, img_h):
    """CenterFace outputs -> (boxes n x 4, scores n, landmarks n x 5 x 2) in image pixels, best
    first, after NMS and clipping (detect.rs `decode_centerface` + `clamp_to_image`)."""
    heat, sc, off, lm = (o[0] for o in outputs[:4])
    ys, xs = np.nonzero(heat[0] > SCORE_THRESHOLD)
    scores = heat[0, ys, xs]
    s0 = np.exp(sc[0, ys, xs]) * 4.0
    s1 = np.exp(sc[1, ys, xs]) * 4.0
    x1 = (xs + off[1, ys, xs] + 0.5) * 4.0 - s1 / 2.0
    y1 = (ys + off[0, ys, xs] + 0.5) * 4.0 - s0 / 2.0
    lms = np.stack([lm[1::2, ys, xs] * s1 + x1, lm[0::2, ys, xs] * s0 + y1], -1).transpose(1, 0, 2)
    boxes = np.stack([x1, y1, x1 + s1, y1 + s0], 1)
    boxes, lms = boxes / scale, lms / scale
    ok = np.isfinite(boxes).all(1) & np.isfinite(lms).all((1, 2))
    boxes, scores, lms = boxes[ok], scores[ok], lms[ok]
    # Greedy NMS, best score first, kept while IoU <= 0.3 with every kept box (as detect.rs `nms`).
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
    keep = np.array(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), SCORE_THRESHOLD, NMS_IOU),
                    np.int64).reshape(-1)
    boxes, scores, lms = boxes[keep], scores[keep], lms[keep]
    boxes = np.clip(boxes, 0, [img_w, img_h, img_w, img_h])
    ok = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
    return boxes[ok], scores[ok], lms[ok]


def mesh_transform(box, lms):
    """mesh.rs `crop_transform`: image -> 192x192 crop, eye-levelled square of 1.4 x the box."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1, 1.0) * MESH_CROP_SCALE
    angle = math.atan2(lms[1][1] - lms[0][1], lms[1][0] - lms[0][0])
    s = MESH_SIZE / side
    half = MESH_SIZE / 2 - 0.5
    a, b = s * math.cos(-angle), -s * math.sin(-angle)
    d, e = s * math.sin(-angle), s * math.cos(-angle)
    return np.array([[a, b, half - (a * cx + b * cy)], [d, e, half - (d * cx + e * cy)]], np.float64)


def embedding(sess, chip):
    raw = sess.run(None, {sess.get_inputs()[0].name: chip})[0].reshape(-1)
    return raw / np.linalg.norm(raw)


def mesh_points(sess, crop, to_crop):
    outs = sess.run(None, {sess.get_inputs()[0].name: crop})
    pts = next(o for o in outs if o.size == MESH_POINTS * 3).reshape(MESH_POINTS, 3)
    back = cv2.invertAffineTransform(to_crop)
    zscale = 1.0 / math.sqrt(abs(np.linalg.det(to_crop[:, :2])))
    return np.concatenate([pts[:, :2] @ back[:, :2].T + back[:, 2], pts[:, 2:] * zscale], 1)


class RefPipeline:
    """JPEG bytes -> subject embedding + 468 mesh points with onnxruntime, OpenCV and numpy.
    The sessions do not spin: three sessions' spinning intra-op pools fight over the cores."""

    def __init__(self, threads):
        self.threads = threads
        self.det_file = os.path.join(ROOT, "models", "centerface.onnx")
        self.det = {}
        for size in (DETECT_PRIMARY, DETECT_PRIMARY[::-1]):
            self.detector(size)
        self.emb = session(load_model(os.path.join(ROOT, "models", "faceapi-recognition.onnx"),
                                      (1, CHIP, CHIP, 3)), threads, spin=False)
        self.mesh = session(load_model(os.path.join(ROOT, "models", "human-facemesh.onnx"),
                                       (1, MESH_SIZE, MESH_SIZE, 3)), threads, spin=False)

    def detector(self, size):
        if size not in self.det:
            w, h = size
            self.det[size] = session(load_model(self.det_file, (1, 3, h, w)), self.threads, spin=False)
        return self.det[size]

    def run(self, data, stamps=None, keep=None):
        """`stamps` (a list) receives a perf_counter reading after each stage; `keep` (a dict)
        receives the tensors and the detections, for --check."""
        mark = stamps.append if stamps is not None else (lambda _: None)
        clock = time.perf_counter
        mark(clock())
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # BGR
        if img is None:
            raise ValueError("undecodable image")
        h, w = img.shape[:2]
        mark(clock())
        # The primary size, then the fallback size when it finds nothing (timed as "detect post").
        for n, (sw, sh) in enumerate([DETECT_PRIMARY, DETECT_FALLBACK]):
            size = (sh, sw) if h > w else (sw, sh)
            x, scale = letterbox(img, *size)
            if n == 0:
                mark(clock())
            sess = self.detector(size)
            outs = sess.run(None, {sess.get_inputs()[0].name: x})
            if n == 0:
                mark(clock())
            boxes, scores, lms = decode_centerface(outs, scale, w, h)
            if len(boxes):
                break
        if not len(boxes):
            raise ValueError("no face")
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        i = int(np.argmax(area * scores))
        box, lm5 = boxes[i], lms[i].astype(np.float64)
        mark(clock())
        to_chip = similarity(lm5, DLIB_150_TEMPLATE)
        chip = warp(img, to_chip, CHIP)[None, :, :, ::-1].astype(np.float32)
        mark(clock())
        emb = embedding(self.emb, chip)
        mark(clock())
        to_crop = mesh_transform(box, lm5)
        crop = warp(img, to_crop, MESH_SIZE)[None, :, :, ::-1].astype(np.float32) * np.float32(1 / 255)
        mark(clock())
        pts = mesh_points(self.mesh, crop, to_crop)
        mark(clock())
        if keep is not None:
            keep.update(det_input=x, scale=scale, boxes=boxes, scores=scores, landmarks=lms,
                        subject=i, chip=chip, crop=crop, to_crop=to_crop)
        return emb, pts


def time_pipeline(pipe, data, runs, warmup):
    """(median end-to-end ms, {stage: median ms}) over `runs` runs after `warmup` runs."""
    cv2.setNumThreads(pipe.threads)
    for _ in range(warmup):
        pipe.run(data)
    total, per_stage = [], {s: [] for s in STAGES}
    for _ in range(runs):
        stamps = []
        pipe.run(data, stamps)
        total.append((stamps[-1] - stamps[0]) * 1e3)
        for s, a, b in zip(STAGES, stamps, stamps[1:]):
            per_stage[s].append((b - a) * 1e3)
    return statistics.median(total), {s: statistics.median(v) for s, v in per_stage.items()}


# ---- --check: agreement with tract ----------------------------------------------------------------

def mesh_measures(p):
    """mesh.rs `measures` (yaw, pitch, roll, eye/mouth opening, smile width) from 468 points."""
    d2 = lambda a, b: float(np.hypot(*(p[a, :2] - p[b, :2])))
    frac = lambda n, d: n / d if d > 1e-6 else 0.0
    ear_l = frac(d2(160, 144) + d2(158, 153), 2 * d2(33, 133))
    ear_r = frac(d2(385, 380) + d2(387, 373), 2 * d2(362, 263))
    n = np.cross(p[454] - p[234], p[152] - p[10])
    return {
        "yaw": math.degrees(math.atan2(-n[0], n[2])),
        "pitch": math.degrees(math.atan2(n[1], math.hypot(n[0], n[2]))),
        "roll": math.degrees(math.atan2(p[263, 1] - p[33, 1], p[263, 0] - p[33, 0])),
        "eye_openness": (ear_l + ear_r) / 2,
        "mouth_opening": frac(d2(13, 14), d2(78, 308)),
        "smile_width": frac(d2(61, 291), d2(33, 263)),
    }


def find_facelite(arg):
    cands = [arg] if arg else [os.path.join(ROOT, "target", "release", "facelite")] + (
        [os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "facelite")]
        if os.environ.get("CARGO_TARGET_DIR") else [])
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise SystemExit(f"--check: no facelite binary at {', '.join(cands)}; build one "
                     "(cargo build --release) or pass --facelite PATH")


def tract_dump(binary, image):
    """Runs `facelite analyze --dump-tensors` on `image`: (analyze entry, dump JSON, tensors by model)."""
    stem = os.path.splitext(os.path.basename(image))[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([binary, "analyze", "--inference-threads", "1", "--dump-tensors", tmp, image],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        with open(os.path.join(tmp, f"{stem}.json")) as f:
            meta = json.load(f)
        tensors = {}
        for name in os.listdir(tmp):
            if name.endswith(".f32"):
                model, shape = name[len(stem) + 1:-len(".f32")].rsplit(".", 1)
                dims = tuple(int(v) for v in shape.split("x"))
                tensors[model] = np.fromfile(os.path.join(tmp, name), "<f4").reshape(dims)
    return json.loads(out)["images"][0], meta, tensors


def diff_text(ours, theirs, unit=1.0):
    d = np.abs(ours.astype(np.float64) - theirs) * unit
    return f"max |diff| {d.max():6.2f}, mean {d.mean():5.2f}"


def check(args):
    binary = find_facelite(args.facelite)
    rel = os.path.relpath(PIPELINE_IMAGE, ROOT)
    report, meta, dumped = tract_dump(binary, rel)
    cv2.setNumThreads(1)
    pipe = RefPipeline(1)
    with open(PIPELINE_IMAGE, "rb") as f:
        data = f.read()
    keep = {}
    emb, pts = pipe.run(data, keep=keep)
    faces = meta["faces"]
    t_sub = faces[report["subject_index"]]
    t_box, t_lm = np.array(t_sub["bbox"]), np.array(t_sub["landmarks5"])
    failures = []

    print(f"facelite binary: {binary}\nimage: {rel} ({report['width']}x{report['height']}); "
          "tensor differences in grey levels 0..255\n")
    print("end to end (JPEG bytes through each pipeline), model input tensors vs tract's dump:")
    print(f"  {'detector input (letterbox)':<34}{diff_text(keep['det_input'], dumped['centerface'])}"
          f"   scale {keep['scale']:.6f} vs {meta['letterbox_scale']:.6f}")
    print(f"  {'recognition chip (align)':<34}{diff_text(keep['chip'], dumped['faceapi-recognition'])}")
    print(f"  {'FaceMesh crop':<34}{diff_text(keep['crop'], dumped['human-facemesh'], 255)}")

    print("detections:")
    print(f"  faces {len(keep['boxes'])} vs tract {len(faces)}, subject index {keep['subject']} "
          f"vs {report['subject_index']}")
    if len(keep["boxes"]) != len(faces) or keep["subject"] != report["subject_index"]:
        failures.append("a different face count or subject")
    box, lm = keep["boxes"][keep["subject"]], keep["landmarks"][keep["subject"]]
    lm_err = np.hypot(*(lm - t_lm).T)
    print(f"  subject box max |diff| {np.abs(box - t_box).max():.2f} px (box {t_box[2] - t_box[0]:.0f}x"
          f"{t_box[3] - t_box[1]:.0f} px), score {keep['scores'][keep['subject']]:.4f} vs {t_sub['score']:.4f}")
    print("  landmark distances px (eyes, nose, mouth corners): " + ", ".join(f"{v:.2f}" for v in lm_err))
    if lm_err.max() > 2.0:
        failures.append("landmarks more than 2 px apart")

    print("embedding:")
    emb_t = embedding(pipe.emb, dumped["faceapi-recognition"])
    cos = float(emb @ emb_t)
    print(f"  cosine vs ORT on tract's chip {cos:.5f} (L2 distance {np.linalg.norm(emb - emb_t):.4f})")
    if cos <= 0.99:
        failures.append("embedding cosine <= 0.99")

    print("FaceMesh:")
    t_to_crop = mesh_transform(t_box, t_lm)
    pts_t = mesh_points(pipe.mesh, dumped["human-facemesh"], t_to_crop)
    perr = np.hypot(*(pts[:, :2] - pts_t[:, :2]).T)
    print(f"  468 points vs ORT on tract's crop (mapped back with tract's crop): max {perr.max():.2f} px, "
          f"mean {perr.mean():.2f} px")
    ours_m, theirs_m = mesh_measures(pts), report["mesh"]["measures"]
    print("  measures, ours/tract's: " + ", ".join(f"{k} {v:.3f}/{theirs_m[k]:.3f}" for k, v in ours_m.items()))

    # Where the differences come from: each step on the other pipeline's intermediate result.
    print("\nstep by step:")
    det = pipe.detector((dumped["centerface"].shape[3], dumped["centerface"].shape[2]))
    o_boxes, o_scores, o_lms = decode_centerface(
        det.run(None, {det.get_inputs()[0].name: dumped["centerface"]}),
        meta["letterbox_scale"], report["width"], report["height"])
    j = int(np.argmax((o_boxes[:, 2] - o_boxes[:, 0]) * (o_boxes[:, 3] - o_boxes[:, 1]) * o_scores))
    print(f"  ORT detector + numpy/OpenCV post on tract's detector input: box max |diff| "
          f"{np.abs(o_boxes[j] - t_box).max():.3f} px, landmarks max {np.hypot(*(o_lms[j] - t_lm).T).max():.3f} px, "
          f"score {o_scores[j]:.4f}")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    chip = warp(img, similarity(t_lm, DLIB_150_TEMPLATE), CHIP)[None, :, :, ::-1]
    crop = warp(img, t_to_crop, MESH_SIZE)[None, :, :, ::-1] / np.float32(255)
    print(f"  align/crop warps from tract's landmarks (OpenCV's JPEG decode): chip "
          f"{diff_text(chip, dumped['faceapi-recognition'])}; crop {diff_text(crop, dumped['human-facemesh'], 255)}")
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "decoded.png")
        cv2.imwrite(png, img)
        _, meta_p, dumped_p = tract_dump(binary, png)
        x, _ = letterbox(img, dumped_p["centerface"].shape[3], dumped_p["centerface"].shape[2])
        f = meta_p["faces"][0]
        p_box, p_lm = np.array(f["bbox"]), np.array(f["landmarks5"])
        chip = warp(img, similarity(p_lm, DLIB_150_TEMPLATE), CHIP)[None, :, :, ::-1]
        crop = warp(img, mesh_transform(p_box, p_lm), MESH_SIZE)[None, :, :, ::-1] / np.float32(255)
    print("  tract given OpenCV's decoded pixels (as PNG), so both start from the same image:")
    print(f"    decoders (tract's letterbox of its own vs of OpenCV's decode)  "
          f"{diff_text(dumped_p['centerface'], dumped['centerface'])}")
    print(f"    letterbox alone (box + INTER_AREA vs tract's box + triangle)    "
          f"{diff_text(x, dumped_p['centerface'])}")
    print(f"    chip warp alone (same landmarks)                               "
          f"{diff_text(chip, dumped_p['faceapi-recognition'])}")
    print(f"    crop warp alone (same box)                                     "
          f"{diff_text(crop, dumped_p['human-facemesh'], 255)}")
    print("\n" + ("AGREE: same face, landmarks within 2 px, embedding cosine > 0.99" if not failures
                  else "DISAGREE: " + "; ".join(failures)))
    return 0 if not failures else 1


# ---- report -------------------------------------------------------------------------------------

def criterion_ms(crit_dir, ident):
    if not crit_dir or not ident:
        return None
    path = os.path.join(crit_dir, *ident.split("/"), "new", "estimates.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        est = json.load(f)
    return est["median"]["point_estimate"] / 1e6


def fmt(v, unit=""):
    return "-" if v is None else f"{v:.2f}{unit}"


def ratio(tract_ms, ort_ms):
    return None if tract_ms is None or not ort_ms else tract_ms / ort_ms


def tract_pipeline_ms(binary, t, crit_home):
    """tract's median for `vision/t<t>/pipeline`: one short criterion run of the bench binary
    (model load, 1 s warm-up, 10 samples over about 2 s), read back from its estimates."""
    env = dict(os.environ, CRITERION_HOME=crit_home)
    subprocess.run([binary, "--bench", f"^vision/t{t}/pipeline$", "--warm-up-time", "1",
                    "--measurement-time", "2", "--sample-size", "10", "--noplot"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ms = criterion_ms(crit_home, f"vision/t{t}_pipeline")
    if ms is None:
        sys.exit(f"{binary} wrote no vision/t{t}/pipeline result: is it the `vision` bench binary?")
    return ms


def alternate(args, threads):
    """--alternate: rounds of tract then onnxruntime, seconds apart, so that both sides of a
    ratio see the same stretch of a shared machine (whose speed here drifts by 20-30% over
    minutes). Exit status 0 when every thread count's median ratio is at most 1."""
    if not args.bench_binary:
        sys.exit("--alternate needs --bench-binary (cargo bench --bench vision --no-run prints it)")
    with open(PIPELINE_IMAGE, "rb") as f:
        data = f.read()
    pipes = {t: RefPipeline(t) for t in threads}
    ratios = {t: [] for t in threads}
    with tempfile.TemporaryDirectory() as crit_home:
        for r in range(1, args.alternate + 1):
            line = f"round {r:>2}"
            for t in threads:
                tract_ms = tract_pipeline_ms(args.bench_binary, t, crit_home)
                ort_ms = time_pipeline(pipes[t], data, args.runs, args.warmup)[0]
                ratios[t].append(tract_ms / ort_ms)
                line += f"  {t}T: tract {fmt(tract_ms)} ORT {fmt(ort_ms)} ratio {fmt(ratios[t][-1], 'x')}"
            print(line, flush=True)
    line = "median  "
    for t in threads:
        v = ratios[t]
        line += (f"  {t}T: {fmt(statistics.median(v), 'x')} (range {fmt(min(v))}-{fmt(max(v))}, "
                 f"{sum(x <= 1 for x in v)} of {len(v)} rounds at or under 1)")
    print(line)
    return 0 if all(statistics.median(ratios[t]) <= 1 for t in threads) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts (default 1,2)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--criterion", help="criterion output dir (e.g. target/criterion or $CARGO_TARGET_DIR/criterion)")
    ap.add_argument("--tract-id", action="append", default=[],
                    help="MODEL:THREADS=GROUP/FUNCTION, e.g. centerface:1=vision_1t/detect "
                         "(MODEL pipeline = the end-to-end row)")
    ap.add_argument("--preset", choices=["models_raw", "vision"], default="models_raw",
                    help="which criterion bench the tract ids come from (default models_raw)")
    ap.add_argument("--pipeline-only", action="store_true",
                    help="time only the end-to-end pipeline and print its row against the "
                         "criterion results already in --criterion (--alternate does rounds of both)")
    ap.add_argument("--alternate", type=int, metavar="ROUNDS",
                    help="time the end-to-end pipeline ROUNDS times, each round running tract's "
                         "`vision` bench binary (--bench-binary) and then the reference pipeline, "
                         "per thread count, and print each round's ratio and their median")
    ap.add_argument("--bench-binary",
                    help="the `vision` bench executable for --alternate (the path printed by "
                         "`cargo bench --bench vision --no-run`)")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    ap.add_argument("--check", action="store_true",
                    help="print how closely the reference pipeline agrees with tract (needs a facelite "
                         "binary) and exit; no timing")
    ap.add_argument("--facelite", help="facelite binary for --check (default target/release/facelite "
                                       "or $CARGO_TARGET_DIR/release/facelite)")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    ort.set_default_logger_severity(3)
    if args.check:
        sys.exit(check(args))

    if args.preset == "vision":
        stage = {"centerface": "detect", "facemesh": "mesh", "recognition": "embed_net"}
        ids = {(m, t): f"vision/t{t}_{stage[m]}" for m in stage for t in threads}
    else:
        ids = {(m, t): f"models_raw_{t}t/{m}" for m, *_ in MODELS for t in threads}
    ids.update({("pipeline", t): f"vision/t{t}_pipeline" for t in threads})
    for spec in args.tract_id:
        key, ident = spec.split("=", 1)
        model, t = key.split(":")
        ids[(model, int(t))] = ident
    crit = args.criterion

    print(f"onnxruntime {ort.__version__}, OpenCV {cv2.__version__}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"median of {args.runs} runs after {args.warmup} warm-up runs, ms\n")
    if args.alternate:
        sys.exit(alternate(args, threads))
    if args.pipeline_only:
        with open(PIPELINE_IMAGE, "rb") as f:
            data = f.read()
        line = f"{'pipeline (ORT+OpenCV, end to end)':<40}"
        for t in threads:
            ort_ms = time_pipeline(RefPipeline(t), data, args.runs, args.warmup)[0]
            tract_ms = criterion_ms(crit, ids[("pipeline", t)])
            line += f"  {t}T: ORT {fmt(ort_ms)} tract {fmt(tract_ms)} ratio {fmt(ratio(tract_ms, ort_ms), 'x')}"
        print(line)
        return
    rows = {}
    for mid, file, shape, layout, scale in MODELS:
        mb = load_model(os.path.join(ROOT, "models", file), shape)
        x = fixture_input(file, shape, layout, scale)
        for t in threads:
            rows[(mid, t)] = (time_model(mb, x, t, args.runs, args.warmup), criterion_ms(crit, ids[(mid, t)]))
    with open(PIPELINE_IMAGE, "rb") as f:
        data = f.read()
    pipe = {t: time_pipeline(RefPipeline(t), data, args.runs, args.warmup) for t in threads}

    label_w = 40
    header = f"{'model':<{label_w}}"
    for t in threads:
        header += f"{f'ORT {t}T':>10}{f'tract {t}T':>11}{'ratio':>8}"
    print(header)
    shapes = {mid: "x".join(map(str, shape)) for mid, _, shape, _, _ in MODELS}
    for mid, *_ in MODELS:
        line = f"{mid + ' ' + shapes[mid]:<{label_w}}"
        for t in threads:
            ort_ms, tract_ms = rows[(mid, t)]
            line += f"{fmt(ort_ms):>10}{fmt(tract_ms):>11}{fmt(ratio(tract_ms, ort_ms), 'x'):>8}"
        print(line)
    sums = {}
    line = f"{'models only (sum of 3, one face)':<{label_w}}"
    for t in threads:
        ort_ms = sum(rows[(m, t)][0] for m, *_ in MODELS)
        tr = [rows[(m, t)][1] for m, *_ in MODELS]
        tract_ms = None if any(v is None for v in tr) else sum(tr)
        sums[t] = (ort_ms, tract_ms)
        line += f"{fmt(ort_ms):>10}{fmt(tract_ms):>11}{fmt(ratio(tract_ms, ort_ms), 'x'):>8}"
    print(line)
    line = f"{'pipeline (ORT+OpenCV, end to end)':<{label_w}}"
    for t in threads:
        tract_ms = criterion_ms(crit, ids[("pipeline", t)])
        line += f"{fmt(pipe[t][0]):>10}{fmt(tract_ms):>11}{fmt(ratio(tract_ms, pipe[t][0]), 'x'):>8}"
    print(line)
    if args.preset == "vision":
        print("  (with --preset vision the tract per-model figures are stage times with pre/post-processing)")

    # Stage table: the reference pipeline's stages next to benches/vision.rs's stage benches.
    tract_stage = {  # label: (vision bench function for thread count t, or None; note)
        "decode": (lambda t: f"vision/t{t}_decode", "t<n>/decode (bands side by side where the JPEG allows)"),
        "detect pre": (lambda t: f"vision/t{t}_detect_preprocess", "t<n>/detect_preprocess"),
        "detect model": (None, ""),
        "detect post": (None, "+ subject choice"),
        "align": (lambda t: f"vision/t{t}_align", "t<n>/align"),
        "embed model": (lambda t: f"vision/t{t}_embed_net", "t<n>/embed_net (+ L2 norm)"),
        "mesh crop": (lambda t: f"vision/t{t}_mesh_preprocess", "t<n>/mesh_preprocess"),
        "mesh model": (None, "+ points mapped back"),
    }
    print(f"\nreference pipeline stages (ORT+OpenCV) on {os.path.relpath(PIPELINE_IMAGE, ROOT)}, "
          "median ms per stage; tract = benches/vision.rs")
    header = f"{'stage':<{label_w}}"
    for t in threads:
        header += f"{f'ORT {t}T':>10}{f'tract {t}T':>11}{'ratio':>8}"
    print(header + "   tract bench")

    def stage_line(label, ort_of, tract_of, note):
        line = f"{label:<{label_w}}"
        for t in threads:
            o, tr = ort_of(t), tract_of(t)
            line += f"{fmt(o):>10}{fmt(tr):>11}{fmt(ratio(tr, o), 'x'):>8}"
        print(line + ("   " + note if note else ""))

    for s in STAGES:
        ident, note = tract_stage[s]
        stage_line(s, lambda t, s=s: pipe[t][1][s],
                   lambda t, ident=ident: criterion_ms(crit, ident(t)) if ident else None, note)
    st = lambda t, *names: sum(pipe[t][1][n] for n in names)
    stage_line("  detect pre + model + post", lambda t: st(t, "detect pre", "detect model", "detect post"),
               lambda t: criterion_ms(crit, f"vision/t{t}_detect"), "t<n>/detect")
    stage_line("  mesh crop + model", lambda t: st(t, "mesh crop", "mesh model"),
               lambda t: criterion_ms(crit, f"vision/t{t}_mesh"), "t<n>/mesh")
    stage_line("quality (tract only)", lambda t: None,
               lambda t: criterion_ms(crit, f"vision/t{t}_quality"), "t<n>/quality, in tract's pipeline")
    stage_line("end to end", lambda t: pipe[t][0],
               lambda t: criterion_ms(crit, ids[("pipeline", t)]), "t<n>/pipeline")
    print("  (at 2 threads tract runs FaceMesh on one thread beside the embedder; "
          "ORT here runs the three models in turn, each with <n> threads)")

    if crit:
        print("\ntract ids:", ", ".join(f"{m}:{t}={i}" for (m, t), i in sorted(ids.items())))
    if args.json:
        out = {f"{m}:{t}": {"ort_ms": o, "tract_ms": tr} for (m, t), (o, tr) in rows.items()}
        for t in threads:
            out[f"models_only:{t}"] = {"ort_ms": sums[t][0], "tract_ms": sums[t][1]}
            out[f"pipeline:{t}"] = {"ort_ms": pipe[t][0], "tract_ms": criterion_ms(crit, ids[("pipeline", t)]),
                                    "ort_stages_ms": pipe[t][1]}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
