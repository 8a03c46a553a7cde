//! Streaming `multipart/form-data` uploads (Oz folder creation, media addition, instant mode)
//! with every limit enforced while the bytes arrive: total request bytes, bytes per file, files
//! per request, payload size; then, per file, the media type from the magic numbers (never the
//! client's Content-Type), image pixels from the header, ZIP entries and inflated size.
//!
//! Every part except `payload` is a file, whatever its field name. Files stream to staging files
//! (or stay in memory for instant mode, where nothing may be written); an [`UploadedFile`]
//! removes its staging file when dropped, so a rejected request leaves nothing behind.

use std::io::Cursor;
use std::path::PathBuf;

use http_body_util::BodyExt;

use crate::http::body::ReqBody;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use crate::analysis::model::MediaType;
use crate::config::LimitsConfig;
use crate::store::files::FileStore;

/// Tags one media may carry.
pub const MAX_TAGS: usize = 32;
/// Length of one tag, bytes.
pub const MAX_TAG_LEN: usize = 64;

/// Why an upload was refused. Every variant is a 4xx with a message naming the part or limit.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Structure(String),
    #[error("{0}")]
    Value(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot store the upload: {0}")]
    Io(String),
    /// The client stopped sending before the body was complete.
    #[error("{0}")]
    Stalled(String),
    /// The memory budget cannot hold a part kept in memory.
    #[error(transparent)]
    Memory(#[from] crate::memory::BudgetError),
}

/// Where file parts go while they stream in.
pub enum Sink<'a> {
    /// Staging files of the file store (persisted later by the caller).
    Disk(&'a FileStore),
    /// Memory (instant mode: nothing touches the disk).
    Memory,
}

/// The bytes of a file part.
#[derive(Debug)]
pub enum PartData {
    /// A staging file, removed on drop unless it was moved into the store.
    Staged(PathBuf),
    Memory(Vec<u8>),
}

/// One received and validated file part.
#[derive(Debug)]
pub struct UploadedFile {
    /// The multipart field name (the key of `media:tags`).
    pub field: String,
    /// The client's file name (or the field name when none was given).
    pub original_name: String,
    pub media_type: MediaType,
    /// File extension used for the stored copy.
    pub ext: &'static str,
    pub size: u64,
    pub data: PartData,
}

impl UploadedFile {
    /// The bytes: read from the staging file when on disk, borrowed when in memory.
    /// Blocking when staged; call it off the async runtime.
    pub fn bytes(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        match &self.data {
            PartData::Staged(p) => std::fs::read(p).map(std::borrow::Cow::Owned),
            PartData::Memory(b) => Ok(std::borrow::Cow::Borrowed(b.as_slice())),
        }
    }
}

impl Drop for UploadedFile {
    fn drop(&mut self) {
        if let PartData::Staged(p) = &self.data {
            // After a successful persist the path no longer exists; that is fine.
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A parsed upload: the `payload` JSON (validated) and the files in arrival order.
#[derive(Debug, Default)]
pub struct Upload {
    pub payload: Payload,
    pub files: Vec<UploadedFile>,
    /// Memory charged for parts held in memory; keep it as long as their bytes.
    pub charges: Vec<crate::memory::Charge>,
}

/// The `payload` part of an Oz upload, validated against the file parts.
#[derive(Debug, Default, Clone)]
pub struct Payload {
    pub folder_meta_data: Option<Map<String, Value>>,
    pub media_tags: Map<String, Value>,
    pub media_meta_data: Map<String, Value>,
    pub resolution_endpoint: Option<String>,
    /// `company_id`: the company a folder created by a company-less ADMIN belongs to
    /// (checked by the folders module against the caller's scope).
    pub company_id: Option<uuid::Uuid>,
    /// Raw `analyses` array (single request mode), validated by the analyses module.
    pub analyses: Option<Value>,
}

impl Payload {
    /// The media record for one uploaded file of `folder`, with the tags and metadata this
    /// payload gives its field; the stored file shares the media id.
    pub fn media_record(
        &self,
        f: &UploadedFile,
        folder: &crate::analysis::model::FolderRec,
        id: uuid::Uuid,
        now: f64,
    ) -> crate::analysis::model::MediaRec {
        crate::analysis::model::MediaRec {
            media_id: id,
            folder_id: folder.folder_id,
            company_id: folder.company_id,
            media_type: f.media_type,
            field_name: f.field.clone(),
            original_name: f.original_name.clone(),
            tags: self.tags_for(&f.field),
            meta_data: self.meta_for(&f.field),
            file_id: id,
            size: f.size,
            time_created: now,
            time_updated: now,
        }
    }

    /// Tags for a file part (validated strings).
    pub fn tags_for(&self, field: &str) -> Vec<String> {
        self.media_tags
            .get(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Metadata for a file part.
    pub fn meta_for(&self, field: &str) -> Value {
        self.media_meta_data
            .get(field)
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()))
    }
}

/// Parses a multipart body with the configured limits.
pub async fn parse(
    body: ReqBody,
    content_type: &str,
    content_length: Option<u64>,
    limits: &LimitsConfig,
    sink: Sink<'_>,
) -> Result<Upload, UploadError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        UploadError::Structure(
            "Content-Type must be multipart/form-data with a boundary (file parts + a `payload` part)"
                .into(),
        )
    })?;
    let total = limits.max_upload_bytes.min(limits.max_body_bytes.max(1)) as u64;
    if content_length.is_some_and(|n| n > total) {
        return Err(UploadError::TooLarge(format!(
            "the upload is {} bytes, more than the limit of {total} bytes",
            content_length.unwrap_or_default()
        )));
    }
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(total)
            .per_field(limits.max_file_bytes as u64),
    );
    let stream = body.into_data_stream();
    let mut mp = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut upload = Upload::default();
    let mut payload_raw: Option<Vec<u8>> = None;
    while let Some(mut field) = mp.next_field().await.map_err(multer_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(UploadError::Structure(
                "a multipart part has no field name (Content-Disposition name=...)".into(),
            ));
        }
        if name == "payload" {
            if payload_raw.is_some() {
                return Err(UploadError::Structure(
                    "more than one `payload` part".into(),
                ));
            }
            let mut buf = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
                if buf.len() + chunk.len() > limits.max_payload_bytes {
                    return Err(UploadError::TooLarge(format!(
                        "the `payload` part exceeds the limit of {} bytes",
                        limits.max_payload_bytes
                    )));
                }
                buf.extend_from_slice(&chunk);
            }
            payload_raw = Some(buf);
            continue;
        }
        if upload.files.len() >= limits.max_files_per_request {
            return Err(UploadError::TooLarge(format!(
                "more than {} files in one request",
                limits.max_files_per_request
            )));
        }
        let original_name = field
            .file_name()
            .map(|s| s.chars().take(255).collect::<String>())
            .unwrap_or_else(|| name.clone());
        let mut head: Vec<u8> = Vec::new();
        let mut size: u64 = 0;
        // The part owns its staging file from the start, so any early return removes it.
        let mut file = UploadedFile {
            field: name.clone(),
            original_name,
            media_type: MediaType::Image,
            ext: "bin",
            size: 0,
            data: match &sink {
                Sink::Memory => PartData::Memory(Vec::new()),
                Sink::Disk(store) => PartData::Staged(store.staging_path()),
            },
        };
        match &mut file.data {
            PartData::Memory(buf) => {
                let mut charge = crate::memory::Charge::free();
                if let Some(b) = crate::memory::global() {
                    charge = b.try_charge(0, "a file part held in memory")?;
                }
                while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
                    let need = (buf.len() + chunk.len()) as u64;
                    if need > charge.bytes() {
                        let step = need.div_ceil(1 << 20) << 20;
                        charge.grow_to(step, "a file part held in memory")?;
                    }
                    buf.extend_from_slice(&chunk);
                }
                upload.charges.push(charge);
                size = buf.len() as u64;
                head.extend_from_slice(&buf[..buf.len().min(64)]);
            }
            PartData::Staged(path) => {
                let mut f = tokio::fs::File::create(&*path)
                    .await
                    .map_err(|e| UploadError::Io(e.to_string()))?;
                while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
                    if head.len() < 64 {
                        let take = (64 - head.len()).min(chunk.len());
                        head.extend_from_slice(&chunk[..take]);
                    }
                    size += chunk.len() as u64;
                    f.write_all(&chunk)
                        .await
                        .map_err(|e| UploadError::Io(e.to_string()))?;
                }
                f.flush()
                    .await
                    .map_err(|e| UploadError::Io(e.to_string()))?;
            }
        }
        file.size = size;
        if size == 0 {
            return Err(UploadError::Value(format!("file part `{name}` is empty")));
        }
        let (media_type, ext) = sniff(&head).ok_or_else(|| {
            UploadError::Unsupported(format!(
                "file part `{name}` is not a supported image (JPEG, PNG, WebP, BMP), video (MP4, MOV, WebM, MKV, AVI) or ZIP shot set"
            ))
        })?;
        file.media_type = media_type;
        file.ext = ext;
        let file = if media_type == MediaType::Video {
            file
        } else {
            // Reading up to a whole file back and walking a ZIP directory is blocking work:
            // keep it off the async runtime. A panicking check drops the file (and its
            // staging copy) with its thread.
            let limits = limits.clone();
            let (file, checked) = tokio::task::spawn_blocking(move || {
                let checked = validate(&file, &limits);
                (file, checked)
            })
            .await
            .map_err(|e| UploadError::Io(format!("the upload check stopped: {e}")))?;
            checked?;
            file
        };
        upload.files.push(file);
    }
    if let Some(raw) = payload_raw {
        upload.payload = parse_payload(&raw, &upload.files)?;
    }
    Ok(upload)
}

