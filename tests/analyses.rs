//! Analyses over real HTTP with the repository's real face images: the Oz API's analysis
//! scenarios (biometry match and non-match, worst pair of three, still-image liveness without a
//! passive model, best shot, single request, instant mode, correlation by metadata), statuses,
//! unsupported types, and the full-queue answer.

mod common;
mod flow_support;

use common::{data, Multipart, TestServer};
use flow_support::{company_user, form, wait_analysis};
use serde_json::{json, Value};

fn folder_with(srv: &TestServer, token: &str, files: &[(&str, &str, &[&str])]) -> Value {
    let bytes: Vec<Vec<u8>> = files.iter().map(|(_, name, _)| data(name)).collect();
    let parts: Vec<(&str, &str, &[u8], &[&str])> = files
        .iter()
        .zip(&bytes)
        .map(|((field, name, tags), b)| (*field, *name, b.as_slice(), *tags))
        .collect();
    let r = srv.post_multipart("/api/folders/", Some(token), &form(&parts, json!({})));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn start(srv: &TestServer, token: &str, fid: &str, body: Value) -> Vec<Value> {
    let r = srv.post_json(&format!("/api/folders/{fid}/analyses"), Some(token), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let arr = r.json().as_array().expect("array").clone();
    for a in &arr {
        assert_eq!(a["state"], "PROCESSING");
        assert_eq!(a["resolution"], "PROCESSING");
        assert_eq!(a["analysis_id"], a["analyse_id"]);
    }
    arr
}

#[test]
fn biometry_same_person_succeeds_and_different_person_is_declined() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "bio", "CLIENT");
    // Selfie vs ID photo of the same person (scenario 3 with photos).
    let f = folder_with(
        &srv,
        &t,
        &[
            ("selfie", "obama.jpg", &["photo_selfie"]),
            ("id", "obama2.jpg", &["photo_id", "photo_id_front"]),
        ],
    );
    let fid = f["folder_id"].as_str().expect("id");
    let a = start(&srv, &t, fid, json!({"analyses": [{"type": "BIOMETRY"}]}));
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 120);
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert_eq!(done["type"], "BIOMETRY");
    assert_eq!(done["resolution_status"], "SUCCESS", "{done}");
    let min = done["results_data"]["min_confidence"]
        .as_f64()
        .expect("min");
    let max = done["results_data"]["max_confidence"]
        .as_f64()
        .expect("max");
    assert!(min >= 0.85 && min <= max && max <= 1.0, "{min} {max}");
    assert_eq!(done["results_media"].as_array().map(Vec::len), Some(2));
    let folder = srv
        .get(&format!("/api/folders/{fid}?with_analyses=true"), Some(&t))
        .json();
    assert_eq!(folder["resolution_status"], "FINISHED");
    assert_eq!(folder["system_resolution"], "SUCCESS");
    assert_eq!(folder["analyses"][0]["analysis_id"], done["analysis_id"]);

    // Different people.
    let f = folder_with(
        &srv,
        &t,
        &[("a", "obama.jpg", &[]), ("b", "biden.jpg", &[])],
    );
    let fid = f["folder_id"].as_str().expect("id");
    let a = start(&srv, &t, fid, json!({"analyses": [{"type": "biometry"}]}));
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 120);
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert_eq!(done["resolution_status"], "DECLINED", "{done}");
    assert!(
        done["results_data"]["min_confidence"]
            .as_f64()
            .expect("min")
            < 0.85
    );
    let folder = srv.get(&format!("/api/folders/{fid}"), Some(&t)).json();
    assert_eq!(folder["system_resolution"], "DECLINED");

    // Three media: the worst pair decides; photo_id_back is left out and reported.
    let f = folder_with(
        &srv,
        &t,
        &[
            ("a", "obama.jpg", &[]),
            ("b", "obama2.jpg", &[]),
            ("c", "grace_hopper.jpg", &[]),
            ("d", "biden.jpg", &["photo_id", "photo_id_back"]),
        ],
    );
    let fid = f["folder_id"].as_str().expect("id");
    let a = start(&srv, &t, fid, json!({"analyses": [{"type": "biometry"}]}));
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 180);
    assert_eq!(done["resolution_status"], "DECLINED", "{done}");
    assert_eq!(
        done["results_data"]["pairs"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        done["results_data"]["skipped_media"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let min = done["results_data"]["min_confidence"]
        .as_f64()
        .expect("min");
    let max = done["results_data"]["max_confidence"]
        .as_f64()
        .expect("max");
    assert!(
        min < 0.85 && max >= 0.85,
        "worst pair {min}, best pair {max}"
    );
}

#[test]
fn failures_are_failed_never_success() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "fail", "CLIENT");
    // Still image liveness without a passive model: FAILED with the documented reason.
    let f = folder_with(&srv, &t, &[("photo1", "obama.jpg", &["photo_selfie"])]);
    let fid = f["folder_id"].as_str().expect("id");
    let a = start(&srv, &t, fid, json!({"analyses": [{"type": "liveness"}]}));
    assert_eq!(a[0]["type"], "QUALITY");
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 120);
    assert_eq!(done["state"], "FAILED", "{done}");
    assert_eq!(done["resolution_status"], "FAILED");
    let media_result = &done["results_media"][0];
    let why = media_result["results_data"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        why.contains(
            "no passive liveness model installed; send a video or shot set, or install a model"
        ),
        "{done}"
    );
    assert_eq!(media_result["source_image_id"], f["media"][0]["media_id"]);
    let folder = srv.get(&format!("/api/folders/{fid}"), Some(&t)).json();
    assert_eq!(folder["resolution_status"], "FAILED");
    assert_eq!(folder["system_resolution"], "FAILED");

    // Biometry with one media: FAILED with a reason.
    let a = start(&srv, &t, fid, json!({"analyses": [{"type": "biometry"}]}));
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 60);
    assert_eq!(done["state"], "FAILED");
    assert!(done["error_message"]
        .as_str()
        .unwrap_or_default()
        .contains("at least two"));

    // QUALITY with only document photos: no eligible media.
    let f = folder_with(
        &srv,
        &t,
        &[("id", "obama.jpg", &["photo_id", "photo_id_front"])],
    );
    let fid2 = f["folder_id"].as_str().expect("id");
    let a = start(&srv, &t, fid2, json!({"analyses": [{"type": "quality"}]}));
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 60);
    assert_eq!(done["state"], "FAILED");
    assert!(done["error_message"]
        .as_str()
        .unwrap_or_default()
        .contains("no eligible media"));

    // COLLECTION in a company without collections: FAILED with the reason, never SUCCESS.
    let a = start(
        &srv,
        &t,
        fid2,
        json!({"analyses": [{"type": "collection"}]}),
    );
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 60);
    assert_eq!(done["state"], "FAILED", "{done}");
    assert!(done["error_message"]
        .as_str()
        .unwrap_or_default()
        .contains("no collection"));

    // An empty folder: nothing to analyse.
    let r = srv.post_multipart("/api/folders/", Some(&t), &Multipart::new());
    let empty = r.json()["folder_id"].as_str().expect("id").to_string();
    let a = start(&srv, &t, &empty, json!({"analyses": [{"type": "quality"}]}));
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 60);
    assert_eq!(done["state"], "FAILED");

    // Unsupported and malformed requests.
    let p = format!("/api/folders/{fid}/analyses/");
    srv.post_json(&p, Some(&t), &json!({"analyses": [{"type": "documents"}]}))
        .assert_error(501, 2);
    srv.post_json(&p, Some(&t), &json!({"analyses": [{"type": "ocr"}]}))
        .assert_error(400, 4);
    srv.post_json(&p, Some(&t), &json!({"analyses": []}))
        .assert_error(400, 3);
    srv.post_json(&p, Some(&t), &json!({"analyses": [{"type": "quality", "source_media": ["00000000-0000-4000-8000-000000000000"]}]}))
        .assert_error(400, 4);
    // Verdict thresholds are the operator's: a per-request override is refused, not ignored.
    for body in [
        json!({"analyses": [{"type": "quality", "params": {"threshold": 0.99}}]}),
        json!({"analyses": [{"type": "biometry", "params": {"match_threshold": 0.1}}]}),
    ] {
        let msg = srv.post_json(&p, Some(&t), &body).assert_error(400, 4);
        assert!(msg.contains("cannot be overridden"), "{msg}");
    }
    // Filters on the folder's analyses.
    let r = srv.get(
        &format!("/api/folders/{fid}/analyses?type=quality"),
        Some(&t),
    );
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    let r = srv.get(
        &format!("/api/folders/{fid}/analyses?state=FAILED&type.exclude=QUALITY"),
        Some(&t),
    );
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    // Delete: CLIENT may not, ADMIN may.
    let aid = a[0]["analysis_id"].as_str().expect("id");
    srv.delete(&format!("/api/analyses/{aid}"), Some(&t))
        .assert_error(403, 9);
    assert_eq!(
        srv.delete(&format!("/api/analyses/{aid}"), Some(&admin))
            .status,
        200
    );
    srv.get(&format!("/api/analyses/{aid}"), Some(&t))
        .assert_error(404, 10);
}

