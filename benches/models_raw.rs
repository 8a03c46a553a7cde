//! Raw model time in tract: `SimplePlan::run` alone on the engine's own plan of each shipped model
//! (`vision::model::Parsed::plan`), no pre/post-processing.
//!
//! Same ONNX files, pinned input shapes and input tensors as `tests/model_parity.rs` (the PNG
//! fixtures of `tests/data/parity/`), so `benches/compare_onnxruntime.py` can put these next
//! to onnxruntime on identical work. Groups: `models_raw_1t` (one thread) and `models_raw_2t`
//! (the engine's 2-thread pool, each run one job inside it, as `vision::model::run` does); each has
//! `centerface`, `facemesh`, `recognition`. 20 flat samples after warm-up; criterion's median
//! lands in `target/criterion/models_raw_<n>t/<model>/new/estimates.json`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
#[path = "support/raw_models.rs"]
mod raw_models;
use facelite::vision::model::{inference_pool, run};
use raw_models::{fixture, plan, MODELS};

fn bench_group(c: &mut Criterion, threads: usize) {
    let executor = inference_pool(threads);
    let mut g = c.benchmark_group(format!("models_raw_{threads}t"));
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    for (id, file) in MODELS {
        let (shape, input) = fixture(file);
        let data: Vec<f32> = input
            .to_plain_array_view::<f32>()
            .expect("f32 input")
            .iter()
            .copied()
            .collect();
        let p = plan(file, &shape);
        g.bench_function(id, |b| {
            b.iter(|| run(id, &p, &executor, &shape, data.clone()).expect("run"));
        });
    }
    g.finish();
}

fn models_raw(c: &mut Criterion) {
    bench_group(c, 1);
    bench_group(c, 2);
}

criterion_group!(benches, models_raw);
criterion_main!(benches);