fn multer_error(e: multer::Error) -> UploadError {
    match e {
        multer::Error::StreamSizeExceeded { limit } => {
            UploadError::TooLarge(format!("the upload exceeds the limit of {limit} bytes"))
        }
        multer::Error::FieldSizeExceeded { limit, field_name } => UploadError::TooLarge(format!(
            "file part `{}` exceeds the limit of {limit} bytes per file",
            field_name.unwrap_or_default()
        )),
        multer::Error::StreamReadFailed(e) if crate::http::body::is_stall(e.as_ref()) => {
            UploadError::Stalled(e.to_string())
        }
        other => UploadError::Structure(format!("malformed multipart body: {other}")),
    }
}

/// Media type and stored extension from the first bytes (the media layer's magic numbers).
/// `None` = not a supported format.
pub fn sniff(head: &[u8]) -> Option<(MediaType, &'static str)> {
    use crate::media::{Container, ImageFormat, MediaKind};
    Some(match crate::media::sniff(head).ok()? {
        MediaKind::Image(ImageFormat::Jpeg) => (MediaType::Image, "jpg"),
        MediaKind::Image(ImageFormat::Png) => (MediaType::Image, "png"),
        MediaKind::Image(ImageFormat::WebP) => (MediaType::Image, "webp"),
        MediaKind::Image(ImageFormat::Bmp) => (MediaType::Image, "bmp"),
        MediaKind::ShotsSet => (MediaType::ShotsSet, "zip"),
        MediaKind::Video(Container::Mp4) => {
            let qt = head.get(8..12) == Some(b"qt  ");
            (MediaType::Video, if qt { "mov" } else { "mp4" })
        }
        MediaKind::Video(Container::Matroska) => (MediaType::Video, "mkv"),
        MediaKind::Video(Container::Avi) => (MediaType::Video, "avi"),
    })
}

