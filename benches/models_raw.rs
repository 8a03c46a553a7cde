//! Raw model time in tract: `SimplePlan::run` alone per shipped model, no pre/post-processing.
//!
//! Same ONNX files, pinned input shapes and input tensors as `tests/model_parity.rs` (the PNG
//! fixtures of `tests/data/parity/`), so `benches/compare_onnxruntime.py` can put these next
//! to onnxruntime on identical work. Groups: `models_raw_1t` (tract's default single-thread
//! executor) and `models_raw_2t` (tract-linalg multithread executor with 2 threads); each has
//! `centerface`, `facemesh`, `recognition`. 20 flat samples after warm-up; criterion's median
//! lands in `target/criterion/models_raw_<n>t/<model>/new/estimates.json`.

use std::path::PathBuf;
use std::time::Duration;

// Linked for its global allocator (src/alloc.rs), so the models run as they do in the binary.
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use facelite as _;
use serde_json::Value;
use tract_linalg::multithread::{set_default_executor, Executor};
use tract_onnx::prelude::*;

type Plan = TypedSimplePlan;

const MODELS: [(&str, &str); 3] = [
    ("centerface", "centerface.onnx"),
    ("facemesh", "human-facemesh.onnx"),
    ("recognition", "faceapi-recognition.onnx"),
];

fn parity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/parity")
}

fn fixture(model: &str) -> (Vec<usize>, Tensor) {
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

fn plan(file: &str, shape: &[usize]) -> Arc<Plan> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    tract_onnx::onnx()
        .model_for_path(path)
        .expect("load")
        .with_input_fact(0, f32::fact(shape).into())
        .expect("fact")
        .into_optimized()
        .expect("optimise")
        .into_runnable()
        .expect("runnable")
}

fn bench_group(c: &mut Criterion, threads: usize) {
    let executor = if threads > 1 {
        Executor::multithread(threads)
    } else {
        Executor::SingleThread
    };
    set_default_executor(executor);
    let mut g = c.benchmark_group(format!("models_raw_{threads}t"));
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    for (id, file) in MODELS {
        let (shape, input) = fixture(file);
        let p = plan(file, &shape);
        g.bench_function(id, |b| {
            b.iter(|| p.run(tvec!(input.clone().into())).expect("run"));
        });
    }
    g.finish();
    set_default_executor(Executor::SingleThread);
}

fn models_raw(c: &mut Criterion) {
    bench_group(c, 1);
    bench_group(c, 2);
}

criterion_group!(benches, models_raw);
criterion_main!(benches);
