//! Instant mode: `POST /api/instant/folders/` takes the single-request multipart
//! body, runs the analyses on the worker pool with the media held in memory, and answers the
//! folder with analyses inline; best shots come back as `output_images[].base64`. Nothing is
//! written to the store or the disk, so nothing can be fetched afterwards (404).

use std::collections::HashMap;
use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::analysis::instant::InstantTask;
use crate::analysis::jobs::apply_outcome;
use crate::analysis::model::{now_secs, FolderRec, Resolution};
use crate::analysis::queue::Task;
use crate::analysis::verdicts;
use crate::analysis::view::{self, Files};
use crate::api::analyses::{self, parse_requests};
use crate::api::error::ApiError;
use crate::api::folders::{base_url, company_of, json_resp, refuse_container, require_writer};
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, Route};
use crate::upload::{self, PartData, Sink};

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::POST,
        "/api/instant/folders",
        handler!(instant),
    )]
}

async fn instant(mut ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    require_writer(&p)?;
    let app = ctx.app.clone();
    // Kept as sent: the multipart boundary is case-sensitive.
    let ct = ctx.header("content-type").unwrap_or_default().to_string();
    let ct_lower = ct.to_ascii_lowercase();
    refuse_container(&ct_lower)?;
    if !ct_lower.starts_with("multipart/") {
        return Err(ApiError::structure(
            "instant mode takes multipart/form-data: file parts + a `payload` with `analyses`",
        ));
    }
    let len = ctx
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let body = ctx.take_body()?;
    let mut upload = upload::parse(body, &ct, len, &app.config.limits, Sink::Memory).await?;
    if upload.files.len() > app.config.limits.max_media_per_folder {
        return Err(ApiError::too_large(format!(
            "a folder holds at most {} media",
            app.config.limits.max_media_per_folder
        )));
    }
    let now = now_secs();
    let mut folder = FolderRec {
        folder_id: Uuid::new_v4(),
        company_id: company_of(&p),
        user_id: p.user_id,
        time_created: now,
        time_updated: now,
        meta_data: Value::Object(upload.payload.folder_meta_data.clone().unwrap_or_default()),
        base_url: String::new(),
        resolution_endpoint: None,
        resolution_status: Resolution::Initial,
        system_resolution: Resolution::Initial,
        media_ids: Vec::new(),
        analysis_ids: Vec::new(),
    };
    let mut media = Vec::new();
    let mut bytes = HashMap::new();
    for f in upload.files.iter_mut() {
        let id = Uuid::new_v4();
        media.push(upload.payload.media_record(f, &folder, id, now));
        if let PartData::Memory(b) = std::mem::replace(&mut f.data, PartData::Memory(Vec::new())) {
            bytes.insert(id, b);
        }
    }
    folder.media_ids = media.iter().map(|m| m.media_id).collect();
    let reqs =
        match &upload.payload.analyses {
            Some(v) => parse_requests(v, &folder.media_ids, &p, &app.config)?,
            None => return Err(ApiError::structure(
                "instant mode needs `analyses` in the payload (nothing is stored to analyse later)",
            )),
        };
    if reqs
        .iter()
        .any(|r| r.kind == crate::analysis::model::AnalysisType::Collection)
    {
        return Err(ApiError::not_realized(
            "instant mode does not support collection analyses; run them on a stored folder",
        ));
    }
    let mut list = analyses::build(&folder, &reqs, None, now);
    for a in &mut list {
        a.resolution_endpoint = None;
    }
    let reservation = app
        .flow
        .queue
        .reserve(list.len())
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let media = Arc::new(media);
    let bytes = Arc::new(bytes);
    let mut replies = Vec::new();
    let mut tasks = Vec::new();
    for a in &list {
        let (tx, rx) = tokio::sync::oneshot::channel();
        replies.push(rx);
        tasks.push(Task::Instant(Box::new(InstantTask {
            kind: a.analysis_type,
            requested: a.requested_media.clone(),
            params: a.params.clone(),
            media: media.clone(),
            bytes: bytes.clone(),
            reply: tx,
        })));
    }
    reservation.push(tasks);
    let limit = std::time::Duration::from_secs(app.config.analysis.sync_timeout_secs.max(1));
    let outcomes = tokio::time::timeout(limit, futures_util::future::join_all(replies))
        .await
        .map_err(|_| {
            ApiError::unavailable("the instant analyses did not finish in time; retry later")
        })?;
    let mut shots: HashMap<Uuid, Vec<u8>> = HashMap::new();
    for (a, out) in list.iter_mut().zip(outcomes) {
        let out = out.map_err(|_| ApiError::internal("an analysis worker stopped"))?;
        for (fid, b) in apply_outcome(a, out) {
            shots.insert(fid, b);
        }
    }
    folder.analysis_ids = list.iter().map(|a| a.analysis_id).collect();
    let (rs, sr) = verdicts::folder(&list);
    folder.resolution_status = rs;
    folder.system_resolution = sr;
    let base = base_url(&ctx);
    let v = view::folder_json(
        &folder,
        &media,
        Some(&list),
        &Files::Inline {
            base: &base,
            bytes: &shots,
        },
    );
    Ok(json_resp(StatusCode::OK, &v))
}
