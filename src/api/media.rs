//! Media (spec 2.10, rows 14-16): read, replace tags, delete; and the route that serves stored
//! files (uploads and best shots) at their `original_url`, authenticated and tenant-checked.

use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

use crate::accounts::tenant::Scope;
use crate::analysis::model::{now_secs, FileRec, FolderRec, MediaRec};
use crate::analysis::repo::{self, RepoError};
use crate::analysis::view::{self, Files};
use crate::api::error::ApiError;
use crate::api::folders::{base_url, json_resp, parse_id, require_deleter, require_writer};
use crate::app::App;
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, Route};
use crate::upload::{MAX_TAGS, MAX_TAG_LEN};

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/media/{id}", handler!(get_one)),
        Route::new(Method::PATCH, "/api/media/{id}", handler!(patch)),
        Route::new(Method::DELETE, "/api/media/{id}", handler!(delete)),
        Route::new(Method::GET, "/api/files/{id}", handler!(file)),
    ]
}

/// Loads a media visible to the caller, or 404.
pub fn load_media(app: &App, scope: &Scope, id: uuid::Uuid) -> Result<MediaRec, ApiError> {
    let m: MediaRec = repo::get(crate::store::raw::db(&app.store), id)?
        .ok_or_else(|| ApiError::not_found(format!("media {id} not found")))?;
    scope.check(m, "media")
}

async fn get_one(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "media")?;
    let m = load_media(&ctx.app, &Scope::of(&p), id)?;
    let base = base_url(&ctx);
    Ok(json_resp(
        StatusCode::OK,
        &view::media_json(&m, &Files::Linked { base: &base }),
    ))
}

/// `PATCH /api/media/{id}` `{"tags": [...]}`: replaces (or with `[]` clears) the tags.
async fn patch(mut ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    require_writer(&p)?;
    let id = parse_id(ctx.param(0)?, "media")?;
    let app = ctx.app.clone();
    load_media(&app, &Scope::of(&p), id)?;
    let body: Value = ctx.json(app.config.limits.max_json_bytes).await?;
    let tags = body
        .get("tags")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::structure("body must be {\"tags\": [\"tag\", ...]}"))?;
    if tags.len() > MAX_TAGS {
        return Err(ApiError::too_large(format!(
            "at most {MAX_TAGS} tags per media"
        )));
    }
    let mut list = Vec::new();
    for t in tags {
        match t.as_str() {
            Some(s) if !s.is_empty() && s.len() <= MAX_TAG_LEN => list.push(s.to_string()),
            _ => {
                return Err(ApiError::value(format!(
                    "tags must be non-empty strings of at most {MAX_TAG_LEN} bytes"
                )))
            }
        }
    }
    let app2 = app.clone();
    let m = tokio::task::spawn_blocking(move || -> Result<MediaRec, ApiError> {
        let txn = crate::store::raw::db(&app2.store)
            .begin_write()
            .map_err(RepoError::from)?;
        let mut m: MediaRec = repo::get_w(&txn, id)?
            .ok_or_else(|| ApiError::not_found(format!("media {id} not found")))?;
        m.tags = list;
        m.time_updated = now_secs();
        repo::put(&txn, &m)?;
        txn.commit().map_err(RepoError::from)?;
        Ok(m)
    })
    .await
    .map_err(|_| ApiError::internal("update task failed"))??;
    let base = base_url(&ctx);
    Ok(json_resp(
        StatusCode::OK,
        &view::media_json(&m, &Files::Linked { base: &base }),
    ))
}

/// `DELETE /api/media/{id}`: removes the media and its file (company admins and ADMIN).
async fn delete(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "media")?;
    let m = load_media(&ctx.app, &Scope::of(&p), id)?;
    require_deleter(&p)?;
    let app = ctx.app.clone();
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let txn = crate::store::raw::db(&app.store)
            .begin_write()
            .map_err(RepoError::from)?;
        let file: Option<FileRec> = repo::get_w(&txn, m.file_id)?;
        repo::delete::<FileRec>(&txn, m.file_id)?;
        repo::delete::<MediaRec>(&txn, id)?;
        if let Some(mut f) = repo::get_w::<FolderRec>(&txn, m.folder_id)? {
            f.media_ids.retain(|x| *x != id);
            f.time_updated = now_secs();
            repo::put(&txn, &f)?;
        }
        txn.commit().map_err(RepoError::from)?;
        if let Some(f) = file {
            app.flow.files.remove(&f.rel_path);
        }
        Ok(())
    })
    .await
    .map_err(|_| ApiError::internal("delete task failed"))??;
    Ok(json_resp(
        StatusCode::OK,
        &json!({"media_id": id, "deleted": true}),
    ))
}

/// `GET /api/files/{id}`: the bytes of a stored upload or best shot.
async fn file(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "file")?;
    let app = ctx.app.clone();
    let rec: FileRec = repo::get(crate::store::raw::db(&app.store), id)?
        .ok_or_else(|| ApiError::not_found(format!("file {id} not found")))?;
    let rec = Scope::of(&p).check(rec, "file")?;
    let bytes =
        tokio::task::spawn_blocking(move || app.flow.files.read(&rec.rel_path).map(|b| (b, rec)))
            .await
            .map_err(|_| ApiError::internal("read task failed"))?
            .map_err(|e| {
                eprintln!("facelite: stored file {id} unreadable: {e}");
                ApiError::not_found(format!("file {id} not found"))
            })?;
    let (bytes, rec) = bytes;
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = StatusCode::OK;
    if let Ok(v) = header::HeaderValue::from_str(&rec.content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(r)
}