#[test]
fn single_request_and_instant_answer_with_results_inline() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "sync", "CLIENT");
    let a = data("obama.jpg");
    let b = data("obama3.jpg");
    let f = form(
        &[
            ("selfie", "a.jpg", &a, &["photo_selfie"]),
            ("id", "b.jpg", &b, &["photo_id", "photo_id_front"]),
        ],
        json!({
            "folder:meta_data": {"customer_session_id": "single-1"},
            "analyses": [{"type": "biometry", "meta_data": {"step": "match"}}, {"type": "quality"}]
        }),
    );
    let r = srv.post_multipart("/api/folders/", Some(&t), &f);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let analyses = v["analyses"].as_array().expect("analyses inline");
    assert_eq!(analyses.len(), 2);
    let bio = analyses
        .iter()
        .find(|x| x["type"] == "BIOMETRY")
        .expect("bio");
    assert_eq!(bio["state"], "FINISHED", "{bio}");
    assert_eq!(bio["resolution_status"], "SUCCESS");
    assert_eq!(bio["meta_data"]["step"], "match");
    let q = analyses
        .iter()
        .find(|x| x["type"] == "QUALITY")
        .expect("quality");
    assert_eq!(
        q["state"], "FAILED",
        "still photo without passive model: {q}"
    );
    assert_eq!(v["system_resolution"], "FAILED");
    // Correlation by metadata finds it again.
    let r = srv.get(
        "/api/folders/?meta_data=customer_session_id==single-1&with_analyses=true",
        Some(&t),
    );
    let items = r.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["analyses"].as_array().map(Vec::len), Some(2));

    // Instant: same call, nothing stored afterwards.
    let f = form(
        &[
            ("a", "a.jpg", &a, &[]),
            ("b", "b.jpg", &data("biden.jpg"), &[]),
        ],
        json!({"analyses": [{"type": "biometry"}]}),
    );
    let r = srv.post_multipart("/api/instant/folders/", Some(&t), &f);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["analyses"][0]["resolution_status"], "DECLINED", "{v}");
    assert!(v["analyses"][0]["results_data"]["min_confidence"].is_number());
    let fid = v["folder_id"].as_str().expect("id");
    srv.get(&format!("/api/folders/{fid}"), Some(&t))
        .assert_error(404, 10);
    assert_eq!(srv.get("/api/folders/", Some(&t)).json()["total"], 1);
    // Instant mode has no collections to search.
    let f = form(
        &[("a", "a.jpg", &a, &[])],
        json!({"analyses": [{"type": "collection"}]}),
    );
    let msg = srv
        .post_multipart("/api/instant/folders/", Some(&t), &f)
        .assert_error(501, 2);
    assert!(msg.contains("collection"), "{msg}");
    // Instant without analyses is refused.
    let r = srv.post_multipart(
        "/api/instant/folders",
        Some(&t),
        &Multipart::new().file("a", "a.jpg", "image/jpeg", &a),
    );
    r.assert_error(400, 3);
}