/// Checks the per-type limits that need more than the first bytes. Blocking (file reads,
/// ZIP directory); run it off the async runtime.
fn validate(file: &UploadedFile, limits: &LimitsConfig) -> Result<(), UploadError> {
    let name = &file.field;
    match file.media_type {
        MediaType::Image => {
            let bytes = file.bytes().map_err(|e| UploadError::Io(e.to_string()))?;
            let (w, h) = image::ImageReader::new(Cursor::new(&*bytes))
                .with_guessed_format()
                .map_err(|e| UploadError::Io(e.to_string()))?
                .into_dimensions()
                .map_err(|e| {
                    UploadError::Value(format!("file part `{name}` is not a readable image: {e}"))
                })?;
            let pixels = u64::from(w) * u64::from(h);
            if pixels > limits.max_image_pixels {
                return Err(UploadError::TooLarge(format!(
                    "image `{name}` is {w}x{h} = {pixels} pixels, more than the limit of {}",
                    limits.max_image_pixels
                )));
            }
        }
        MediaType::ShotsSet => {
            let bytes = file.bytes().map_err(|e| UploadError::Io(e.to_string()))?;
            let mut zip = zip::ZipArchive::new(Cursor::new(&*bytes)).map_err(|e| {
                UploadError::Value(format!("file part `{name}` is not a readable ZIP: {e}"))
            })?;
            if zip.len() > limits.max_zip_entries {
                return Err(UploadError::TooLarge(format!(
                    "shot set `{name}` has {} entries, more than the limit of {}",
                    zip.len(),
                    limits.max_zip_entries
                )));
            }
            if zip.is_empty() {
                return Err(UploadError::Value(format!(
                    "shot set `{name}` is an empty ZIP"
                )));
            }
            let mut inflated: u64 = 0;
            for i in 0..zip.len() {
                let entry = zip.by_index_raw(i).map_err(|e| {
                    UploadError::Value(format!("shot set `{name}` has a broken entry: {e}"))
                })?;
                inflated = inflated.saturating_add(entry.size());
            }
            if inflated > limits.max_zip_inflated_bytes {
                return Err(UploadError::TooLarge(format!(
                    "shot set `{name}` inflates to {inflated} bytes, more than the limit of {}",
                    limits.max_zip_inflated_bytes
                )));
            }
        }
        MediaType::Video => {}
    }
    Ok(())
}

