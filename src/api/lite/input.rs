//! Reading Lite request bodies: a raw image body, or `multipart/form-data` parts, each
//! possibly base64 text (`Content-Transfer-Encoding: base64` on the request or on a part).
//! Every check here happens before any inference, and every failure names the field.

use std::convert::Infallible;

use base64::Engine as _;
use bytes::Bytes;

use crate::http::router::Ctx;
use crate::lite::error::{Kind, LiteError};

/// What a part is expected to hold; decides the accepted content types and the error code
/// when it is unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    Image,
    Template,
}

impl PartKind {
    /// The code for "this input cannot be read".
    pub fn unreadable(self) -> Kind {
        match self {
            PartKind::Image => Kind::Sample,
            PartKind::Template => Kind::Template,
        }
    }
}

/// One multipart part, already base64-decoded when it was sent as base64.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Bytes,
}

/// True when the request asks for base64 inputs and outputs (Lite 1.1.0).
pub fn base64_mode(ctx: &Ctx) -> bool {
    ctx.header("content-transfer-encoding")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("base64"))
}

/// The media type of the request (lower case, parameters dropped), if any.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Content types an image input may declare: JPEG and PNG as the Lite contract says.
fn is_image_type(t: &str) -> bool {
    matches!(t, "image/jpeg" | "image/jpg" | "image/png")
}

/// Reads the whole body, turning the router's size refusal into a Lite error.
async fn read_body(ctx: &mut Ctx, kind: PartKind) -> Result<Bytes, LiteError> {
    let limit = ctx.app.config.limits.max_body_bytes;
    ctx.body_bytes(limit).await.map_err(|e| {
        // A busy memory budget is the server's state, not a fault of the sample.
        let kind = if e.status == http::StatusCode::SERVICE_UNAVAILABLE {
            crate::lite::error::Kind::Internal
        } else {
            kind.unreadable()
        };
        LiteError::new(kind, e.message).with_status(e.status)
    })
}

/// Decodes base64 text (standard alphabet, padding optional, whitespace and a `data:` URL
/// prefix tolerated).
pub fn decode_base64(text: &[u8], kind: PartKind, what: &str) -> Result<Bytes, LiteError> {
    let mut text = text;
    if text.starts_with(b"data:") {
        match text.iter().position(|&b| b == b',') {
            Some(i) => text = &text[i + 1..],
            None => {
                return Err(LiteError::new(
                    kind.unreadable(),
                    format!("{what}: data URL without a ',' before the base64 text"),
                ))
            }
        }
    }
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(&compact)
        .map(Bytes::from)
        .map_err(|e| {
            LiteError::new(
                kind.unreadable(),
                format!("{what} is not valid base64 (Content-Transfer-Encoding: base64): {e}"),
            )
        })
}

/// The request-level check of a raw image body: Content-Type `image/jpeg` or `image/png`.
/// Separate from [`raw_image`] so a route can refuse a malformed request before it refuses
/// for lack of a model (a client error is reported before a server condition).
pub fn check_raw_image_type(ctx: &Ctx) -> Result<(), LiteError> {
    let ct = ctx.header("content-type").map(media_type);
    match ct.as_deref() {
        Some(t) if is_image_type(t) => Ok(()),
        other => Err(LiteError::new(
            Kind::ContentType,
            format!(
                "Content-Type must be image/jpeg or image/png, got {}",
                other.unwrap_or("nothing")
            ),
        )),
    }
}

/// A raw image body (`extract`, `liveness/detect`): the request Content-Type must be
/// `image/jpeg` or `image/png`.
pub async fn raw_image(ctx: &mut Ctx) -> Result<Bytes, LiteError> {
    check_raw_image_type(ctx)?;
    let b64 = base64_mode(ctx);
    let body = read_body(ctx, PartKind::Image).await?;
    if body.is_empty() {
        return Err(LiteError::new(
            Kind::Sample,
            "request body is empty; an image was expected",
        ));
    }
    if b64 {
        decode_base64(&body, PartKind::Image, "request body")
    } else {
        Ok(body)
    }
}