#[test]
fn full_queue_answers_503_and_stores_nothing() {
    let srv = TestServer::start_with(&[("FACELITE_ANALYSIS_QUEUE_CAPACITY", "1")], &[]);
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "queue", "CLIENT");
    let f = folder_with(
        &srv,
        &t,
        &[("a", "obama.jpg", &[]), ("b", "obama2.jpg", &[])],
    );
    let fid = f["folder_id"].as_str().expect("id");
    let r = srv.post_json(
        &format!("/api/folders/{fid}/analyses"),
        Some(&t),
        &json!({"analyses": [{"type": "biometry"}, {"type": "biometry"}]}),
    );
    let msg = r.assert_error(503, 0);
    assert!(msg.contains("queue is full"), "{msg}");
    let r = srv.get(&format!("/api/folders/{fid}/analyses"), Some(&t));
    assert_eq!(r.json(), json!([]));
}

/// Video liveness on the media layer's clips, which show a *photo* panning in front of the
/// camera: a planar attack. It must never pass (more photo attacks: tests/liveness_attacks.rs).
#[test]
fn video_of_a_moving_photo_does_not_pass_quality() {
    let clip =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/media/h264_high.mp4");
    let Ok(bytes) = std::fs::read(&clip) else {
        panic!("missing test clip {}", clip.display());
    };
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "video", "CLIENT");
    let f = form(
        &[(
            "video1",
            "clip.mp4",
            &bytes,
            &["video_selfie", "video_selfie_blank", "orientation_portrait"],
        )],
        json!({}),
    );
    let r = srv.post_multipart("/api/folders/", Some(&t), &f);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["media"][0]["media_type"], "VIDEO_FOLDER");
    let fid = v["folder_id"].as_str().expect("id");
    let mid = v["media"][0]["media_id"].as_str().expect("mid");
    let a = start(
        &srv,
        &t,
        fid,
        json!({"analyses": [{"type": "quality", "source_media": [mid], "params": {"extract_best_shot": true}}]}),
    );
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 180);
    assert_ne!(done["resolution_status"], "SUCCESS", "{done}");
    let rm = &done["results_media"][0];
    assert_eq!(rm["source_video_id"], mid);
    if done["state"] == "FINISHED" {
        let s = rm["results_data"]["confidence_spoofing"]
            .as_f64()
            .expect("score");
        assert!(s >= 0.5, "{done}");
        let url = rm["output_images"][0]["original_url"]
            .as_str()
            .expect("best shot url");
        let path = &url[url.find("/api/").expect("path")..];
        let img = srv.get(path, Some(&t));
        assert_eq!(img.status, 200);
        assert_eq!(&img.body[..3], &[0xFF, 0xD8, 0xFF], "best shot is a JPEG");
    } else {
        assert!(rm["results_data"]["error"].is_string(), "{done}");
    }
}

