//! Oz API Lite request bodies (`api::lite::input`): raw image bodies (`raw_image`,
//! `check_raw_image_type`) and `multipart/form-data` (`check_multipart_type`, `multipart` with
//! each method's expected fields, per-part Content-Type and base64 handling, `decode_base64`,
//! `single`, `repeated`), read from a real handler `Ctx` over a real hyper body; template parts
//! then go through `lite::pipeline::read_template` as the handlers do.
//!
//! Input: one option byte, then (when bit 4 is set) a Content-Type line, then the body.
//! Option bits: 0-2 the method (extract, liveness/detect, compare, verify, extract_and_compare,
//! compare_n, verify_n, extract_and_compare_n), 3 `Content-Transfer-Encoding: base64`,
//! 4 Content-Type from the input (else 5 decides), 5 `image/jpeg` (else multipart with the seed
//! boundary), 6-7 chunk size.
#![no_main]

use facelite::api::lite::input::{self, Expect, Part, PartKind};
use facelite::http::router::Ctx;
use facelite::lite::error::LiteError;
use facelite_fuzz::http::{serve_one, Request};
use facelite_fuzz::{header_value, Bytes, BOUNDARY};
use libfuzzer_sys::fuzz_target;

const METHODS: [(&str, &[(&str, PartKind)]); 8] = [
    ("/v1/face/pattern/extract", &[]),
    (
        "/v1/face/liveness/detect",
        &[
            ("sample", PartKind::Image),
            ("image", PartKind::Image),
            ("photo", PartKind::Image),
        ],
    ),
    (
        "/v1/face/pattern/compare",
        &[
            ("bio_feature", PartKind::Template),
            ("bio_template", PartKind::Template),
        ],
    ),
    (
        "/v1/face/pattern/verify",
        &[
            ("sample", PartKind::Image),
            ("bio_template", PartKind::Template),
        ],
    ),
    (
        "/v1/face/pattern/extract_and_compare",
        &[("sample_1", PartKind::Image), ("sample_2", PartKind::Image)],
    ),
    (
        "/v1/face/pattern/compare_n",
        &[
            ("template_1", PartKind::Template),
            ("templates_n", PartKind::Template),
        ],
    ),
    (
        "/v1/face/pattern/verify_n",
        &[
            ("sample_1", PartKind::Image),
            ("templates_n", PartKind::Template),
        ],
    ),
    (
        "/v1/face/pattern/extract_and_compare_n",
        &[
            ("sample_1", PartKind::Image),
            ("samples_n", PartKind::Image),
        ],
    ),
];

/// What the handlers do with the parts before inference: pick them, read the templates.
fn use_parts(ctx: &Ctx, method: usize, parts: &[Part]) -> Result<(), LiteError> {
    let fields = METHODS[method].1;
    if method == 1 {
        assert!(parts.len() <= 8);
        return Ok(());
    }
    let (first, first_kind) = fields[0];
    let (second, second_kind) = fields[1];
    let probe = input::single(parts, first, first_kind)?;
    let others: Vec<&Part> = if method >= 5 {
        let c = input::repeated(parts, second, second_kind)?;
        if c.len() > ctx.app.config.lite.max_candidates {
            return Ok(());
        }
        c
    } else {
        vec![input::single(parts, second, second_kind)?]
    };
    for (p, kind) in
        std::iter::once((probe, first_kind)).chain(others.into_iter().map(|o| (o, second_kind)))
    {
        assert!(!p.data.is_empty());
        if kind == PartKind::Template {
            let _ = facelite::lite::pipeline::read_template(&ctx.app.vision, &p.data);
        }
    }
    Ok(())
}

async fn run(mut ctx: Ctx, method: usize) -> Result<(), LiteError> {
    if method == 0 {
        let b64 = input::base64_mode(&ctx);
        let image = input::raw_image(&mut ctx).await?;
        // A base64 body of only whitespace (or a bare `data:...,` prefix) decodes to nothing and
        // is returned as an empty image (the emptiness check runs before decoding; the multipart
        // path checks after): the decoder refuses it later, so it is tolerated here.
        assert!(b64 || !image.is_empty());
        return Ok(());
    }
    if method == 1 && !input::is_multipart(&ctx) {
        input::check_raw_image_type(&ctx)?;
        input::raw_image(&mut ctx).await?;
        return Ok(());
    }
    input::check_multipart_type(&ctx)?;
    let max_parts = if method == 1 {
        8
    } else {
        ctx.app.config.lite.max_candidates.saturating_add(8)
    };
    let expect = Expect {
        fields: METHODS[method].1,
        max_parts,
    };
    let parts = input::multipart(&mut ctx, &expect).await?;
    assert!(parts.len() <= max_parts);
    for p in &parts {
        assert!(!p.data.is_empty(), "empty part {:?} accepted", p.name);
        assert!(expect.fields.iter().any(|(n, _)| *n == p.name));
    }
    use_parts(&ctx, method, &parts)
}

fuzz_target!(init: { facelite_fuzz::init(); facelite_fuzz::app::app(); }, |data: &[u8]| {
    let mut bytes = Bytes::new(data);
    let opts = bytes.byte();
    let method = usize::from(opts & 7);
    let default_ct = if opts & 0x20 != 0 {
        "image/jpeg".to_string()
    } else {
        format!("multipart/form-data; boundary={BOUNDARY}")
    };
    let ct = if opts & 0x10 != 0 {
        header_value(bytes.line(), &default_ct)
    } else {
        default_ct
    };
    let mut headers = vec![("content-type".to_string(), ct)];
    if opts & 0x08 != 0 {
        headers.push(("content-transfer-encoding".into(), "base64".into()));
    }
    let req = Request {
        method: "POST",
        target: METHODS[method].0,
        headers,
        body: bytes.rest,
        chunk: [0, 1, 100, 4096][usize::from(opts >> 6)],
    };
    let template = METHODS[method].0;
    serve_one(&req, |parts, body| async move {
        let ctx = facelite_fuzz::app::ctx(parts, body, template, Vec::new());
        let _ = run(ctx, method).await;
    });
    // The standalone base64 reader, on the whole body.
    let _ = input::decode_base64(bytes.rest, PartKind::Template, "fuzz");
});
