//! Parity: tract's outputs for every shipped model equal onnxruntime's reference outputs.
//!
//! Fixtures in `tests/data/parity/` come from `make_parity.py` (onnxruntime 1.32.0): per
//! model a lossless PNG at exactly the model's input size, onnxruntime's outputs as raw
//! little-endian f32 files, and `index.json` (input name, layout, shape, normalisation,
//! outputs, tolerance). This test loads each `models/*.onnx` and builds the plan the engine
//! runs (`vision::model::Parsed::plan`: input pinned to the fixture shape, tract's
//! optimisations and our graph rewrites), feeds the PNG
//! pixels normalised exactly as the index says, and checks every output element:
//! `|tract - ort| <= rel_tol * max(1, max|ref|)` with `rel_tol = 1e-4` from the index.
//! The worst difference seen per output is printed (`cargo test --test model_parity -- --nocapture`).

use std::path::{Path, PathBuf};

use facelite::vision::model::Parsed;
use serde_json::Value;
use tract_onnx::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parity_dir() -> PathBuf {
    root().join("tests/data/parity")
}

fn index() -> Value {
    let text = std::fs::read_to_string(parity_dir().join("index.json")).expect("read index.json");
    serde_json::from_str(&text).expect("parse index.json")
}

fn entry(model: &str) -> Value {
    index()["models"]
        .as_array()
        .expect("models array")
        .iter()
        .find(|m| m["model"] == model)
        .cloned()
        .unwrap_or_else(|| panic!("{model} not in index.json"))
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("shape array")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect()
}

/// Decode the fixture PNG and lay it out as the model input (NCHW or NHWC), `v * scale + offset`.
fn input_tensor(e: &Value) -> Tensor {
    let shape = usizes(&e["shape"]);
    let png = parity_dir().join(e["input_png"].as_str().expect("input_png"));
    let img = image::open(&png).expect("decode fixture png").to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let scale = e["scale"].as_f64().expect("scale") as f32;
    let offset = e["offset"].as_f64().expect("offset") as f32;
    let nchw = match e["layout"].as_str() {
        Some("NCHW") => true,
        Some("NHWC") => false,
        other => panic!("unknown layout {other:?}"),
    };
    if nchw {
        assert_eq!(
            shape,
            vec![1, 3, h, w],
            "PNG size must equal the model input"
        );
    } else {
        assert_eq!(
            shape,
            vec![1, h, w, 3],
            "PNG size must equal the model input"
        );
    }
    let mut data = vec![0f32; 3 * w * h];
    for (x, y, p) in img.enumerate_pixels() {
        let (x, y) = (x as usize, y as usize);
        for c in 0..3 {
            let v = f32::from(p.0[c]) * scale + offset;
            let i = if nchw {
                c * h * w + y * w + x
            } else {
                (y * w + x) * 3 + c
            };
            data[i] = v;
        }
    }
    Tensor::from_shape(&shape, &data).expect("input tensor")
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).expect("read reference output");
    assert_eq!(bytes.len() % 4, 0, "{} is not whole f32s", path.display());
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The plan the engine builds for `model` at `shape`.
fn engine_plan(model: &str, shape: &[usize]) -> facelite::vision::model::Plan {
    let bytes = std::fs::read(root().join("models").join(model)).expect("read model");
    Parsed::new(model, &bytes)
        .expect("parse model")
        .plan(shape)
        .expect("optimise")
}