/// The `[media]` decoding limits reach the analyses: with `media.max_width` below the clip's
/// 320 px, QUALITY FAILS with the limit's reason instead of decoding it.
#[test]
fn media_decoding_limits_from_the_config_apply_to_analyses() {
    let srv = TestServer::start_with(&[("FACELITE_MEDIA_MAX_WIDTH", "200")], &[]);
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "limits", "CLIENT");
    let clip = data("media/h264_high.mp4");
    let f = form(
        &[("video1", "clip.mp4", &clip, &["video_selfie"])],
        json!({}),
    );
    let r = srv.post_multipart("/api/folders/", Some(&t), &f);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let fid = v["folder_id"].as_str().expect("id");
    let a = start(&srv, &t, fid, json!({"analyses": [{"type": "quality"}]}));
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 120);
    assert_eq!(done["state"], "FAILED", "{done}");
    let reason = done["results_media"][0]["results_data"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("320"), "{done}");
}

#[test]
fn ozcapsula_bodies_get_the_container_error_on_folders_and_instant() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "capsula", "CLIENT");
    for path in ["/api/folders/", "/api/instant/folders/"] {
        let r = common::http(
            "POST",
            &srv.url(path),
            &[
                ("X-Forensic-Access-Token".into(), t.clone()),
                ("Content-Type".into(), "application/octet-stream".into()),
            ],
            b"\x00\x01 an encrypted container",
        );
        let msg = r.assert_error(400, 14);
        assert!(msg.contains("OzCapsula"), "{path}: {msg}");
    }
    assert_eq!(srv.get("/api/folders/", Some(&t)).json()["total"], 0);
}