/// True when the request is `multipart/form-data`.
pub fn is_multipart(ctx: &Ctx) -> bool {
    ctx.header("content-type")
        .map(media_type)
        .is_some_and(|t| t == "multipart/form-data")
}

/// Expected parts of a multipart request: field name -> kind.
pub struct Expect<'a> {
    /// The accepted fields. The last is the one a request may repeat (the candidates of the
    /// `*_n` methods): a body or a part count over the limit answers its "unreadable" code,
    /// so a template-only method never reports an image error.
    pub fields: &'a [(&'a str, PartKind)],
    /// Most parts accepted in one request (probe + candidates).
    pub max_parts: usize,
}

impl Expect<'_> {
    /// The kind whose code reports a request with too much in it (see [`Expect::fields`]).
    fn bulk_kind(&self) -> PartKind {
        self.fields.last().map_or(PartKind::Image, |&(_, k)| k)
    }
}

/// The request-level checks of a multipart body: Content-Type `multipart/form-data` with a
/// boundary, which is returned. Separate from [`multipart`] for the same reason as
/// [`check_raw_image_type`].
pub fn check_multipart_type(ctx: &Ctx) -> Result<String, LiteError> {
    let ct = ctx.header("content-type").unwrap_or("");
    if media_type(ct) != "multipart/form-data" {
        return Err(LiteError::new(
            Kind::ContentType,
            format!(
                "Content-Type must be multipart/form-data, got {}",
                if ct.is_empty() { "nothing" } else { ct }
            ),
        ));
    }
    multer::parse_boundary(ct).map_err(|e| {
        LiteError::new(
            Kind::ContentType,
            format!("multipart/form-data without a usable boundary: {e}"),
        )
    })
}

/// Reads a whole `multipart/form-data` body into parts, checking each part's content type
/// against its field's kind and decoding base64 parts.
pub async fn multipart(ctx: &mut Ctx, expect: &Expect<'_>) -> Result<Vec<Part>, LiteError> {
    let boundary = check_multipart_type(ctx)?;
    let request_b64 = base64_mode(ctx);
    let bulk = expect.bulk_kind();
    let body = read_body(ctx, bulk).await?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(LiteError::new(
                    Kind::ContentType,
                    format!("multipart body is malformed: {e}"),
                ))
            }
        };
        if parts.len() >= expect.max_parts {
            return Err(LiteError::new(
                bulk.unreadable(),
                format!("more than {} parts in one request", expect.max_parts),
            )
            .with_status(http::StatusCode::PAYLOAD_TOO_LARGE));
        }
        let name = field.name().unwrap_or("").to_string();
        // Parts with other names are skipped: a misspelt field then shows up as its
        // required part missing, which names the field the client has to send.
        let Some(&(_, kind)) = expect.fields.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let part_b64 = request_b64
            || field
                .headers()
                .get("content-transfer-encoding")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("base64"));
        check_part_type(
            &name,
            kind,
            field.content_type().map(|m| m.essence_str()),
            part_b64,
        )?;
        let filename = field.file_name().map(str::to_string);
        let data = field.bytes().await.map_err(|e| {
            LiteError::new(
                kind.unreadable(),
                format!("part '{name}' could not be read: {e}"),
            )
        })?;
        let data = if part_b64 {
            decode_base64(&data, kind, &format!("part '{name}'"))?
        } else {
            data
        };
        if data.is_empty() {
            return Err(LiteError::new(
                kind.unreadable(),
                format!("part '{name}' is empty"),
            ));
        }
        parts.push(Part {
            name,
            filename,
            data,
        });
    }
    Ok(parts)
}

