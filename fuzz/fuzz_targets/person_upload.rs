//! The person-image multipart parser of collections (`facelite::collections::upload::parse`:
//! `POST .../persons/` and `.../persons/{id}/images/`), fed through a real hyper `Incoming` body
//! in chunks: multer framing and limits, image sniffing, the `payload` part (`person:meta_data`,
//! `media:tags`).
//!
//! Input: one option byte, then (when bit 4 is set) a Content-Type line, then the body.
//! Option bits: 0-3 chunk size, 4 Content-Type from the input, 5 small limits.
#![no_main]

use facelite::collections::upload::{self, UploadLimits};
use facelite::config::Config;
use facelite_fuzz::http::{serve_one, Request};
use facelite_fuzz::{chunk_size, multipart_content_type, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| {
    let mut input = Bytes::new(data);
    let opts = input.byte();
    let ct = multipart_content_type(&mut input, opts);
    let limits = if opts & 0x20 != 0 {
        UploadLimits {
            max_body_bytes: 16 * 1024,
            max_image_bytes: 4 * 1024,
            max_images: 2,
        }
    } else {
        let cfg = Config::default();
        UploadLimits {
            max_body_bytes: cfg.limits.max_body_bytes,
            max_image_bytes: cfg.collections.max_image_bytes,
            max_images: cfg.collections.max_images_per_person,
        }
    };
    let req = Request {
        method: "POST",
        target: "/api/collections/c/persons/",
        headers: vec![("content-type".into(), ct)],
        body: input.rest,
        chunk: chunk_size(opts),
    };
    let parsed = serve_one(&req, |parts, body| async move {
        let ct = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        upload::parse(facelite_fuzz::http::req_body(body), &ct, &limits).await
    });
    let Some(Ok(up)) = parsed else {
        return;
    };
    assert!(up.images.len() <= limits.max_images);
    assert!(up.meta_data.is_object());
    for img in &up.images {
        assert!(!img.bytes.is_empty() && img.bytes.len() <= limits.max_image_bytes);
        assert_eq!(
            upload::sniff(&img.bytes[..img.bytes.len().min(16)]),
            Some((img.ext, img.content_type))
        );
        assert!(img.tags.len() <= upload::MAX_TAGS);
        assert!(up.images.iter().filter(|o| o.field == img.field).count() == 1);
    }
});
