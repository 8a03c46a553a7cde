//! Media: read, replace tags, delete; and the route that serves stored
//! files (uploads and best shots) at their `original_url`, authenticated and tenant-checked.

use http::{header, Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::accounts::tenant::Scope;
use crate::analysis::access::ScopedFlow;
use crate::analysis::model::{now_secs, FileRec, FolderRec, MediaRec};
use crate::analysis::view::{self, Files};
use crate::api::analyses::folders_asked;
use crate::api::error::ApiError;
use crate::api::folders::{base_url, json_resp, parse_id, require_deleter, require_writer, scoped};
use crate::api::list_query::ListQuery;
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, Route};
use crate::upload::{MAX_TAGS, MAX_TAG_LEN};

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/media", handler!(list)),
        Route::new(Method::GET, "/api/media/{id}", handler!(get_one)),
        Route::new(Method::PATCH, "/api/media/{id}", handler!(patch)),
        Route::new(Method::DELETE, "/api/media/{id}", handler!(delete)),
        Route::new(Method::GET, "/api/files/{id}", handler!(file)),
    ]
}

/// `GET /api/media/`: the media of every folder the caller may see, with the shared list
/// parameters (paging, sorting, time windows, `meta_data` on the media's metadata) and the
/// filters `folder_id`, `media_type` and `tag` (a media carrying that tag), answered as
/// `{"items": [...], "total": n}`.
async fn list(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let flow = scoped(&ctx.app, &p);
    let q = ListQuery::parse(&ctx)?;
    let media_type = ctx
        .query_value("media_type")
        .map(|t| t.trim().to_ascii_uppercase());
    let tag = ctx.query_value("tag").or_else(|| ctx.query_value("tags"));
    let mut matched = Vec::new();
    for f in folders_asked(&ctx, &flow)? {
        for m in flow.media_of(&f)? {
            let keep = q.matches(m.time_created, m.time_updated, &m.meta_data)
                && media_type
                    .as_deref()
                    .is_none_or(|t| m.media_type.as_str() == t)
                && tag.is_none_or(|t| m.tags.iter().any(|x| x == t));
            if keep {
                matched.push(m);
            }
        }
    }
    let (page, total) = q.sort_and_page(matched, |m| (m.time_created, m.time_updated));
    let base = base_url(&ctx);
    let files = Files::Linked { base: &base };
    let items = page.iter().map(|m| view::media_json(m, &files)).collect();
    Ok(json_resp(StatusCode::OK, &q.answer(items, total)))
}

async fn get_one(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "media")?;
    let m: MediaRec = scoped(&ctx.app, &p).get(id)?;
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
    scoped(&app, &p).get::<MediaRec>(id)?;
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
    let scope = Scope::of(&p);
    let m = tokio::task::spawn_blocking(move || -> Result<MediaRec, ApiError> {
        ScopedFlow::new(&app2.store, scope).write(|w| {
            let mut m: MediaRec = w.get(id)?;
            m.tags = list;
            m.time_updated = now_secs();
            w.put(&m)?;
            Ok(m)
        })
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
    scoped(&ctx.app, &p).get::<MediaRec>(id)?;
    require_deleter(&p)?;
    let app = ctx.app.clone();
    let scope = Scope::of(&p);
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let file = ScopedFlow::new(&app.store, scope).write(|w| {
            let Some(m) = w.delete::<MediaRec>(id)? else {
                return Err(ApiError::not_found(format!("media {id} not found")));
            };
            let file: Option<FileRec> = w.delete(m.file_id)?;
            if let Some(mut f) = w.find::<FolderRec>(m.folder_id)? {
                f.media_ids.retain(|x| *x != id);
                f.time_updated = now_secs();
                w.put(&f)?;
            }
            Ok(file)
        })?;
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
    let rec: FileRec = scoped(&app, &p).get(id)?;
    // Streamed in small chunks: twenty downloads of a large file cost twenty chunks, not
    // twenty copies of the file.
    let body = match app.flow.files.path_of(&rec.rel_path) {
        Ok(path) => crate::http::body::RespBody::open_file(path).await,
        Err(e) => Err(e),
    }
    .map_err(|e| {
        eprintln!("facelite: stored file {id} unreadable: {e}");
        ApiError::not_found(format!("file {id} not found"))
    })?;
    let mut r = Response::new(body);
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