fn parse_payload(raw: &[u8], files: &[UploadedFile]) -> Result<Payload, UploadError> {
    let v: Value = serde_json::from_slice(raw).map_err(|e| {
        UploadError::Structure(format!("the `payload` part is not valid JSON: {e}"))
    })?;
    let Value::Object(mut obj) = v else {
        return Err(UploadError::Structure(
            "the `payload` part must be a JSON object".into(),
        ));
    };
    let mut p = Payload::default();
    let has_field = |k: &str| files.iter().any(|f| f.field == k);
    if let Some(v) = obj.remove("folder:meta_data") {
        match v {
            Value::Object(m) => p.folder_meta_data = Some(m),
            Value::Null => {}
            _ => {
                return Err(UploadError::Structure(
                    "payload `folder:meta_data` must be a JSON object".into(),
                ))
            }
        }
    }
    if let Some(v) = obj.remove("media:tags") {
        let Value::Object(m) = v else {
            return Err(UploadError::Structure(
                "payload `media:tags` must be an object mapping file field names to tag lists"
                    .into(),
            ));
        };
        for (k, tags) in &m {
            if !has_field(k) {
                return Err(UploadError::Value(format!(
                    "payload.media:tags names '{k}' but no file part has that name"
                )));
            }
            check_tags(k, tags)?;
        }
        p.media_tags = m;
    }
    if let Some(v) = obj.remove("media:meta_data") {
        let Value::Object(m) = v else {
            return Err(UploadError::Structure(
                "payload `media:meta_data` must be an object mapping file field names to objects"
                    .into(),
            ));
        };
        for (k, meta) in &m {
            if !has_field(k) {
                return Err(UploadError::Value(format!(
                    "payload.media:meta_data names '{k}' but no file part has that name"
                )));
            }
            if !meta.is_object() {
                return Err(UploadError::Structure(format!(
                    "payload.media:meta_data.{k} must be a JSON object"
                )));
            }
        }
        p.media_meta_data = m;
    }
    if let Some(v) = obj.remove("resolution_endpoint") {
        match v {
            Value::String(s) => p.resolution_endpoint = Some(check_endpoint(&s)?),
            Value::Null => {}
            _ => {
                return Err(UploadError::Structure(
                    "payload `resolution_endpoint` must be a URL string".into(),
                ))
            }
        }
    }
    if let Some(v) = obj.remove("company_id") {
        match v {
            Value::String(s) => {
                p.company_id = Some(s.trim().parse().map_err(|_| {
                    UploadError::Value(format!("payload `company_id` {s:?} is not a UUID"))
                })?)
            }
            Value::Null => {}
            _ => {
                return Err(UploadError::Structure(
                    "payload `company_id` must be a UUID string".into(),
                ))
            }
        }
    }
    if let Some(v) = obj.remove("analyses") {
        if !v.is_array() && !v.is_null() {
            return Err(UploadError::Structure(
                "payload `analyses` must be an array of analysis requests".into(),
            ));
        }
        if v.is_array() {
            p.analyses = Some(v);
        }
    }
    Ok(p)
}

