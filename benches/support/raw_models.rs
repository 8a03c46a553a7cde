//! The shipped models with their parity fixtures as input: what `models_raw` times and
//! `model_ops` profiles, so both measure the same work as `benches/compare_onnxruntime.py`.

use std::path::PathBuf;

use facelite::vision::model::Parsed;
use serde_json::Value;
use tract_onnx::prelude::*;

pub use facelite::vision::model::Plan;

/// Bench id and file under `models/` of each shipped model.
pub const MODELS: [(&str, &str); 3] = [
    ("centerface", "centerface.onnx"),
    ("facemesh", "human-facemesh.onnx"),
    ("recognition", "faceapi-recognition.onnx"),
];

fn parity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/parity")
}

/// The model's pinned input shape and its parity fixture as a tensor (from `index.json`).
pub fn fixture(model: &str) -> (Vec<usize>, Tensor) {
    let text = std::fs::read_to_string(parity_dir().join("index.json")).expect("index.json");
    let index: Value = serde_json::from_str(&text).expect("parse index.json");
    let e = index["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["model"] == model)
        .expect("model in index")
        .clone();
    let shape: Vec<usize> = e["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    let img = image::open(parity_dir().join(e["input_png"].as_str().expect("png")))
        .expect("decode png")
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let scale = e["scale"].as_f64().expect("scale") as f32;
    let nchw = e["layout"] == "NCHW";
    let mut data = vec![0f32; 3 * w * h];
    for (x, y, p) in img.enumerate_pixels() {
        let (x, y) = (x as usize, y as usize);
        for c in 0..3 {
            let i = if nchw {
                c * h * w + y * w + x
            } else {
                (y * w + x) * 3 + c
            };
            data[i] = f32::from(p.0[c]) * scale;
        }
    }
    let t = Tensor::from_shape(&shape, &data).expect("tensor");
    (shape, t)
}

fn parsed(file: &str) -> Parsed {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    let bytes = std::fs::read(path).expect("read model");
    Parsed::new(file, &bytes).expect("parse")
}

/// The model optimised for `shape` exactly as the engine plans it at start.
pub fn plan(file: &str, shape: &[usize]) -> Plan {
    parsed(file).plan(shape).expect("optimise")
}

/// The model as tract alone optimises it, without facelite's graph rewrites.
#[allow(dead_code)] // used by model_ops only
pub fn plan_without_rewrites(file: &str, shape: &[usize]) -> Plan {
    parsed(file).plan_without_rewrites(shape).expect("optimise")
}