/// QUALITY on a real head-turn clip keeps a best shot: stored, it is a JPEG served at its
/// `original_url`; in instant mode it comes back inline as base64 of a JPEG.
#[test]
fn best_shots_are_jpegs_linked_when_stored_and_inline_in_instant_mode() {
    use base64::Engine as _;
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "bestshot", "CLIENT");
    let clip = data("media/gesture_turn.mp4");
    let tags: &[&str] = &["video_selfie", "video_selfie_left"];
    let v = folder_with_clip(&srv, &t, &clip, tags);
    let fid = v["folder_id"].as_str().expect("id");
    let a = start(
        &srv,
        &t,
        fid,
        json!({"analyses": [{"type": "quality", "params": {"extract_best_shot": true}}]}),
    );
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 240);
    assert_eq!(done["state"], "FINISHED", "{done}");
    let img = &done["results_media"][0]["output_images"][0];
    let url = img["original_url"].as_str().expect("best shot url");
    let path = &url[url.find("/api/").expect("path")..];
    assert_eq!(srv.get(path, None).status, 401);
    let got = srv.get(path, Some(&t));
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("image/jpeg"));
    assert_eq!(&got.body[..3], &[0xFF, 0xD8, 0xFF], "best shot is a JPEG");
    assert!(
        got.body.len() > 1000,
        "a real image: {} bytes",
        got.body.len()
    );

    let f = form(
        &[("video1", "turn.mp4", &clip, tags)],
        json!({"analyses": [{"type": "quality", "params": {"extract_best_shot": true}}]}),
    );
    let r = srv.post_multipart("/api/instant/folders/", Some(&t), &f);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let a = &v["analyses"][0];
    assert_eq!(a["state"], "FINISHED", "{a}");
    let img = &a["results_media"][0]["output_images"][0];
    assert!(img["original_url"].is_null(), "{img}");
    let b64 = img["base64"].as_str().expect("inline best shot");
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("valid base64");
    assert_eq!(
        &jpeg[..3],
        &[0xFF, 0xD8, 0xFF],
        "inline best shot is a JPEG"
    );
    assert!(jpeg.ends_with(&[0xFF, 0xD9]), "a complete JPEG");
}

fn folder_with_clip(srv: &TestServer, token: &str, clip: &[u8], tags: &[&str]) -> Value {
    let f = form(&[("video1", "turn.mp4", clip, tags)], json!({}));
    let r = srv.post_multipart("/api/folders/", Some(token), &f);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Uploads `(field, file name, bytes, tags)` as one folder; returns (folder id, media ids).
fn upload(
    srv: &TestServer,
    t: &str,
    parts: &[(&str, &str, &[u8], &[&str])],
) -> (String, Vec<String>) {
    let r = srv.post_multipart("/api/folders/", Some(t), &form(parts, json!({})));
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let fid = v["folder_id"].as_str().expect("id").to_string();
    let mids = v["media"]
        .as_array()
        .expect("media")
        .iter()
        .map(|m| m["media_id"].as_str().expect("mid").to_string())
        .collect();
    (fid, mids)
}

/// BIOMETRY between a selfie video and an ID photo of the same person (openpeople P001: the
/// head-turn clip, made from other photos of them, against their selfie photo) compares the
/// video's best frame and matches.
#[test]
fn biometry_of_a_video_and_a_photo_of_the_same_person_uses_the_best_frame() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "biovideo", "CLIENT");
    let clip = data("media/gesture_turn.mp4");
    let photo = data("op_p001_selfie.jpg");
    let (fid, mids) = upload(
        &srv,
        &t,
        &[
            (
                "video1",
                "turn.mp4",
                &clip,
                &["video_selfie", "video_selfie_left"],
            ),
            ("id", "p001.jpg", &photo, &["photo_id", "photo_id_front"]),
        ],
    );
    let a = start(&srv, &t, &fid, json!({"analyses": [{"type": "BIOMETRY"}]}));
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 180);
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert_eq!(done["resolution_status"], "SUCCESS", "{done}");
    let min = done["results_data"]["min_confidence"]
        .as_f64()
        .expect("min");
    assert!(min >= 0.85, "{done}");
    let media = done["results_media"].as_array().expect("results_media");
    let video = media
        .iter()
        .find(|m| {
            m["source_video_id"] == mids[0].as_str() || m["source_media_id"] == mids[0].as_str()
        })
        .unwrap_or_else(|| panic!("no result for the video: {done}"));
    // The clip has 16 frames; the compared frame is one of them.
    let frame = video["results_data"]["best_shot_frame"]
        .as_u64()
        .unwrap_or_else(|| panic!("no best frame reported: {video}"));
    assert!(frame < 16, "{video}");
    let photo_result = media
        .iter()
        .find(|m| !std::ptr::eq(*m, video))
        .expect("photo result");
    assert!(
        photo_result["results_data"]["best_shot_frame"].is_null(),
        "{photo_result}"
    );
}

