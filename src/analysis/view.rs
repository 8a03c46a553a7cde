//! The Oz JSON shapes of folders, media and analyses, built from records.
//! One renderer serves API responses, webhook bodies and instant mode (where produced images
//! are inlined as base64 instead of linked).

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::analysis::model::{AnalysisRec, AnalysisType, FolderRec, MediaRec, MediaType};

/// How produced files are referenced: links under a base URL, or inline bytes.
pub enum Files<'a> {
    Linked {
        base: &'a str,
    },
    Inline {
        base: &'a str,
        bytes: &'a HashMap<Uuid, Vec<u8>>,
    },
}

impl Files<'_> {
    fn base(&self) -> &str {
        match self {
            Files::Linked { base } | Files::Inline { base, .. } => base,
        }
    }
}

/// The URL that serves a stored file.
pub fn file_url(base: &str, file_id: Uuid) -> String {
    format!("{}/api/files/{file_id}", base.trim_end_matches('/'))
}

/// A media object.
pub fn media_json(m: &MediaRec, files: &Files<'_>) -> Value {
    let url = match files {
        Files::Inline { .. } => Value::Null,
        Files::Linked { base } => Value::String(file_url(base, m.file_id)),
    };
    let mut v = json!({
        "media_id": m.media_id,
        "folder_id": m.folder_id,
        "company_id": m.company_id,
        "media_type": m.media_type.as_str(),
        "original_name": m.original_name,
        "original_url": url,
        "tags": m.tags,
        "meta_data": m.meta_data,
        "technical_meta_data": {"field_name": m.field_name, "size": m.size},
        "time_created": m.time_created,
        "time_updated": m.time_updated,
    });
    if m.media_type != MediaType::Image {
        v["video_url"] = v["original_url"].clone();
    }
    v
}

/// An analysis object.
pub fn analysis_json(
    a: &AnalysisRec,
    media: &HashMap<Uuid, &MediaRec>,
    files: &Files<'_>,
) -> Value {
    let source_media: Vec<Value> = a
        .source_media
        .iter()
        .filter_map(|id| media.get(id))
        .map(|m| media_json(m, files))
        .collect();
    let results_media: Vec<Value> = a
        .results_media
        .iter()
        .map(|r| {
            let images: Vec<Value> = r
                .output_images
                .iter()
                .map(|img| match files {
                    Files::Linked { base } => json!({
                        "media_id": img.file_id,
                        "type": img.kind,
                        "original_url": file_url(base, img.file_id),
                    }),
                    Files::Inline { bytes, .. } => json!({
                        "media_id": img.file_id,
                        "type": img.kind,
                        "original_url": Value::Null,
                        "base64": bytes
                            .get(&img.file_id)
                            .map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                    }),
                })
                .collect();
            let mut v = json!({
                "result_media_id": r.result_media_id,
                "source_media_id": r.source_media_id,
                "media_type": r.media_type.as_str(),
                "resolution_status": r.resolution_status.as_str(),
                "results_data": r.results_data,
                "output_images": images,
            });
            let key = match r.media_type {
                MediaType::Video => "source_video_id",
                MediaType::ShotsSet => "source_shots_set_id",
                MediaType::Image => "source_image_id",
            };
            v[key] = json!(r.source_media_id);
            if let Some(person) = r.person_id {
                v["person_id"] = json!(person);
            }
            v
        })
        .collect();
    let _ = files.base();
    let mut out = json!({
        "analysis_id": a.analysis_id,
        "analyse_id": a.analysis_id,
        "folder_id": a.folder_id,
        "company_id": a.company_id,
        "group_id": a.group_id,
        "type": a.analysis_type.as_str(),
        "state": a.state,
        "resolution_status": a.resolution_status.as_str(),
        "resolution": a.resolution_status.as_str(),
        "source_media": source_media,
        "results_data": a.results_data,
        "results_media": results_media,
        "params": a.params,
        "meta_data": a.meta_data,
        "technical_meta_data": {},
        "error_message": a.error_message,
        "resolution_endpoint": a.resolution_endpoint,
        "time_created": a.time_created,
        "time_updated": a.time_updated,
    });
    // COLLECTION analyses carry the searched collection, as found by the run.
    if a.analysis_type == AnalysisType::Collection {
        out["collection"] = a
            .results_data
            .get("collection")
            .cloned()
            .unwrap_or(Value::Null);
    }
    out
}

/// A folder object; `analyses` is embedded when given (`with_analyses=true`).
pub fn folder_json(
    f: &FolderRec,
    media: &[MediaRec],
    analyses: Option<&[AnalysisRec]>,
    files: &Files<'_>,
) -> Value {
    let by_id: HashMap<Uuid, &MediaRec> = media.iter().map(|m| (m.media_id, m)).collect();
    let mut v = json!({
        "folder_id": f.folder_id,
        "company_id": f.company_id,
        "user_id": f.user_id,
        "resolution_status": f.resolution_status.as_str(),
        "system_resolution": f.system_resolution.as_str(),
        "resolution_endpoint": f.resolution_endpoint,
        "meta_data": f.meta_data,
        "technical_meta_data": {},
        "media": media.iter().map(|m| media_json(m, files)).collect::<Vec<_>>(),
        "time_created": f.time_created,
        "time_updated": f.time_updated,
    });
    if let Some(list) = analyses {
        v["analyses"] = Value::Array(
            list.iter()
                .map(|a| analysis_json(a, &by_id, files))
                .collect(),
        );
    }
    v
}
