//! Oz API Lite over real HTTP with real models and real photos: every method, base64 mode,
//! the template format's refusals, and every Lite error code with its status.

mod common;
#[path = "lite/tiny_onnx.rs"]
mod tiny_onnx;

use base64::Engine as _;
use common::{data, http, Multipart, Resp, TestServer};
use facelite::lite::template::Template;
use serde_json::Value;

const JPEG: &str = "image/jpeg";
const BIN: &str = "application/octet-stream";

fn hdr(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Asserts a Lite error body (`code`, `message`) with this status; returns the body.
fn lite_err(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "status for {code}; body: {}", r.text());
    let j = r.json();
    assert_eq!(j["code"].as_str(), Some(code), "code; body: {j}");
    assert!(
        j["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message; body: {j}"
    );
    j
}

fn post_raw(srv: &TestServer, path: &str, ct: &str, body: &[u8], b64: bool) -> Resp {
    let mut h = hdr(&[("Content-Type", ct)]);
    if b64 {
        h.push(("Content-Transfer-Encoding".into(), "base64".into()));
    }
    http("POST", &srv.url(path), &h, body)
}

fn post_form(srv: &TestServer, path: &str, form: &Multipart, b64: bool) -> Resp {
    let (ct, body) = form.build();
    let mut h = hdr(&[("Content-Type", &ct)]);
    if b64 {
        h.push(("Content-Transfer-Encoding".into(), "base64".into()));
    }
    http("POST", &srv.url(path), &h, &body)
}

fn extract(srv: &TestServer, image: &str) -> Vec<u8> {
    let r = post_raw(srv, "/v1/face/pattern/extract", JPEG, &data(image), false);
    assert_eq!(r.status, 200, "extract {image}: {}", r.text());
    assert_eq!(r.header("content-type"), Some(BIN));
    r.body
}

fn score_decision(r: &Resp) -> (f64, String) {
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let s = j["score"]
        .as_f64()
        .unwrap_or_else(|| panic!("score in {j}"));
    assert!((0.0..=1.0).contains(&s), "score {s} out of range");
    (s, j["decision"].as_str().unwrap_or_default().to_string())
}

fn encode_jpeg(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A photo with two people: obama.jpg and grace_hopper.jpg side by side.
fn two_faces_jpeg() -> Vec<u8> {
    let a = image::load_from_memory(&data("obama.jpg"))
        .unwrap()
        .to_rgb8();
    let a = image::imageops::resize(&a, 480, 600, image::imageops::FilterType::Triangle);
    let b = image::load_from_memory(&data("grace_hopper.jpg"))
        .unwrap()
        .to_rgb8();
    let b = image::imageops::resize(&b, 480, 562, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(980, 620, image::Rgb([128, 128, 128]));
    image::imageops::overlay(&mut canvas, &a, 0, 10);
    image::imageops::overlay(&mut canvas, &b, 500, 20);
    encode_jpeg(&canvas)
}

/// A faceless 640x480 photo: a smooth gradient.
fn no_face_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 2) as u8, 90])
    });
    encode_jpeg(&img)
}

