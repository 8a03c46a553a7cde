//! The multipart body of `POST .../persons/` and `POST .../persons/{id}/images/`: image parts
//! (any field name) plus an optional `payload` part with `media:tags` (field name -> tags) and
//! `person:meta_data` (an object). Person images are small and must be decoded anyway, so
//! parts are read into memory, each within `collections.max_image_bytes`, at most
//! `collections.max_images_per_person` of them, and the whole body within
//! `limits.max_body_bytes`.

use http_body_util::BodyExt;

use crate::http::body::ReqBody;
use serde_json::{Map, Value};

use crate::collections::CollectionsError;

/// Largest `payload` part, bytes.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// Tags one image may carry, and their length.
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG_LEN: usize = 64;

/// Limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_body_bytes: usize,
    pub max_image_bytes: usize,
    pub max_images: usize,
}

/// One image part.
#[derive(Debug)]
pub struct ImagePart {
    pub field: String,
    pub original_name: String,
    pub ext: &'static str,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub tags: Vec<String>,
}

/// A parsed request.
#[derive(Debug)]
pub struct PersonUpload {
    pub images: Vec<ImagePart>,
    /// `person:meta_data` (an empty object when absent).
    pub meta_data: Value,
}

/// Image format from magic numbers (never from the client's Content-Type).
pub fn sniff(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("jpg", "image/jpeg"))
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("png", "image/png"))
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(("webp", "image/webp"))
    } else if head.starts_with(b"BM") {
        Some(("bmp", "image/bmp"))
    } else {
        None
    }
}

fn structure(m: impl Into<String>) -> CollectionsError {
    CollectionsError::Structure(m.into())
}

fn multer_error(e: multer::Error) -> CollectionsError {
    match e {
        multer::Error::StreamSizeExceeded { limit } => {
            CollectionsError::TooLarge(format!("the request exceeds the limit of {limit} bytes"))
        }
        multer::Error::FieldSizeExceeded { limit, field_name } => {
            CollectionsError::TooLarge(format!(
                "part `{}` exceeds the limit of {limit} bytes per image",
                field_name.unwrap_or_default()
            ))
        }
        multer::Error::StreamReadFailed(e) if crate::http::body::is_stall(e.as_ref()) => {
            CollectionsError::Stalled(e.to_string())
        }
        other => structure(format!("malformed multipart body: {other}")),
    }
}

/// Reads and validates the body.
pub async fn parse(
    body: ReqBody,
    content_type: &str,
    limits: &UploadLimits,
) -> Result<PersonUpload, CollectionsError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        structure("Content-Type must be multipart/form-data with a boundary (image parts + an optional `payload` part)")
    })?;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limits.max_body_bytes as u64)
            .per_field(limits.max_image_bytes.max(MAX_PAYLOAD_BYTES) as u64),
    );
    let mut mp =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut images = Vec::new();
    let mut payload: Option<Vec<u8>> = None;
    while let Some(mut field) = mp.next_field().await.map_err(multer_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(structure("a multipart part has no field name"));
        }
        let is_payload = name == "payload";
        if is_payload && payload.is_some() {
            return Err(structure("more than one `payload` part"));
        }
        if !is_payload && images.len() >= limits.max_images {
            return Err(CollectionsError::TooLarge(format!(
                "more than {} images in one request (a person has at most {} images)",
                limits.max_images, limits.max_images
            )));
        }
        let limit = if is_payload {
            MAX_PAYLOAD_BYTES
        } else {
            limits.max_image_bytes
        };
        let original_name = field
            .file_name()
            .map(|s| s.chars().take(255).collect::<String>())
            .unwrap_or_else(|| name.clone());
        let mut buf = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
            if buf.len() + chunk.len() > limit {
                return Err(CollectionsError::TooLarge(format!(
                    "part `{name}` exceeds the limit of {limit} bytes"
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        if is_payload {
            payload = Some(buf);
            continue;
        }
        if images.iter().any(|i: &ImagePart| i.field == name) {
            return Err(structure(format!("two parts are named `{name}`")));
        }
        if buf.is_empty() {
            return Err(CollectionsError::Invalid(format!(
                "image part `{name}` is empty"
            )));
        }
        let (ext, content_type) = sniff(&buf[..buf.len().min(16)]).ok_or_else(|| {
            CollectionsError::Invalid(format!(
                "part `{name}` is not a JPEG, PNG, WebP or BMP image; person images must be photos"
            ))
        })?;
        images.push(ImagePart {
            field: name,
            original_name,
            ext,
            content_type,
            bytes: buf,
            tags: Vec::new(),
        });
    }
    let mut meta_data = Value::Object(Map::new());
    if let Some(raw) = payload {
        let v: Value = serde_json::from_slice(&raw)
            .map_err(|e| structure(format!("the `payload` part is not valid JSON: {e}")))?;
        let Value::Object(mut obj) = v else {
            return Err(structure("the `payload` part must be a JSON object"));
        };
        if let Some(m) = obj.remove("person:meta_data") {
            match m {
                Value::Object(_) => meta_data = m,
                Value::Null => {}
                _ => {
                    return Err(structure(
                        "payload `person:meta_data` must be a JSON object",
                    ))
                }
            }
        }
        if let Some(t) = obj.remove("media:tags") {
            let Value::Object(map) = t else {
                return Err(structure(
                    "payload `media:tags` must map image part names to tag lists",
                ));
            };
            for (k, tags) in map {
                let Some(img) = images.iter_mut().find(|i| i.field == k) else {
                    return Err(CollectionsError::Invalid(format!(
                        "payload.media:tags names '{k}' but no image part has that name"
                    )));
                };
                img.tags = parse_tags(&k, &tags)?;
            }
        }
    }
    Ok(PersonUpload { images, meta_data })
}

fn parse_tags(field: &str, v: &Value) -> Result<Vec<String>, CollectionsError> {
    let Value::Array(a) = v else {
        return Err(structure(format!(
            "payload.media:tags.{field} must be an array of strings"
        )));
    };
    if a.len() > MAX_TAGS {
        return Err(CollectionsError::TooLarge(format!(
            "payload.media:tags.{field} has {} tags, more than {MAX_TAGS}",
            a.len()
        )));
    }
    a.iter()
        .map(|t| match t.as_str() {
            Some(s) if !s.is_empty() && s.len() <= MAX_TAG_LEN => Ok(s.to_string()),
            _ => Err(CollectionsError::Invalid(format!(
                "payload.media:tags.{field} must hold non-empty strings of at most {MAX_TAG_LEN} bytes"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_by_their_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]).map(|x| x.0), Some("jpg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....").map(|x| x.0), Some("png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ").map(|x| x.0), Some("webp"));
        assert_eq!(sniff(b"GIF89a"), None);
        assert!(parse_tags("a", &serde_json::json!(["photo_selfie"])).is_ok());
        assert!(parse_tags("a", &serde_json::json!([""])).is_err());
        assert!(parse_tags("a", &serde_json::json!("x")).is_err());
    }
}
