//! Oz API flow latency: time from upload to a FINISHED analysis, against a real `facelite
//! serve` process started here, for a 2-photo BIOMETRY and a photo QUALITY analysis.
//!
//! `cargo bench --bench flow`. Prints p50/p95 over `FLOW_BENCH_SAMPLES` (default 20) runs of:
//! * `single_request/...`: one `POST /api/folders/` with the photos and `analyses` in the payload;
//!   the response carries the finished analyses (what a kiosk waiting for a verdict sees);
//! * `async/...`: upload the folder, start the analysis, poll `GET /api/analyses/{id}` every
//!   2 ms until it is FINISHED (the classic Oz client loop; the poll interval bounds the error).
//!
//! With the bench clips made (`tests/data/media/make_clips.sh bench $CARGO_TARGET_DIR/bench-clips`,
//! needs ffmpeg) it also times `async/quality_video_720p_5s`: QUALITY on a 5 s 720p H.264 clip
//! (150 frames; `analysis.sample_frames` of them are decoded and examined), from upload to
//! FINISHED (the clip shows a moving photo, so the verdict is DECLINED).
//!
//! `collections/enrol_person_1_photo` times `POST /api/collections/{id}/persons/` with one photo
//! (decode, detect, enrolment checks, embed, durable write, search index update).
//!
//! Photo QUALITY needs a passive model (none ships): a tiny test classifier is installed through
//! `--models-dir`, so that row measures detection + crop + the flow, not a real model's cost.

#[path = "support/clips.rs"]
mod clips;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/flow_support/mod.rs"]
mod flow_support;
#[path = "support/timing.rs"]
mod timing;
#[path = "../tests/lite/tiny_onnx.rs"]
mod tiny_onnx;

use std::time::{Duration, Instant};

use common::TestServer;
use flow_support::{company_user, form};
use serde_json::{json, Value};

fn finished(a: &Value) {
    assert_eq!(a["state"], "FINISHED", "{a}");
}

/// Upload, start, poll: returns when the analysis is FINISHED.
fn upload_and_poll(srv: &TestServer, t: &str, files: &[(&str, &str, &[u8], &[&str])], kind: &str) {
    let r = srv.post_multipart("/api/folders/", Some(t), &form(files, json!({})));
    assert_eq!(r.status, 201, "{}", r.text());
    let fid = r.json()["folder_id"]
        .as_str()
        .expect("folder id")
        .to_string();
    let r = srv.post_json(
        &format!("/api/folders/{fid}/analyses"),
        Some(t),
        &json!({"analyses": [{"type": kind}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()[0]["analysis_id"]
        .as_str()
        .expect("analysis id")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = srv.get(&format!("/api/analyses/{id}"), Some(t)).json();
        if v["state"] != "PROCESSING" {
            finished(&v);
            return;
        }
        assert!(Instant::now() < deadline, "still PROCESSING: {v}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One request with the analysis in the payload: returns with the analysis FINISHED.
fn single_request(srv: &TestServer, t: &str, files: &[(&str, &str, &[u8], &[&str])], kind: &str) {
    let f = form(files, json!({"analyses": [{"type": kind}]}));
    let r = srv.post_multipart("/api/folders/", Some(t), &f);
    assert_eq!(r.status, 201, "{}", r.text());
    finished(&r.json()["analyses"][0]);
}

fn main() {
    let samples: usize = std::env::var("FLOW_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let models = tempfile::tempdir().expect("temp dir");
    tiny_onnx::install(models.path(), [0.0, 4f32.ln()]);
    let models_dir = models.path().to_str().expect("utf-8 path").to_string();
    let srv = TestServer::start_with(&[], &["--models-dir", &models_dir]);
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "bench", "CLIENT");
    let a = common::data("obama.jpg");
    let b = common::data("obama2.jpg");
    let pair: [(&str, &str, &[u8], &[&str]); 2] = [
        ("selfie", "a.jpg", &a, &["photo_selfie"]),
        ("id", "b.jpg", &b, &["photo_id", "photo_id_front"]),
    ];
    let photo: [(&str, &str, &[u8], &[&str]); 1] = [("selfie", "a.jpg", &a, &["photo_selfie"])];
    // Warm the server's first-use paths once.
    single_request(&srv, &t, &pair, "biometry");
    single_request(&srv, &t, &photo, "quality");

    timing::percentiles(
        "flow-latency",
        "single_request/biometry_2_photos",
        samples,
        || single_request(&srv, &t, &pair, "biometry"),
    );
    timing::percentiles("flow-latency", "async/biometry_2_photos", samples, || {
        upload_and_poll(&srv, &t, &pair, "biometry")
    });
    timing::percentiles(
        "flow-latency",
        "single_request/quality_photo",
        samples,
        || single_request(&srv, &t, &photo, "quality"),
    );
    timing::percentiles("flow-latency", "async/quality_photo", samples, || {
        upload_and_poll(&srv, &t, &photo, "quality")
    });
    let (_, ca) = company_user(&srv, &admin, "bench-watch", "CLIENT_ADMIN");
    let r = srv.post_json("/api/collections/", Some(&ca), &json!({"alias": "bench"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let cid = r.json()["collection_id"]
        .as_str()
        .expect("collection id")
        .to_string();
    let person = common::Multipart::new().file("image0", "a.jpg", "image/jpeg", &a);
    timing::percentiles(
        "flow-latency",
        "collections/enrol_person_1_photo",
        samples,
        || {
            let r = srv.post_multipart(
                &format!("/api/collections/{cid}/persons/"),
                Some(&ca),
                &person,
            );
            assert_eq!(r.status, 201, "{}", r.text());
        },
    );
    let clip = clips::clips_dir().join("quality_720p_5s.mp4");
    match std::fs::read(&clip) {
        Ok(video) => {
            let v: [(&str, &str, &[u8], &[&str]); 1] =
                [("video1", "clip.mp4", &video, &["video_selfie"])];
            timing::percentiles(
                "flow-latency",
                "async/quality_video_720p_5s",
                samples.min(10),
                || upload_and_poll(&srv, &t, &v, "quality"),
            );
        }
        Err(e) => println!(
            "flow-latency async/quality_video_720p_5s skipped: {}: {e}",
            clip.display()
        ),
    }
}