/// QUALITY on a shot set (ZIP of JPEG shots of a panning photo) over HTTP reaches a final state,
/// DECLINED for lack of 3-D motion, with its best shot stored as a JPEG.
#[test]
fn shot_set_quality_finishes_with_a_best_shot() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "shots", "CLIENT");
    let zip = data("media/shots.zip");
    let r = srv.post_multipart(
        "/api/folders/",
        Some(&t),
        &form(
            &[(
                "shots",
                "shots.zip",
                &zip,
                &["video_selfie", "video_selfie_blank"],
            )],
            json!({}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["media"][0]["media_type"], "SHOTS_SET", "{v}");
    let fid = v["folder_id"].as_str().expect("id");
    let a = start(
        &srv,
        &t,
        fid,
        json!({"analyses": [{"type": "QUALITY", "params": {"extract_best_shot": true}}]}),
    );
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 180);
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert_eq!(done["resolution_status"], "DECLINED", "{done}");
    let rm = &done["results_media"][0];
    let rd = &rm["results_data"];
    assert!(
        rd["confidence_spoofing"].as_f64().expect("score") >= 0.5,
        "{rd}"
    );
    assert!(
        rd["best_shot_frame"].as_u64().is_some_and(|i| i < 8),
        "{rd}"
    );
    let url = rm["output_images"][0]["original_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no best shot: {done}"));
    let path = &url[url.find("/api/").expect("path")..];
    let img = srv.get(path, Some(&t));
    assert_eq!(img.status, 200);
    assert_eq!(&img.body[..3], &[0xFF, 0xD8, 0xFF], "best shot is a JPEG");
}

/// A video whose container is valid but whose first keyframe is wiped is accepted at upload
/// (only headers are checked there) and FAILS the analysis with the decoder's reason.
#[test]
fn corrupt_video_stream_fails_the_analysis_with_a_reason() {
    let mut clip = data("media/h264_high.mp4");
    let stsz = clip.windows(4).position(|w| w == b"stsz").expect("stsz") + 4;
    let first_size = be32(&clip, stsz + 12);
    let stco = clip.windows(4).position(|w| w == b"stco").expect("stco") + 4;
    let first = be32(&clip, stco + 8);
    clip[first..first + first_size].fill(0);
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "corrupt", "CLIENT");
    let (fid, _) = upload(
        &srv,
        &t,
        &[("video1", "clip.mp4", &clip, &["video_selfie"])],
    );
    let a = start(&srv, &t, &fid, json!({"analyses": [{"type": "QUALITY"}]}));
    let done = wait_analysis(&srv, &t, a[0]["analysis_id"].as_str().expect("id"), 120);
    assert_eq!(done["state"], "FAILED", "{done}");
    let reason = done["results_media"][0]["results_data"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("corrupt"), "{done}");
    assert!(
        done["error_message"]
            .as_str()
            .or(done["results_data"]["error"].as_str())
            .is_some_and(|m| m.contains("corrupt")),
        "{done}"
    );
}