fn check_tags(field: &str, tags: &Value) -> Result<(), UploadError> {
    let Value::Array(a) = tags else {
        return Err(UploadError::Structure(format!(
            "payload.media:tags.{field} must be an array of strings"
        )));
    };
    if a.len() > MAX_TAGS {
        return Err(UploadError::TooLarge(format!(
            "payload.media:tags.{field} has {} tags, more than {MAX_TAGS}",
            a.len()
        )));
    }
    for t in a {
        match t.as_str() {
            Some(s) if !s.is_empty() && s.len() <= MAX_TAG_LEN => {}
            _ => {
                return Err(UploadError::Value(format!(
                    "payload.media:tags.{field} must hold non-empty strings of at most {MAX_TAG_LEN} bytes"
                )))
            }
        }
    }
    Ok(())
}

/// Validates a webhook URL: http or https, with a host, at most 2048 bytes.
pub fn check_endpoint(url: &str) -> Result<String, UploadError> {
    let u = url.trim();
    let ok_scheme = u.starts_with("http://") || u.starts_with("https://");
    let host = u.split("://").nth(1).unwrap_or("");
    if !ok_scheme || host.is_empty() || host.starts_with('/') || u.len() > 2048 {
        return Err(UploadError::Value(format!(
            "resolution_endpoint must be an http:// or https:// URL with a host, got {u:?}"
        )));
    }
    u.parse::<http::Uri>().map_err(|e| {
        UploadError::Value(format!("resolution_endpoint {u:?} is not a valid URL: {e}"))
    })?;
    Ok(u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_media_types_from_magic_numbers() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some((MediaType::Image, "jpg"))
        );
        assert_eq!(sniff(b"PK\x03\x04...."), Some((MediaType::ShotsSet, "zip")));
        assert_eq!(
            sniff(b"\0\0\0\x20ftypisom\0\0\0\0"),
            Some((MediaType::Video, "mp4"))
        );
        assert_eq!(sniff(b"hello world, not media"), None);
    }

    #[test]
    fn payload_naming_a_missing_file_part_is_refused() {
        let e = parse_payload(br#"{"media:tags":{"video2":["video_selfie"]}}"#, &[])
            .expect_err("must fail");
        assert!(e.to_string().contains("video2"), "{e}");
        assert!(matches!(e, UploadError::Value(_)));
        let e = parse_payload(b"[1]", &[]).expect_err("not an object");
        assert!(matches!(e, UploadError::Structure(_)));
        assert!(check_endpoint("ftp://x").is_err());
        assert!(check_endpoint("http://127.0.0.1:9/hook").is_ok());
    }
}
