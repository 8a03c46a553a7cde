//! The Oz multipart upload parser (`facelite::upload::parse`: folder creation, media addition and
//! instant mode), fed through a real hyper `Incoming` body in chunks: multer framing with the
//! size limits, the payload part (`parse_payload`: `media:tags`, `media:meta_data`,
//! `folder:meta_data`, `resolution_endpoint`/`check_endpoint`, `company_id`, `analyses`), magic
//! number sniffing, and the per-file checks (image header dimensions, ZIP directory and inflated
//! size). A payload with `analyses` is then validated as single request mode does
//! (`api::analyses::parse_requests`).
//!
//! Input: one option byte, then (when bit 4 is set) a Content-Type line, then the body.
//! Option bits: 0-3 chunk size of the body stream, 4 Content-Type from the input (else
//! `multipart/form-data; boundary=facelite-fuzz-boundary`), 5 small limits, 6 staging files on
//! disk (else memory, as instant mode).
#![no_main]

use std::sync::OnceLock;

use facelite::config::{Config, LimitsConfig};
use facelite::store::files::FileStore;
use facelite::upload::{self, Sink};
use facelite_fuzz::http::{serve_one, Request};
use facelite_fuzz::{chunk_size, multipart_content_type, Bytes};
use libfuzzer_sys::fuzz_target;

fn small_limits() -> LimitsConfig {
    LimitsConfig {
        max_body_bytes: 64 * 1024,
        max_file_bytes: 8 * 1024,
        max_upload_bytes: 32 * 1024,
        max_files_per_request: 3,
        max_payload_bytes: 512,
        max_zip_entries: 4,
        max_zip_inflated_bytes: 64 * 1024,
        max_image_pixels: 64 * 64,
        ..LimitsConfig::default()
    }
}

fn files() -> &'static FileStore {
    static STORE: OnceLock<(FileStore, std::path::PathBuf)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir").keep();
            (FileStore::open(&dir).expect("file store"), dir)
        })
        .0
}

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| {
    let mut input = Bytes::new(data);
    let opts = input.byte();
    let ct = multipart_content_type(&mut input, opts);
    let limits = if opts & 0x20 != 0 {
        small_limits()
    } else {
        LimitsConfig::default()
    };
    let on_disk = opts & 0x40 != 0;
    let req = Request {
        method: "POST",
        target: "/api/folders/",
        headers: vec![("content-type".into(), ct)],
        body: input.rest,
        chunk: chunk_size(opts),
    };
    let parsed = serve_one(&req, |parts, body| {
        let limits = limits.clone();
        async move {
            let ct = parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let len = parts
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let sink = if on_disk {
                Sink::Disk(files())
            } else {
                Sink::Memory
            };
            upload::parse(facelite_fuzz::http::req_body(body), &ct, len, &limits, sink).await
        }
    });
    let Some(Ok(up)) = parsed else {
        return;
    };
    assert!(up.files.len() <= limits.max_files_per_request);
    for f in &up.files {
        assert!(f.size > 0 && f.size <= limits.max_file_bytes as u64, "file size {}", f.size);
        let bytes = f.bytes().expect("read back an accepted file");
        assert_eq!(bytes.len() as u64, f.size);
        let sniffed = upload::sniff(&bytes[..bytes.len().min(64)]);
        assert_eq!(sniffed, Some((f.media_type, f.ext)));
        for t in up.payload.tags_for(&f.field) {
            assert!(!t.is_empty() && t.len() <= upload::MAX_TAG_LEN);
        }
        assert!(up.payload.meta_for(&f.field).is_object());
    }
    for k in up.payload.media_tags.keys().chain(up.payload.media_meta_data.keys()) {
        assert!(up.files.iter().any(|f| &f.field == k), "payload names a missing part {k:?}");
    }
    if let Some(analyses) = &up.payload.analyses {
        let config = Config::default();
        let ids: Vec<uuid::Uuid> = up.files.iter().map(|_| uuid::Uuid::new_v4()).collect();
        let _ = facelite::api::analyses::parse_requests(
            analyses,
            &ids,
            &facelite_fuzz::app::principal(true),
            &config,
        );
    }
});
