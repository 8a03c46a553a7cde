//! Per-stage timings of the vision pipeline (tract), with 1 and 2 tract threads, plus model load.
//! `cargo bench --bench vision` (filter e.g. `-- t1/`); criterion reports the median estimate.
//! Input: tests/data/obama.jpg (a 1-face portrait) as a kiosk-like still.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use facelite::config::VisionConfig;
use facelite::vision::{decode::decode_image, subject, Engine};

const MAX_PIXELS: u64 = 40_000_000;

fn data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(threads: usize) -> Engine {
    let cfg = VisionConfig {
        inference_threads: threads,
        ..VisionConfig::default()
    };
    Engine::load(&cfg).expect("load models")
}

fn stages(c: &mut Criterion) {
    let bytes = data("obama.jpg");
    let img = decode_image(&bytes, MAX_PIXELS).expect("decode");
    let mut g = c.benchmark_group("vision");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("decode_jpeg", |b| {
        b.iter(|| decode_image(black_box(&bytes), MAX_PIXELS).expect("decode"))
    });
    for threads in [1usize, 2] {
        let engine = load(threads);
        let t = format!("t{threads}");
        let faces = engine.detect(&img).expect("detect");
        let face = faces[subject::choose(&faces).expect("a face")];
        let (detector, embedder, mesh, executor) = engine.parts();
        let (w, h) = detector.primary_size(&img);
        g.bench_function(format!("{t}/decode"), |b| {
            b.iter(|| {
                engine
                    .decode_image(black_box(&bytes), MAX_PIXELS)
                    .expect("decode")
            })
        });
        g.bench_function(format!("{t}/detect_preprocess"), |b| {
            b.iter(|| detector.input_tensor(black_box(&img), w, h))
        });
        g.bench_function(format!("{t}/detect"), |b| {
            b.iter(|| engine.detect(black_box(&img)).expect("detect"))
        });
        g.bench_function(format!("{t}/align"), |b| {
            b.iter(|| embedder.chip(black_box(&img), &face).expect("chip"))
        });
        let chip = embedder.chip(&img, &face).expect("chip");
        g.bench_function(format!("{t}/embed_net"), |b| {
            b.iter(|| embedder.embed_chip(chip.clone(), executor).expect("embed"))
        });
        g.bench_function(format!("{t}/mesh_preprocess"), |b| {
            b.iter(|| mesh.input(black_box(&img), &face).expect("mesh input"))
        });
        g.bench_function(format!("{t}/mesh"), |b| {
            b.iter(|| engine.mesh(black_box(&img), &face).expect("mesh"))
        });
        g.bench_function(format!("{t}/quality"), |b| {
            b.iter(|| engine.quality(black_box(&img), &face))
        });
        g.bench_function(format!("{t}/pipeline"), |b| {
            b.iter(|| {
                let img = engine
                    .decode_image(black_box(&bytes), MAX_PIXELS)
                    .expect("decode");
                let (a, mesh) = engine.analyze_with_mesh(&img).expect("analyze");
                (a, mesh.expect("mesh"))
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("vision_load");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(10));
    g.bench_function("engine_load", |b| b.iter(|| load(1)));
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
