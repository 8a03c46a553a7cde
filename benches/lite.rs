//! Oz API Lite latency: `verify`, `extract_and_compare` and `liveness/detect` on a 640x480 JPEG,
//! over HTTP against a real `facelite serve` process started here, and the same work done
//! in-process through `facelite::lite::pipeline` — the difference is what HTTP (connect,
//! multipart, base64-free transfer, the blocking-pool hop) adds.
//!
//! `cargo bench --bench lite`. Besides criterion's estimates it prints p50/p95 over
//! `LITE_BENCH_SAMPLES` (default 40) timed runs of each case. Liveness uses a tiny test
//! classifier installed through `--models-dir` (no passive model ships): its own inference
//! cost is negligible, so that row measures detection + crop + the slot's plumbing.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/timing.rs"]
mod timing;
#[path = "../tests/lite/tiny_onnx.rs"]
mod tiny_onnx;

use std::hint::black_box;
use std::time::Duration;

use common::{http, Multipart, TestServer};
use criterion::{criterion_group, criterion_main, Criterion};
use facelite::config::VisionConfig;
use facelite::lite::pipeline;
use facelite::vision::Engine;

const MAX_PIXELS: u64 = 40_000_000;

/// A 640x480 JPEG (quality 90) of a tests/data portrait: the 4:3 band around the face,
/// resized.
fn jpeg_640x480(name: &str) -> Vec<u8> {
    let img = image::load_from_memory(&common::data(name))
        .expect("decode")
        .to_rgb8();
    let (w, h) = img.dimensions();
    let band_h = (w * 3 / 4).min(h);
    let top = (h - band_h) / 4;
    let crop = image::imageops::crop_imm(&img, 0, top, w, band_h).to_image();
    let small = image::imageops::resize(&crop, 640, 480, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&small)
        .expect("encode");
    out
}

fn lite(c: &mut Criterion) {
    let samples: usize = std::env::var("LITE_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let a = jpeg_640x480("obama.jpg");
    let b = jpeg_640x480("obama2.jpg");
    let models = tempfile::tempdir().expect("temp dir");
    tiny_onnx::install(models.path(), [0.0, 4f32.ln()]);
    let models_dir = models.path().to_str().expect("utf-8 path").to_string();

    // Server and in-process engine with the same models and default threads.
    let srv = TestServer::start_with(&[], &["--models-dir", &models_dir]);
    let engine = Engine::load(&VisionConfig {
        models_dir: Some(models.path().to_path_buf()),
        ..VisionConfig::default()
    })
    .expect("load models");
    let template =
        pipeline::template_bytes(pipeline::embed_image(&engine, &a, MAX_PIXELS).expect("extract"))
            .expect("template");

    let verify_form = Multipart::new()
        .file("sample", "b.jpg", "image/jpeg", &b)
        .file(
            "bio_template",
            "a.tpl",
            "application/octet-stream",
            &template,
        );
    let eac_form = Multipart::new()
        .file("sample_1", "a.jpg", "image/jpeg", &a)
        .file("sample_2", "b.jpg", "image/jpeg", &b);
    let post_form = |path: &str, form: &Multipart| {
        let (ct, body) = form.build();
        let r = http(
            "POST",
            &srv.url(path),
            &[("Content-Type".into(), ct)],
            &body,
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    };
    let post_image = |path: &str, body: &[u8]| {
        let h = [("Content-Type".to_string(), "image/jpeg".to_string())];
        let r = http("POST", &srv.url(path), &h, body);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    };
    let http_verify = || post_form("/v1/face/pattern/verify", &verify_form);
    let http_eac = || post_form("/v1/face/pattern/extract_and_compare", &eac_form);
    let http_live = || post_image("/v1/face/liveness/detect", &a);
    let min_face = VisionConfig::default().min_face_px;
    let local_verify = || {
        let t = pipeline::read_template(&engine, &template).expect("template");
        let e = pipeline::embed_image(&engine, black_box(&b), MAX_PIXELS).expect("embed");
        pipeline::score(&e, &t).expect("score")
    };
    let local_eac = || {
        let ea = pipeline::embed_image(&engine, black_box(&a), MAX_PIXELS).expect("embed");
        let eb = pipeline::embed_image(&engine, black_box(&b), MAX_PIXELS).expect("embed");
        pipeline::score(&ea, &eb).expect("score")
    };
    let local_live =
        || pipeline::attack_score(&engine, black_box(&a), MAX_PIXELS, min_face).expect("liveness");

    timing::percentiles("lite-latency", "http/verify", samples, http_verify);
    timing::percentiles("lite-latency", "inproc/verify", samples, || {
        black_box(local_verify());
    });
    timing::percentiles(
        "lite-latency",
        "http/extract_and_compare",
        samples,
        http_eac,
    );
    timing::percentiles(
        "lite-latency",
        "inproc/extract_and_compare",
        samples,
        || {
            black_box(local_eac());
        },
    );
    timing::percentiles("lite-latency", "http/liveness_detect", samples, http_live);
    timing::percentiles("lite-latency", "inproc/liveness_detect", samples, || {
        black_box(local_live());
    });

    let mut g = c.benchmark_group("lite");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    g.bench_function("http/verify", |bch| bch.iter(http_verify));
    g.bench_function("inproc/verify", |bch| bch.iter(local_verify));
    g.bench_function("http/extract_and_compare", |bch| bch.iter(http_eac));
    g.bench_function("inproc/extract_and_compare", |bch| bch.iter(local_eac));
    g.bench_function("http/liveness_detect", |bch| bch.iter(http_live));
    g.bench_function("inproc/liveness_detect", |bch| bch.iter(local_live));
    g.finish();
}

criterion_group!(benches, lite);
criterion_main!(benches);