#[test]
fn version_and_health() {
    let srv = TestServer::start();
    let r = srv.get("/version", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["core"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    assert!(j["tfss"].as_str().is_some_and(|s| !s.is_empty()));
    let models = j["models"].as_array().expect("models");
    assert!(models.len() >= 3, "{j}");
    for m in models {
        assert!(m["name"].as_str().is_some_and(|s| !s.is_empty()), "{m}");
        assert!(m["version"].as_str().is_some_and(|s| !s.is_empty()), "{m}");
        assert_eq!(m["sha256"].as_str().map(str::len), Some(64), "{m}");
    }
    let r = srv.get("/v1/face/pattern/health/", None);
    assert_eq!(r.json()["status"], 0, "{}", r.text());
    // No passive model ships: liveness is honestly not ready and says why.
    let r = srv.get("/v1/face/liveness/health", None);
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["status"], 3, "{j}");
    assert!(j["message"]
        .as_str()
        .unwrap()
        .contains("no passive liveness model"));
    // ... and detect refuses with a Lite error instead of a score.
    let r = post_raw(
        &srv,
        "/v1/face/liveness/detect",
        JPEG,
        &data("obama.jpg"),
        false,
    );
    let j = lite_err(&r, 503, "LDE-001002");
    assert!(j.get("score").is_none());
}

#[test]
fn one_to_one_methods_agree_and_decide() {
    let srv = TestServer::start();
    let t_obama = extract(&srv, "obama.jpg");
    let t_obama2 = extract(&srv, "obama2.jpg");
    let t_biden = extract(&srv, "biden.jpg");
    assert_eq!(&t_obama[..4], b"FLTM");
    assert!(Template::from_bytes(&t_obama).is_ok());

    // compare: same person approved, different person declined.
    let same = Multipart::new()
        .file("bio_feature", "a.bin", BIN, &t_obama)
        .file("bio_template", "b.bin", BIN, &t_obama2);
    let (s_same, d) = score_decision(&post_form(&srv, "/v1/face/pattern/compare", &same, false));
    assert_eq!(d, "approved", "obama vs obama2 score {s_same}");
    assert!(s_same >= 0.85);
    let diff = Multipart::new()
        .file("bio_feature", "a.bin", BIN, &t_obama)
        .file("bio_template", "b.bin", BIN, &t_biden);
    let (s_diff, d) = score_decision(&post_form(&srv, "/v1/face/pattern/compare", &diff, false));
    assert_eq!(d, "declined", "obama vs biden score {s_diff}");
    assert!(s_diff < 0.85);

    // A template compared with itself is a perfect match.
    let selfc = Multipart::new()
        .file("bio_feature", "a.bin", BIN, &t_obama)
        .file("bio_template", "a.bin", BIN, &t_obama);
    let (s, d) = score_decision(&post_form(&srv, "/v1/face/pattern/compare", &selfc, false));
    assert_eq!((s, d.as_str()), (1.0, "approved"));

    // verify (image + template) and extract_and_compare (two images) give the same score
    // as compare on the extracted templates: extraction is deterministic.
    let v = Multipart::new()
        .file("sample", "obama2.jpg", JPEG, &data("obama2.jpg"))
        .file("bio_template", "t.bin", BIN, &t_obama);
    let (s, d) = score_decision(&post_form(&srv, "/v1/face/pattern/verify", &v, false));
    assert_eq!((s, d.as_str()), (s_same, "approved"));
    let v = Multipart::new()
        .file("sample", "biden.jpg", JPEG, &data("biden.jpg"))
        .file("bio_template", "t.bin", BIN, &t_obama);
    let (s, d) = score_decision(&post_form(&srv, "/v1/face/pattern/verify", &v, false));
    assert_eq!((s, d.as_str()), (s_diff, "declined"));
    let e = Multipart::new()
        .file("sample_1", "obama.jpg", JPEG, &data("obama.jpg"))
        .file("sample_2", "obama2.jpg", JPEG, &data("obama2.jpg"));
    let (s, d) = score_decision(&post_form(
        &srv,
        "/v1/face/pattern/extract_and_compare",
        &e,
        false,
    ));
    assert_eq!((s, d.as_str()), (s_same, "approved"));
    let e = Multipart::new()
        .file(
            "sample_1",
            "grace_hopper.jpg",
            JPEG,
            &data("grace_hopper.jpg"),
        )
        .file("sample_2", "obama.jpg", JPEG, &data("obama.jpg"));
    let (_, d) = score_decision(&post_form(
        &srv,
        "/v1/face/pattern/extract_and_compare",
        &e,
        false,
    ));
    assert_eq!(d, "declined");
}

#[test]
fn one_to_n_is_ranked_with_filenames() {
    let srv = TestServer::start();
    let t_obama = extract(&srv, "obama.jpg");
    let t_obama2 = extract(&srv, "obama2.jpg");
    let t_biden = extract(&srv, "biden.jpg");
    let t_grace = extract(&srv, "grace_hopper.jpg");

    let check = |r: Resp, want_first: &str, n: usize| -> Vec<(String, f64, String)> {
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        let rows: Vec<(String, f64, String)> = j["results"]
            .as_array()
            .unwrap_or_else(|| panic!("results in {j}"))
            .iter()
            .map(|x| {
                (
                    x["filename"].as_str().unwrap().to_string(),
                    x["score"].as_f64().unwrap(),
                    x["decision"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(rows.len(), n, "{j}");
        assert_eq!(rows[0].0, want_first, "{j}");
        assert_eq!(rows[0].2, "approved", "{j}");
        assert!(
            rows.windows(2).all(|w| w[0].1 >= w[1].1),
            "not best first: {j}"
        );
        for r in &rows[1..] {
            assert_eq!(r.2, "declined", "{j}");
        }
        rows
    };

    // The matching candidate is sent last; it must come back first.
    let form = Multipart::new()
        .file("template_1", "probe.bin", BIN, &t_obama)
        .file("templates_n", "biden.bin", BIN, &t_biden)
        .file("templates_n", "grace.bin", BIN, &t_grace)
        .file("templates_n", "obama2.bin", BIN, &t_obama2);
    let rows = check(
        post_form(&srv, "/v1/face/pattern/compare_n", &form, false),
        "obama2.bin",
        3,
    );
    let mut names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    names.sort();
    assert_eq!(names, ["biden.bin", "grace.bin", "obama2.bin"]);

    // The same 1:N in base64 mode. Text parts carry no filename, so candidates are named
    // `templates_n[index]`; each must score and decide exactly as its binary twin.
    let b64 = base64::engine::general_purpose::STANDARD;
    let form = Multipart::new()
        .text("template_1", &b64.encode(&t_obama))
        .text("templates_n", &b64.encode(&t_biden))
        .text("templates_n", &b64.encode(&t_grace))
        .text("templates_n", &b64.encode(&t_obama2));
    let rows64 = check(
        post_form(&srv, "/v1/face/pattern/compare_n", &form, true),
        "templates_n[2]",
        3,
    );
    let twins = ["biden.bin", "grace.bin", "obama2.bin"];
    for (label, score, decision) in &rows64 {
        let index: usize = label
            .strip_prefix("templates_n[")
            .and_then(|l| l.strip_suffix(']'))
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("unexpected label {label}"));
        let twin = rows
            .iter()
            .find(|r| r.0 == twins[index])
            .expect("binary twin");
        assert_eq!((*score, decision), (twin.1, &twin.2), "{label}");
    }

    let form = Multipart::new()
        .file("sample_1", "probe.jpg", JPEG, &data("obama2.jpg"))
        .file("templates_n", "grace.bin", BIN, &t_grace)
        .file("templates_n", "obama.bin", BIN, &t_obama)
        .file("templates_n", "biden.bin", BIN, &t_biden);
    check(
        post_form(&srv, "/v1/face/pattern/verify_n", &form, false),
        "obama.bin",
        3,
    );

    let form = Multipart::new()
        .file("sample_1", "probe.jpg", JPEG, &data("obama.jpg"))
        .file("samples_n", "biden.jpg", JPEG, &data("biden.jpg"))
        .file("samples_n", "obama2.jpg", JPEG, &data("obama2.jpg"));
    let bin = check(
        post_form(&srv, "/v1/face/pattern/extract_and_compare_n", &form, false),
        "obama2.jpg",
        2,
    );
    // Base64 images as text parts: the same scores, best first.
    let form = Multipart::new()
        .text("sample_1", &b64.encode(data("obama.jpg")))
        .text("samples_n", &b64.encode(data("biden.jpg")))
        .text("samples_n", &b64.encode(data("obama2.jpg")));
    let rows64 = check(
        post_form(&srv, "/v1/face/pattern/extract_and_compare_n", &form, true),
        "samples_n[1]",
        2,
    );
    let scores = |r: &[(String, f64, String)]| r.iter().map(|x| x.1).collect::<Vec<_>>();
    assert_eq!(scores(&rows64), scores(&bin));

    // A bad candidate fails the request and is named.
    let form = Multipart::new()
        .file("template_1", "probe.bin", BIN, &t_obama)
        .file("templates_n", "ok.bin", BIN, &t_biden)
        .file("templates_n", "broken.bin", BIN, b"garbage");
    let r = post_form(&srv, "/v1/face/pattern/compare_n", &form, false);
    let j = lite_err(&r, 400, "BPE-002004");
    assert_eq!(j["details"]["filename"], "broken.bin", "{j}");
    assert_eq!(j["details"]["index"], 1, "{j}");
    // No candidates at all.
    let form = Multipart::new().file("template_1", "probe.bin", BIN, &t_obama);
    lite_err(
        &post_form(&srv, "/v1/face/pattern/compare_n", &form, false),
        400,
        "BPE-002004",
    );
}

#[test]
fn base64_mode_round_trips_and_matches_binary() {
    let srv = TestServer::start();
    let b64 = base64::engine::general_purpose::STANDARD;
    let bin_t = extract(&srv, "obama.jpg");
    let img_b64 = b64.encode(data("obama.jpg"));
    let r = post_raw(
        &srv,
        "/v1/face/pattern/extract",
        JPEG,
        img_b64.as_bytes(),
        true,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let decoded = b64.decode(text.trim()).expect("template is base64 text");
    assert_eq!(decoded, bin_t, "base64 extract differs from binary extract");

    // compare with base64 templates as text parts; same score as binary.
    let t2 = extract(&srv, "obama2.jpg");
    let form = Multipart::new()
        .text("bio_feature", &text)
        .text("bio_template", &b64.encode(&t2));
    let (s64, d) = score_decision(&post_form(&srv, "/v1/face/pattern/compare", &form, true));
    let form =
        Multipart::new()
            .file("bio_feature", "a", BIN, &bin_t)
            .file("bio_template", "b", BIN, &t2);
    let (sbin, _) = score_decision(&post_form(&srv, "/v1/face/pattern/compare", &form, false));
    assert_eq!((s64, d.as_str()), (sbin, "approved"));

    // verify with a base64 image and template.
    let form = Multipart::new()
        .text("sample", &b64.encode(data("obama2.jpg")))
        .text("bio_template", &text);
    let (s, _) = score_decision(&post_form(&srv, "/v1/face/pattern/verify", &form, true));
    assert_eq!(s, sbin);

    // Not base64 in base64 mode: unreadable sample / template.
    let r = post_raw(
        &srv,
        "/v1/face/pattern/extract",
        JPEG,
        b"%%% not base64",
        true,
    );
    lite_err(&r, 400, "BPE-002003");
    let form = Multipart::new()
        .text("bio_feature", "%%%")
        .text("bio_template", &text);
    lite_err(
        &post_form(&srv, "/v1/face/pattern/compare", &form, true),
        400,
        "BPE-002004",
    );
}

#[test]
fn templates_are_refused_when_tampered_truncated_or_foreign() {
    let srv = TestServer::start();
    let t = extract(&srv, "obama.jpg");
    let compare = |a: &[u8]| {
        let form =
            Multipart::new()
                .file("bio_feature", "a", BIN, a)
                .file("bio_template", "b", BIN, &t);
        post_form(&srv, "/v1/face/pattern/compare", &form, false)
    };
    assert_eq!(compare(&t).status, 200);
    // One byte changed inside the vector.
    let mut tampered = t.clone();
    let i = t.len() - 100;
    tampered[i] ^= 0x40;
    let j = lite_err(&compare(&tampered), 400, "BPE-002004");
    assert!(j["message"].as_str().unwrap().contains("integrity"), "{j}");
    // Truncated.
    lite_err(&compare(&t[..t.len() - 3]), 400, "BPE-002004");
    // Another model version, correctly checksummed: refused, not compared.
    let mut other = Template::from_bytes(&t).unwrap().embedding;
    other.model_version.push_str("-other");
    let foreign = Template::new(other).unwrap().to_bytes();
    let j = lite_err(&compare(&foreign), 400, "BPE-002004");
    assert!(j["message"].as_str().unwrap().contains("model"), "{j}");
    // An image where a template belongs.
    lite_err(&compare(&data("obama.jpg")), 400, "BPE-002004");
}

#[test]
fn every_biometry_error_has_its_code_and_status() {
    let srv = TestServer::start();
    let t = extract(&srv, "obama.jpg");
    // BPE-002001: wrong request content type (raw and multipart methods).
    lite_err(
        &post_raw(
            &srv,
            "/v1/face/pattern/extract",
            "text/plain",
            &data("obama.jpg"),
            false,
        ),
        400,
        "BPE-002001",
    );
    lite_err(
        &post_raw(
            &srv,
            "/v1/face/pattern/verify",
            JPEG,
            &data("obama.jpg"),
            false,
        ),
        400,
        "BPE-002001",
    );
    // BPE-002002: wrong method, Lite body rather than the Oz one.
    let r = srv.get("/v1/face/pattern/extract", None);
    lite_err(&r, 405, "BPE-002002");
    let r = http("DELETE", &srv.url("/v1/face/pattern/compare_n/"), &[], b"");
    lite_err(&r, 405, "BPE-002002");
    let r = http("POST", &srv.url("/version"), &[], b"");
    lite_err(&r, 405, "BPE-002002");
    // BPE-002003: unreadable image (garbage; truncated JPEG; missing part).
    lite_err(
        &post_raw(
            &srv,
            "/v1/face/pattern/extract",
            JPEG,
            b"not an image at all",
            false,
        ),
        400,
        "BPE-002003",
    );
    let jpg = data("obama.jpg");
    lite_err(
        &post_raw(
            &srv,
            "/v1/face/pattern/extract",
            JPEG,
            &jpg[..jpg.len() / 2],
            false,
        ),
        400,
        "BPE-002003",
    );
    lite_err(
        &post_raw(&srv, "/v1/face/pattern/extract", JPEG, b"", false),
        400,
        "BPE-002003",
    );
    let form = Multipart::new().file("bio_template", "t", BIN, &t);
    let j = lite_err(
        &post_form(&srv, "/v1/face/pattern/verify", &form, false),
        400,
        "BPE-002003",
    );
    assert!(j["message"].as_str().unwrap().contains("sample"), "{j}");
    // BPE-002004: unreadable template.
    let form = Multipart::new().file("sample", "s.jpg", JPEG, &jpg).file(
        "bio_template",
        "t",
        BIN,
        b"\x00\x01\x02",
    );
    lite_err(
        &post_form(&srv, "/v1/face/pattern/verify", &form, false),
        400,
        "BPE-002004",
    );
    // BPE-002005: a part with the wrong content type.
    let form = Multipart::new().file("sample", "s.jpg", JPEG, &jpg).file(
        "bio_template",
        "t.jpg",
        JPEG,
        &t,
    );
    let j = lite_err(
        &post_form(&srv, "/v1/face/pattern/verify", &form, false),
        400,
        "BPE-002005",
    );
    assert_eq!(j["details"]["part"], "bio_template");
    let form = Multipart::new()
        .file("sample_1", "s.json", "application/json", &jpg)
        .file("sample_2", "s.jpg", JPEG, &jpg);
    lite_err(
        &post_form(&srv, "/v1/face/pattern/extract_and_compare", &form, false),
        400,
        "BPE-002005",
    );
    // BPE-003001: a face too small to extract from, and an image too small to hold one.
    let small = image::load_from_memory(&jpg).unwrap().to_rgb8();
    let small = image::imageops::resize(&small, 60, 75, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(640, 480, image::Rgb([120, 120, 120]));
    image::imageops::overlay(&mut canvas, &small, 300, 200);
    let r = post_raw(
        &srv,
        "/v1/face/pattern/extract",
        JPEG,
        &encode_jpeg(&canvas),
        false,
    );
    // The detector finds the face (about 16 px wide): too small to extract from, which is
    // 003001, not "no face" (003002).
    let j = lite_err(&r, 400, "BPE-003001");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("smaller than the minimum"),
        "{j}"
    );
    let tiny = image::RgbImage::from_pixel(16, 16, image::Rgb([100, 100, 100]));
    lite_err(
        &post_raw(
            &srv,
            "/v1/face/pattern/extract",
            JPEG,
            &encode_jpeg(&tiny),
            false,
        ),
        400,
        "BPE-003001",
    );
    // BPE-003002: no face.
    lite_err(
        &post_raw(
            &srv,
            "/v1/face/pattern/extract",
            JPEG,
            &no_face_jpeg(),
            false,
        ),
        400,
        "BPE-003002",
    );
    // BPE-003003: two people.
    let r = post_raw(
        &srv,
        "/v1/face/pattern/extract",
        JPEG,
        &two_faces_jpeg(),
        false,
    );
    let j = lite_err(&r, 400, "BPE-003003");
    assert_eq!(j["details"]["face_count"], 2, "{j}");
    // Lite error bodies are not Oz bodies.
    assert!(j.get("error_code").is_none());
}

#[test]
fn liveness_with_an_installed_passive_model() {
    let models = tempfile::tempdir().unwrap();
    // Logits (0.0, ln 4): p_live = 0.8, attack probability 0.2.
    let attack = tiny_onnx::install(models.path(), [0.0, 4f32.ln()]);
    let dir = models.path().to_str().unwrap();
    let srv = TestServer::start_with(&[], &["--models-dir", dir]);
    let j = srv.get("/v1/face/liveness/health", None).json();
    assert_eq!(j["status"], 0, "{j}");
    let v = srv.get("/version", None).json();
    assert!(
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "tiny-passive-test"),
        "{v}"
    );
    let r = post_raw(
        &srv,
        "/v1/face/liveness/detect",
        JPEG,
        &data("obama.jpg"),
        false,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let score = j["score"].as_f64().unwrap();
    assert!((score - f64::from(attack)).abs() < 1e-4, "{j} vs {attack}");
    assert_eq!(j["passed"], true, "{j}");
    // Multipart and base64 give the same answer.
    let form = Multipart::new().file("sample", "o.jpg", JPEG, &data("obama.jpg"));
    assert_eq!(
        post_form(&srv, "/v1/face/liveness/detect", &form, false).json(),
        j
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(data("obama.jpg"));
    let r = post_raw(&srv, "/v1/face/liveness/detect", JPEG, b64.as_bytes(), true);
    assert_eq!(r.json(), j);
    // LDE- errors.
    lite_err(
        &post_raw(
            &srv,
            "/v1/face/liveness/detect",
            "video/mp4",
            &data("obama.jpg"),
            false,
        ),
        400,
        "LDE-002001",
    );
    lite_err(
        &srv.get("/v1/face/liveness/detect", None),
        405,
        "LDE-002002",
    );
    lite_err(
        &post_raw(&srv, "/v1/face/liveness/detect", JPEG, b"garbage", false),
        400,
        "LDE-002003",
    );
    let form = Multipart::new().file("sample", "o.txt", "text/html", &data("obama.jpg"));
    lite_err(
        &post_form(&srv, "/v1/face/liveness/detect", &form, false),
        400,
        "LDE-002005",
    );
    lite_err(
        &post_raw(
            &srv,
            "/v1/face/liveness/detect",
            JPEG,
            &no_face_jpeg(),
            false,
        ),
        400,
        "LDE-003002",
    );
    lite_err(
        &post_raw(
            &srv,
            "/v1/face/liveness/detect",
            JPEG,
            &two_faces_jpeg(),
            false,
        ),
        400,
        "LDE-003003",
    );
    drop(srv);

    // A stricter threshold turns the same score into a failure: passed follows the config.
    let srv = TestServer::start_with(
        &[("FACELITE_THRESHOLDS_LIVENESS", "0.1")],
        &["--models-dir", dir],
    );
    let r = post_raw(
        &srv,
        "/v1/face/liveness/detect",
        JPEG,
        &data("obama.jpg"),
        false,
    );
    let j = r.json();
    assert_eq!(j["passed"], false, "{j}");
    assert!((j["score"].as_f64().unwrap() - f64::from(attack)).abs() < 1e-4);
}

#[test]
fn a_broken_model_is_an_internal_error() {
    let models = tempfile::tempdir().unwrap();
    tiny_onnx::install(models.path(), [0.0, 0.0]);
    // The classifier has 2 outputs; class 5 does not exist, so scoring fails at run time.
    let manifest = std::fs::read_to_string(models.path().join("manifest.toml")).unwrap();
    // An embedder whose descriptor is all zeros fails every embedding at run time.
    let embedder = tiny_onnx::embedder_entry(models.path(), [0.0, 0.0]);
    std::fs::write(
        models.path().join("manifest.toml"),
        manifest.replace("live_class = 1", "live_class = 5") + &embedder,
    )
    .unwrap();
    let srv = TestServer::start_with(&[], &["--models-dir", models.path().to_str().unwrap()]);
    let r = post_raw(
        &srv,
        "/v1/face/liveness/detect",
        JPEG,
        &data("obama.jpg"),
        false,
    );
    lite_err(&r, 500, "LDE-001001");
    // The biometry family reports the same class of failure as BPE-001001.
    let r = post_raw(
        &srv,
        "/v1/face/pattern/extract",
        JPEG,
        &data("obama.jpg"),
        false,
    );
    let j = lite_err(&r, 500, "BPE-001001");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("tiny-embedder-test"),
        "{j}"
    );
    let form = Multipart::new()
        .file("sample_1", "a.jpg", JPEG, &data("obama.jpg"))
        .file("sample_2", "b.jpg", JPEG, &data("obama2.jpg"));
    lite_err(
        &post_form(&srv, "/v1/face/pattern/extract_and_compare", &form, false),
        500,
        "BPE-001001",
    );
    // A client's mistake is still reported as such, not as the broken model.
    lite_err(
        &post_raw(&srv, "/v1/face/pattern/extract", JPEG, b"garbage", false),
        400,
        "BPE-002003",
    );
}

/// Without a passive model, a request that is malformed gets its own 4xx first; a well-formed
/// one gets 503 before its body is decoded.
#[test]
fn liveness_request_errors_come_before_the_missing_model() {
    let srv = TestServer::start();
    let detect = "/v1/face/liveness/detect";
    lite_err(
        &post_raw(&srv, detect, "video/mp4", &data("obama.jpg"), false),
        400,
        "LDE-002001",
    );
    lite_err(
        &post_raw(&srv, detect, "text/plain", b"hello", false),
        400,
        "LDE-002001",
    );
    let r = http("POST", &srv.url(detect), &[], &data("obama.jpg"));
    lite_err(&r, 400, "LDE-002001");
    lite_err(
        &post_raw(&srv, detect, "multipart/form-data", b"x", false),
        400,
        "LDE-002001",
    );
    lite_err(&srv.get(detect, None), 405, "LDE-002002");
    lite_err(
        &http(
            "PUT",
            &srv.url(detect),
            &hdr(&[("Content-Type", JPEG)]),
            b"x",
        ),
        405,
        "LDE-002002",
    );
    // Well-formed requests: the missing model, whatever the body holds.
    lite_err(
        &post_raw(&srv, detect, JPEG, b"not decoded", false),
        503,
        "LDE-001002",
    );
    let form = Multipart::new().file("sample", "o.jpg", JPEG, &data("obama.jpg"));
    lite_err(&post_form(&srv, detect, &form, false), 503, "LDE-001002");
}

/// Over-limit input is 413 with the code of what is too large: an image over
/// `limits.max_image_pixels` is an unreadable sample, more candidates than
/// `lite.max_candidates` (or more parts than a request may hold) is unreadable input of the
/// method's candidate kind - templates for `compare_n` and `verify_n`, images for
/// `extract_and_compare_n`.
#[test]
fn limits_answer_413_with_the_code_of_what_is_too_large() {
    let srv = TestServer::start_with(
        &[
            ("FACELITE_LITE_MAX_CANDIDATES", "2"),
            ("FACELITE_LIMITS_MAX_IMAGE_PIXELS", "100000"),
        ],
        &[],
    );
    // obama.jpg is 910x1137: over 100 000 pixels.
    let j = lite_err(
        &post_raw(
            &srv,
            "/v1/face/pattern/extract",
            JPEG,
            &data("obama.jpg"),
            false,
        ),
        413,
        "BPE-002003",
    );
    assert!(j["message"].as_str().unwrap().contains("100000"), "{j}");
    let form = Multipart::new()
        .file("sample_1", "big.jpg", JPEG, &data("obama.jpg"))
        .file("sample_2", "b.jpg", JPEG, &data("biden.jpg"));
    let j = lite_err(
        &post_form(&srv, "/v1/face/pattern/extract_and_compare", &form, false),
        413,
        "BPE-002003",
    );
    assert_eq!(j["details"]["part"], "sample_1", "{j}");

    // Candidates over lite.max_candidates (checked before any of them is read).
    let n_form = |probe: (&str, &str), field: &str, ct: &str, n: usize| {
        let mut f = Multipart::new().file(probe.0, "probe", probe.1, b"probe");
        for i in 0..n {
            f = f.file(field, &format!("c{i}"), ct, b"candidate");
        }
        f
    };
    let cases = [
        (
            "compare_n",
            ("template_1", BIN),
            "templates_n",
            BIN,
            "BPE-002004",
        ),
        (
            "verify_n",
            ("sample_1", JPEG),
            "templates_n",
            BIN,
            "BPE-002004",
        ),
        (
            "extract_and_compare_n",
            ("sample_1", JPEG),
            "samples_n",
            JPEG,
            "BPE-002003",
        ),
    ];
    for (method, probe, field, ct, code) in cases {
        let path = format!("/v1/face/pattern/{method}");
        let j = lite_err(
            &post_form(&srv, &path, &n_form(probe, field, ct, 3), false),
            413,
            code,
        );
        assert!(
            j["message"].as_str().unwrap().contains("max_candidates"),
            "{method}: {j}"
        );
        // More parts than any request may hold (max_candidates + 8 = 10).
        let j = lite_err(
            &post_form(&srv, &path, &n_form(probe, field, ct, 10), false),
            413,
            code,
        );
        assert!(
            j["message"]
                .as_str()
                .unwrap()
                .contains("more than 10 parts"),
            "{method}: {j}"
        );
    }
    // At the limit the request is read (and fails on its content, not its size).
    let r = post_form(
        &srv,
        "/v1/face/pattern/compare_n",
        &n_form(("template_1", BIN), "templates_n", BIN, 2),
        false,
    );
    lite_err(&r, 400, "BPE-002004");
}

/// A face found but smaller than `vision.min_face_px` is `*-003001` in both families: nothing
/// reliable can be extracted from it.
#[test]
fn a_face_under_the_minimum_size_is_003001() {
    let models = tempfile::tempdir().unwrap();
    tiny_onnx::install(models.path(), [0.0, 4f32.ln()]);
    let srv = TestServer::start_with(
        &[("FACELITE_VISION_MIN_FACE_PX", "2000")],
        &["--models-dir", models.path().to_str().unwrap()],
    );
    let j = lite_err(
        &post_raw(
            &srv,
            "/v1/face/pattern/extract",
            JPEG,
            &data("obama.jpg"),
            false,
        ),
        400,
        "BPE-003001",
    );
    assert!(j["message"].as_str().unwrap().contains("2000"), "{j}");
    let j = lite_err(
        &post_raw(
            &srv,
            "/v1/face/liveness/detect",
            JPEG,
            &data("obama.jpg"),
            false,
        ),
        400,
        "LDE-003001",
    );
    assert!(j.get("score").is_none(), "{j}");
}

#[test]
fn operator_band_switch_and_token() {
    // A band reaching down to 0.5 turns a below-threshold score in it into operator_required.
    let srv = TestServer::start_with(&[("FACELITE_LITE_OPERATOR_BAND", "0.85")], &[]);
    let form = Multipart::new()
        .file("sample_1", "a.jpg", JPEG, &data("obama.jpg"))
        .file("sample_2", "b.jpg", JPEG, &data("biden.jpg"));
    let (s, d) = score_decision(&post_form(
        &srv,
        "/v1/face/pattern/extract_and_compare",
        &form,
        false,
    ));
    assert!(s < 0.85);
    assert_eq!(d, "operator_required", "score {s}");
    drop(srv);

    // Lite switched off: its paths do not exist.
    let srv = TestServer::start_with(&[("FACELITE_LITE_ENABLED", "false")], &[]);
    let r = srv.get("/version", None);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = post_raw(
        &srv,
        "/v1/face/pattern/extract",
        JPEG,
        &data("obama.jpg"),
        false,
    );
    assert_eq!(r.status, 404);
    drop(srv);

    // Token required: refused without one, accepted with a valid one.
    let srv = TestServer::start_with(&[("FACELITE_LITE_REQUIRE_TOKEN", "true")], &[]);
    let r = srv.get("/version", None);
    let j = lite_err(&r, 401, "BPE-002006");
    assert!(j["details"]["oz_error_code"].is_i64(), "{j}");
    let r = http(
        "GET",
        &srv.url("/v1/face/liveness/health"),
        &hdr(&[("X-Forensic-Access-Token", "not-a-token")]),
        b"",
    );
    assert!(r.status == 401 || r.status == 403, "{}", r.text());
    assert_eq!(r.json()["code"].as_str().map(|c| &c[..4]), Some("LDE-"));
    let token = srv.admin_token();
    let r = srv.get("/version", Some(&token));
    assert_eq!(r.status, 200, "{}", r.text());
}