/// Part content types: images may be declared as JPEG/PNG or generic binary, templates as
/// binary; base64 parts may also be text. A part without a content type is accepted (the
/// decoder judges the bytes). Anything else is BPE-002005.
fn check_part_type(
    name: &str,
    kind: PartKind,
    declared: Option<&str>,
    b64: bool,
) -> Result<(), LiteError> {
    let Some(t) = declared.map(str::to_ascii_lowercase) else {
        return Ok(());
    };
    let ok = match kind {
        PartKind::Image => is_image_type(&t) || t == "application/octet-stream",
        PartKind::Template => t == "application/octet-stream",
    } || (b64 && t == "text/plain");
    if ok {
        Ok(())
    } else {
        let wanted = match kind {
            PartKind::Image => "image/jpeg, image/png or application/octet-stream",
            PartKind::Template => "application/octet-stream",
        };
        Err(LiteError::new(
            Kind::PartContentType,
            format!("part '{name}' has Content-Type {t}; expected {wanted}"),
        )
        .with_details(serde_json::json!({ "part": name })))
    }
}

/// Takes the single part named `name`; missing or repeated is an error of `kind`.
pub fn single<'a>(parts: &'a [Part], name: &str, kind: PartKind) -> Result<&'a Part, LiteError> {
    let mut found = parts.iter().filter(|p| p.name == name);
    match (found.next(), found.next()) {
        (Some(p), None) => Ok(p),
        (None, _) => Err(LiteError::new(
            kind.unreadable(),
            format!("part '{name}' is missing"),
        )),
        (Some(_), Some(_)) => Err(LiteError::new(
            kind.unreadable(),
            format!("part '{name}' appears more than once"),
        )),
    }
}

/// Every part named `name` (the repeated candidates of the `*_n` methods), at least one.
pub fn repeated<'a>(
    parts: &'a [Part],
    name: &str,
    kind: PartKind,
) -> Result<Vec<&'a Part>, LiteError> {
    let found: Vec<&Part> = parts.iter().filter(|p| p.name == name).collect();
    if found.is_empty() {
        return Err(LiteError::new(
            kind.unreadable(),
            format!("no '{name}' part: at least one candidate is needed"),
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_tolerates_whitespace_padding_and_data_urls() {
        let want = b"\xff\xd8\xff\xe0hello";
        let enc = base64::engine::general_purpose::STANDARD.encode(want);
        let wrapped = format!("{}\r\n{}", &enc[..4], &enc[4..]);
        let got = decode_base64(wrapped.as_bytes(), PartKind::Image, "x").unwrap();
        assert_eq!(&got[..], want);
        let unpadded = enc.trim_end_matches('=');
        assert_eq!(
            &decode_base64(unpadded.as_bytes(), PartKind::Image, "x").unwrap()[..],
            want
        );
        let url = format!("data:image/jpeg;base64,{enc}");
        assert_eq!(
            &decode_base64(url.as_bytes(), PartKind::Image, "x").unwrap()[..],
            want
        );
        let err = decode_base64(b"not base64 !!", PartKind::Template, "x").unwrap_err();
        assert_eq!(err.kind, Kind::Template);
    }

    #[test]
    fn too_much_is_reported_with_the_repeated_fields_code() {
        let templates = [
            ("template_1", PartKind::Template),
            ("templates_n", PartKind::Template),
        ];
        let images = [
            ("sample_1", PartKind::Image),
            ("samples_n", PartKind::Image),
        ];
        let mixed = [
            ("sample_1", PartKind::Image),
            ("templates_n", PartKind::Template),
        ];
        let bulk = |fields| {
            Expect {
                fields,
                max_parts: 1,
            }
            .bulk_kind()
        };
        assert_eq!(bulk(&templates), PartKind::Template);
        assert_eq!(bulk(&images), PartKind::Image);
        assert_eq!(bulk(&mixed), PartKind::Template);
    }

    #[test]
    fn part_types_are_checked_per_field_kind() {
        assert!(check_part_type("s", PartKind::Image, Some("image/jpeg"), false).is_ok());
        assert!(check_part_type("s", PartKind::Image, None, false).is_ok());
        assert!(check_part_type(
            "t",
            PartKind::Template,
            Some("application/octet-stream"),
            false
        )
        .is_ok());
        let e = check_part_type("t", PartKind::Template, Some("image/jpeg"), false).unwrap_err();
        assert_eq!(e.kind, Kind::PartContentType);
        assert!(check_part_type("t", PartKind::Template, Some("text/plain"), false).is_err());
        assert!(check_part_type("t", PartKind::Template, Some("text/plain"), true).is_ok());
    }
}