fn check_model(model: &str) {
    let e = entry(model);
    let rel_tol = index()["rel_tol"].as_f64().expect("rel_tol");
    let shape = usizes(&e["shape"]);
    let plan = engine_plan(model, &shape);
    let outputs = plan.run(tvec!(input_tensor(&e).into())).expect("run");
    let refs = e["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), refs.len(), "{model}: output count");
    for (got, r) in outputs.iter().zip(refs) {
        let name = r["name"].as_str().expect("output name");
        let want_shape = usizes(&r["shape"]);
        assert_eq!(got.shape(), &want_shape[..], "{model} {name}: shape");
        let got = got.cast_to::<f32>().expect("f32 output");
        let got = got.to_plain_array_view::<f32>().expect("view");
        let want = read_f32(&parity_dir().join(r["file"].as_str().expect("file")));
        assert_eq!(got.len(), want.len(), "{model} {name}: element count");
        let max_ref = want.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
        let tol = rel_tol * max_ref.max(1.0);
        let mut worst = 0f64;
        for (g, w) in got.iter().zip(&want) {
            assert!(g.is_finite(), "{model} {name}: non-finite output");
            worst = worst.max((f64::from(*g) - f64::from(*w)).abs());
        }
        println!(
            "{model} {name}: max |tract - ort| = {worst:.3e} (max|ref| {max_ref:.3}, tolerance {tol:.3e}, relative {:.2e})",
            worst / max_ref.max(1.0)
        );
        assert!(
            worst <= tol,
            "{model} {name}: max |diff| {worst:e} > tolerance {tol:e}"
        );
    }
}

#[test]
fn centerface_stride_two_depthwise_convolutions_are_rewritten() {
    // CenterFace has four depthwise convolutions with stride 2. Where the CPU has AVX-512
    // they take the direct depthwise op, which strides itself; elsewhere each must run as the
    // stride-1 convolution plus a downsample (vision::unstride), or it falls to tract's scalar
    // path.
    let shape = usizes(&entry("centerface.onnx")["shape"]);
    let plan = engine_plan("centerface.onnx", &shape);
    let named = |suffix: &str| -> Vec<String> {
        plan.model()
            .nodes()
            .iter()
            .filter(|n| n.name.ends_with(suffix))
            .map(|n| format!("{} {:?}", n.name, n.op()))
            .collect()
    };
    let unstrided = named(".every_other_column");
    let strided_direct: Vec<String> = named(".depthwise")
        .into_iter()
        .filter(|d| d.contains("strides: (2, 2)"))
        .collect();
    if facelite::vision::fast_ops::direct_convolutions_available() {
        assert_eq!(strided_direct.len(), 4, "direct: {strided_direct:?}");
        assert!(unstrided.is_empty(), "unstrided: {unstrided:?}");
    } else {
        assert_eq!(unstrided.len(), 4, "unstrided: {unstrided:?}");
    }
}

/// How many nodes of the engine's plan for `model` run `op`.
fn count_ops(model: &str, op: &str) -> usize {
    let shape = usizes(&entry(model)["shape"]);
    let plan = engine_plan(model, &shape);
    plan.model()
        .nodes()
        .iter()
        .filter(|n| n.op().name() == op)
        .count()
}

#[test]
fn slow_tract_ops_are_replaced_by_the_direct_ones() {
    // Every max pooling and every five-node PReLU of the shipped models takes the direct ops
    // (vision::fast_ops); a tract upgrade that changes the decluttered patterns fails here.
    assert_eq!(count_ops("human-facemesh.onnx", "PlaneMaxPool"), 5);
    assert_eq!(count_ops("human-facemesh.onnx", "ChannelPRelu"), 28);
    assert_eq!(count_ops("faceapi-recognition.onnx", "PlaneMaxPool"), 1);
    for model in ["human-facemesh.onnx", "faceapi-recognition.onnx"] {
        assert_eq!(count_ops(model, "OptMaxPool"), 0, "{model}");
    }
    assert_eq!(count_ops("human-facemesh.onnx", "Neg"), 0);
    // Every 1x1 convolution, every 3x3 one with stride 1 (one group) at least 24 pixels wide,
    // every depthwise one, the wide stride-2 input layer of CenterFace and the recognition
    // ResNet's narrow 3x3 layers (stride 1 and 2, 17x17 down to 1x1) and the three 2x2
    // stride-2 transposed convolutions of CenterFace's neck take the AVX-512 kernels where the
    // CPU has them, and none elsewhere.
    let direct = facelite::vision::fast_ops::direct_convolutions_available();
    for (model, op, convs) in [
        ("centerface.onnx", "Pointwise", 41),
        ("human-facemesh.onnx", "Pointwise", 27),
        ("faceapi-recognition.onnx", "Pointwise", 0),
        ("centerface.onnx", "Conv3x3", 1),
        ("human-facemesh.onnx", "Conv3x3", 0),
        ("faceapi-recognition.onnx", "Conv3x3", 6),
        ("centerface.onnx", "Depthwise", 17),
        ("human-facemesh.onnx", "Depthwise", 24),
        ("faceapi-recognition.onnx", "Depthwise", 0),
        ("centerface.onnx", "StridedConv", 0),
        ("human-facemesh.onnx", "StridedConv", 1),
        ("faceapi-recognition.onnx", "StridedConv", 1),
        ("centerface.onnx", "SpatialConv", 1),
        ("human-facemesh.onnx", "SpatialConv", 0),
        ("faceapi-recognition.onnx", "SpatialConv", 0),
        ("centerface.onnx", "TiledDeconv", 3),
        ("human-facemesh.onnx", "TiledDeconv", 0),
        ("faceapi-recognition.onnx", "TiledDeconv", 0),
        ("centerface.onnx", "NarrowConv", 0),
        ("human-facemesh.onnx", "NarrowConv", 0),
        ("faceapi-recognition.onnx", "NarrowConv", 22),
    ] {
        let expected = if direct { convs } else { 0 };
        assert_eq!(count_ops(model, op), expected, "{model} {op}");
    }
    if direct {
        assert_eq!(count_ops("centerface.onnx", "DirectSpatialConv"), 0);
        assert_eq!(count_ops("centerface.onnx", "DeconvSum"), 0);
    }
}

#[test]
fn rewritten_plans_give_the_same_bits_as_tracts_own() {
    // The rewrites change how, not what, is computed: on the fixture input every output of
    // the engine's plan equals tract's unrewritten plan exactly.
    for e in index()["models"].as_array().expect("models") {
        let model = e["model"].as_str().expect("model");
        let shape = usizes(&e["shape"]);
        let bytes = std::fs::read(root().join("models").join(model)).expect("read model");
        let parsed = Parsed::new(model, &bytes).expect("parse model");
        let input = input_tensor(e);
        let run = |plan: facelite::vision::model::Plan| {
            plan.run(tvec!(input.clone().into())).expect("run")
        };
        let ours = run(parsed.plan(&shape).expect("plan"));
        let tracts = run(parsed.plan_without_rewrites(&shape).expect("plan"));
        assert_eq!(ours.len(), tracts.len(), "{model}: output count");
        for (i, (a, b)) in ours.iter().zip(&tracts).enumerate() {
            let a = a.to_plain_array_view::<f32>().expect("f32");
            let b = b.to_plain_array_view::<f32>().expect("f32");
            assert_eq!(a.shape(), b.shape(), "{model} output {i}: shape");
            let differing = a
                .iter()
                .zip(b.iter())
                .filter(|(x, y)| x.to_bits() != y.to_bits());
            assert_eq!(differing.count(), 0, "{model} output {i}: values differ");
        }
    }
}

#[test]
fn centerface_matches_onnxruntime() {
    check_model("centerface.onnx");
}

#[test]
fn facemesh_matches_onnxruntime() {
    check_model("human-facemesh.onnx");
}

#[test]
fn recognition_matches_onnxruntime() {
    check_model("faceapi-recognition.onnx");
}

/// Guards the fixtures themselves: a test that compares against an all-zero or wrong-size
/// reference would pass trivially.
#[test]
fn fixtures_are_real_outputs() {
    for e in index()["models"].as_array().expect("models") {
        for r in e["outputs"].as_array().expect("outputs") {
            let want = read_f32(&parity_dir().join(r["file"].as_str().expect("file")));
            let n: usize = usizes(&r["shape"]).iter().product();
            assert_eq!(
                want.len(),
                n,
                "{} has {} values, shape says {n}",
                r["file"],
                want.len()
            );
            let spread = want.iter().fold(f32::MIN, |a, b| a.max(*b))
                - want.iter().fold(f32::MAX, |a, b| a.min(*b));
            assert!(n == 1 || spread > 0.0, "{} is constant", r["file"]);
        }
    }
}
