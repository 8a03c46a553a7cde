//! JSON request bodies that carry analysis requests and upload metadata:
//! * `POST /api/folders/{id}/analyses`: the body as the handler reads it (`serde_json` into a
//!   `Value`), `api::analyses::parse_requests` (types, rights, `source_media`, `params`,
//!   threshold overrides, `meta_data`) for a principal with and without rights, and
//!   `upload::check_endpoint` for `resolution_endpoint`;
//! * the `payload` part of an Oz upload (`upload::parse` -> `parse_payload`), with two image
//!   parts named `photo1` and `video1`, then its `analyses` through `parse_requests`;
//! * the `payload` part of a person upload (`collections::upload::parse`) with one image part
//!   named `photo1`.
//!
//! The folder's media ids are FOLDER_MEDIA (in the seeds and the dictionary).
#![no_main]

use facelite::config::{Config, LimitsConfig};
use facelite::upload::{self, Sink};
use facelite_fuzz::http::{serve_one, Request};
use facelite_fuzz::BOUNDARY;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const FOLDER_MEDIA: [&str; 2] = [
    "11111111-2222-4333-8444-555555555555",
    "66666666-7777-4888-9999-aaaaaaaaaaaa",
];

/// A 1x1 24-bit BMP: the smallest image every upload parser accepts.
fn tiny_bmp() -> Vec<u8> {
    let mut b = Vec::with_capacity(58);
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&58u32.to_le_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&1i32.to_le_bytes());
    b.extend_from_slice(&1i32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&2835u32.to_le_bytes());
    b.extend_from_slice(&2835u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[0x20, 0x40, 0x80, 0]);
    b
}

fn multipart(payload: &[u8], files: &[&str]) -> Vec<u8> {
    let bmp = tiny_bmp();
    let mut body = Vec::new();
    for name in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.bmp\"\r\nContent-Type: image/bmp\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&bmp);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"payload\"\r\nContent-Type: application/json\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(payload);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn content_type(parts: &http::request::Parts) -> String {
    parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| {
    let config = Config::default();
    let media: Vec<uuid::Uuid> = FOLDER_MEDIA.iter().map(|s| s.parse().unwrap()).collect();

    // The analyses start body.
    if data.len() <= config.limits.max_json_bytes {
        if let Ok(body) = serde_json::from_slice::<Value>(data) {
            let analyses = body.get("analyses").unwrap_or(&Value::Null);
            for rights in [true, false] {
                let p = facelite_fuzz::app::principal(rights);
                if let Ok(reqs) = facelite::api::analyses::parse_requests(analyses, &media, &p, &config) {
                    assert!(!reqs.is_empty() && reqs.len() <= config.limits.max_analyses_per_request);
                    for r in &reqs {
                        assert!(r.source_media.iter().all(|m| media.contains(m)));
                        assert!(r.params.is_object() && r.meta_data.is_object());
                    }
                }
            }
            if let Some(Value::String(s)) = body.get("resolution_endpoint") {
                if let Ok(u) = upload::check_endpoint(s) {
                    assert!(u.starts_with("http://") || u.starts_with("https://"));
                }
            }
        }
    }

    // The payload part of an Oz upload.
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let body = multipart(data, &["photo1", "video1"]);
    let req = Request {
        method: "POST",
        target: "/api/folders/",
        headers: vec![("content-type".into(), ct.clone())],
        body: &body,
        chunk: 0,
    };
    let limits = LimitsConfig::default();
    let parsed = serve_one(&req, |parts, body| async move {
        upload::parse(facelite_fuzz::http::req_body(body), &content_type(&parts), None, &limits, Sink::Memory).await
    });
    if let Some(Ok(up)) = parsed {
        if let Some(analyses) = &up.payload.analyses {
            let p = facelite_fuzz::app::principal(true);
            let _ = facelite::api::analyses::parse_requests(analyses, &media, &p, &config);
        }
        if let Some(e) = &up.payload.resolution_endpoint {
            assert!(upload::check_endpoint(e).is_ok());
        }
    }

    // The payload part of a person upload.
    let body = multipart(data, &["photo1"]);
    let req = Request {
        method: "POST",
        target: "/api/collections/c/persons/",
        headers: vec![("content-type".into(), ct)],
        body: &body,
        chunk: 0,
    };
    let limits = facelite::collections::upload::UploadLimits {
        max_body_bytes: config.limits.max_body_bytes,
        max_image_bytes: config.collections.max_image_bytes,
        max_images: config.collections.max_images_per_person,
    };
    let parsed = serve_one(&req, |parts, body| async move {
        facelite::collections::upload::parse(facelite_fuzz::http::req_body(body), &content_type(&parts), &limits).await
    });
    if let Some(Ok(up)) = parsed {
        assert!(up.meta_data.is_object());
    }
});
