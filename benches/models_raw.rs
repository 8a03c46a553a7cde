//! Raw model time in tract: `SimplePlan::run` alone on the engine's own plan of each shipped model
//! (`vision::model::Parsed::plan`), no pre/post-processing.
//!
//! Same ONNX files, pinned input shapes and input tensors as `tests/model_parity.rs` (the PNG
//! fixtures of `tests/data/parity/`), so `benches/compare_onnxruntime.py` can put these next
//! to onnxruntime on identical work. Groups: `models_raw_1t` (tract's default single-thread
//! executor) and `models_raw_2t` (tract-linalg multithread executor with 2 threads); each has
//! `centerface`, `facemesh`, `recognition`. 20 flat samples after warm-up; criterion's median
//! lands in `target/criterion/models_raw_<n>t/<model>/new/estimates.json`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
// Linked for its global allocator (src/alloc.rs), so the models run as they do in the binary.
use facelite as _;
#[path = "support/raw_models.rs"]
mod raw_models;
use raw_models::{fixture, plan, MODELS};
use tract_linalg::multithread::{set_default_executor, Executor};
use tract_onnx::prelude::*;

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
