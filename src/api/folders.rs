//! Folders (spec 2.10.1-2.10.4): create with media (and optional analyses = single request),
//! list with filters, read, delete, add media, list media. Also the helpers the other flow
//! families share: who may write/delete, tenant-checked loading, absolute URLs.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::accounts::principal::{Principal, Role};
use crate::accounts::tenant::Scope;
use crate::analysis::model::{now_secs, AnalysisRec, FileRec, FolderRec, MediaRec, Resolution};
use crate::analysis::repo::{self, RepoError};
use crate::analysis::view::{self, Files};
use crate::api::analyses::{self, AnalysisRequest};
use crate::api::error::{ApiError, ErrorCode};
use crate::app::App;
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, RespBody, Route};
use crate::store::files::FileStore;
use crate::upload::{self, PartData, Payload, Sink, Upload};

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/api/folders", handler!(create)),
        Route::new(Method::GET, "/api/folders", handler!(list)),
        Route::new(Method::GET, "/api/folders/{id}", handler!(get_one)),
        Route::new(Method::DELETE, "/api/folders/{id}", handler!(delete)),
        Route::new(Method::POST, "/api/folders/{id}/media", handler!(add_media)),
        Route::new(Method::GET, "/api/folders/{id}/media", handler!(list_media)),
    ]
}

/// A JSON response.
pub fn json_resp(status: StatusCode, v: &Value) -> Response<RespBody> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The company new objects of `p` belong to (nil for company-less staff).
pub fn company_of(p: &Principal) -> Uuid {
    p.company_id.unwrap_or(Uuid::nil())
}

/// Operators only read; everyone else may upload and start analyses.
pub fn require_writer(p: &Principal) -> Result<(), ApiError> {
    if matches!(p.role, Role::Operator | Role::ClientOperator) {
        return Err(ApiError::forbidden(format!(
            "your role ({:?}) may read but not create or change folders, media or analyses",
            p.role
        )));
    }
    Ok(())
}

/// Deleting folders, media and analyses is for ADMIN and company administrators (spec 2.4).
pub fn require_deleter(p: &Principal) -> Result<(), ApiError> {
    let ok = p.role == Role::Admin
        || p.role == Role::ClientAdmin
        || (p.role == Role::Client && p.is_admin);
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only ADMIN and CLIENT_ADMIN may delete folders, media and analyses",
        ))
    }
}

/// Parses a UUID path parameter; a malformed id is "not found" (nothing can have it).
pub fn parse_id(s: &str, what: &str) -> Result<Uuid, ApiError> {
    s.parse()
        .map_err(|_| ApiError::not_found(format!("{what} {s} not found")))
}

/// Loads a folder visible to `scope`, or 404.
pub fn load_folder(app: &App, scope: &Scope, id: Uuid) -> Result<FolderRec, ApiError> {
    let f: FolderRec = repo::get(crate::store::raw::db(&app.store), id)?
        .ok_or_else(|| ApiError::not_found(format!("folder {id} not found")))?;
    scope.check(f, "folder")
}

/// Base URL for links: `server.public_url`, else scheme + Host of the request.
pub fn base_url(ctx: &Ctx) -> String {
    if let Some(u) = &ctx.app.config.server.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let scheme = if ctx.app.config.server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let host = ctx
        .header("host")
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| ctx.app.config.server.listen.to_string());
    format!("{scheme}://{host}")
}

/// Whether a query flag like `with_analyses=true` is set.
pub fn flag(ctx: &Ctx, key: &str) -> bool {
    ctx.query_value(key)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// Renders a folder with its media (and analyses when asked).
pub fn render_folder(
    app: &App,
    f: &FolderRec,
    with_analyses: bool,
    base: &str,
) -> Result<Value, ApiError> {
    let media: Vec<MediaRec> = repo::get_many(crate::store::raw::db(&app.store), &f.media_ids)?;
    let analyses: Option<Vec<AnalysisRec>> = if with_analyses {
        Some(repo::get_many(
            crate::store::raw::db(&app.store),
            &f.analysis_ids,
        )?)
    } else {
        None
    };
    Ok(view::folder_json(
        f,
        &media,
        analyses.as_deref(),
        &Files::Linked { base },
    ))
}

/// What a multipart request carried, and where its media go.
struct NewMedia {
    media: Vec<MediaRec>,
    files: Vec<FileRec>,
}

fn plan_media(folder: &FolderRec, upload: &Upload, now: f64) -> NewMedia {
    let mut out = NewMedia {
        media: Vec::new(),
        files: Vec::new(),
    };
    for f in &upload.files {
        let id = Uuid::new_v4();
        out.media
            .push(upload.payload.media_record(f, folder, id, now));
        out.files.push(FileRec {
            file_id: id,
            company_id: folder.company_id,
            folder_id: folder.folder_id,
            rel_path: FileStore::rel_path(folder.company_id, folder.folder_id, id, f.ext),
            content_type: content_type(f.ext).to_string(),
            size: f.size,
        });
    }
    out
}

/// Content-Type of a stored file by its extension.
pub fn content_type(ext: &str) -> &'static str {
    match ext {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "zip" => "application/zip",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        _ => "application/octet-stream",
    }
}

/// Moves the staged files into place (durably), then runs `commit` (the redb transaction).
/// On any failure the files already moved are removed again.
fn persist_then_commit<F>(
    app: &App,
    upload: Upload,
    planned: &NewMedia,
    commit: F,
) -> Result<(), ApiError>
where
    F: FnOnce() -> Result<(), ApiError>,
{
    let mut moved: Vec<&str> = Vec::new();
    for (file, rec) in upload.files.iter().zip(&planned.files) {
        let PartData::Staged(staged) = &file.data else {
            return Err(ApiError::internal("upload was not staged on disk"));
        };
        if let Err(e) = app.flow.files.persist(staged, &rec.rel_path) {
            for m in moved {
                app.flow.files.remove(m);
            }
            eprintln!("facelite: cannot store an upload: {e}");
            return Err(ApiError::internal("cannot store the uploaded file"));
        }
        moved.push(&rec.rel_path);
    }
    if let Err(e) = commit() {
        for m in moved {
            app.flow.files.remove(m);
        }
        return Err(e);
    }
    Ok(())
}

/// Reads the multipart body of a folder/media upload to staging files.
async fn read_upload(ctx: &mut Ctx) -> Result<Upload, ApiError> {
    let ct = ctx.header("content-type").unwrap_or_default().to_string();
    let len = ctx
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let body = ctx.take_body()?;
    let app = ctx.app.clone();
    Ok(upload::parse(
        body,
        &ct,
        len,
        &app.config.limits,
        Sink::Disk(&app.flow.files),
    )
    .await?)
}

/// `POST /api/folders/`: creates a folder, stores its media, and with `payload.analyses`
/// runs them and answers with the results (single request mode).
async fn create(mut ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    require_writer(&p)?;
    let ct = ctx
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ct.starts_with("application/octet-stream") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ContainerUnpacking,
            "OzCapsula data containers are not supported; send multipart/form-data with file parts and a `payload` part",
        ));
    }
    let upload = if ct.starts_with("multipart/") {
        read_upload(&mut ctx).await?
    } else {
        // An empty folder (no body, or a form/JSON body without files) is allowed.
        let _ = ctx.body_bytes(ctx.app.config.limits.max_json_bytes).await?;
        Upload::default()
    };
    let app = ctx.app.clone();
    if upload.files.len() > app.config.limits.max_media_per_folder {
        return Err(ApiError::too_large(format!(
            "a folder holds at most {} media",
            app.config.limits.max_media_per_folder
        )));
    }
    let now = now_secs();
    let base = base_url(&ctx);
    let folder = FolderRec {
        folder_id: Uuid::new_v4(),
        company_id: company_of(&p),
        user_id: p.user_id,
        time_created: now,
        time_updated: now,
        meta_data: Value::Object(upload.payload.folder_meta_data.clone().unwrap_or_default()),
        base_url: base.clone(),
        resolution_endpoint: upload.payload.resolution_endpoint.clone(),
        resolution_status: Resolution::Initial,
        system_resolution: Resolution::Initial,
        media_ids: Vec::new(),
        analysis_ids: Vec::new(),
    };
    let planned = plan_media(&folder, &upload, now);
    let media_ids: Vec<Uuid> = planned.media.iter().map(|m| m.media_id).collect();
    let requests: Vec<AnalysisRequest> = match &upload.payload.analyses {
        Some(v) => analyses::parse_requests(v, &media_ids, &p, &app.config)?,
        None => Vec::new(),
    };
    let single = !requests.is_empty();
    let payload: Payload = upload.payload.clone();
    let reservation = app
        .flow
        .queue
        .reserve(requests.len())
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let (folder, new_analyses) = {
        let app2 = app.clone();
        tokio::task::spawn_blocking(move || -> Result<(FolderRec, Vec<AnalysisRec>), ApiError> {
            let mut folder = folder;
            folder.media_ids = planned.media.iter().map(|m| m.media_id).collect();
            let new_analyses =
                analyses::build(&folder, &requests, payload.resolution_endpoint.clone(), now);
            folder.analysis_ids = new_analyses.iter().map(|a| a.analysis_id).collect();
            if !new_analyses.is_empty() {
                folder.resolution_status = Resolution::Processing;
                folder.system_resolution = Resolution::Processing;
            }
            let db = crate::store::raw::db(&app2.store);
            persist_then_commit(&app2, upload, &planned, || {
                let txn = db.begin_write().map_err(RepoError::from)?;
                repo::put_new_folder(&txn, &folder)?;
                for m in &planned.media {
                    repo::put(&txn, m)?;
                }
                for f in &planned.files {
                    repo::put(&txn, f)?;
                }
                analyses::put_with_jobs(&txn, &new_analyses, now)?;
                txn.commit().map_err(RepoError::from)?;
                Ok(())
            })?;
            Ok((folder, new_analyses))
        })
        .await
        .map_err(|_| ApiError::internal("upload task failed"))??
    };
    let ids: Vec<Uuid> = new_analyses.iter().map(|a| a.analysis_id).collect();
    let waits = if single {
        Some(analyses::register_waits(&app, &ids))
    } else {
        None
    };
    analyses::push(reservation, &ids);
    if let Some(waits) = waits {
        analyses::wait(&app, waits).await;
        let folder = load_folder(&app, &Scope::of(&p), folder.folder_id)?;
        let v = render_folder(&app, &folder, true, &base)?;
        return Ok(json_resp(StatusCode::CREATED, &v));
    }
    let v = render_folder(&app, &folder, false, &base)?;
    Ok(json_resp(StatusCode::CREATED, &v))
}

/// `POST /api/folders/{id}/media/`: adds media; answers a JSON array of the new media.
async fn add_media(mut ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    require_writer(&p)?;
    let id = parse_id(ctx.param(0)?, "folder")?;
    let app = ctx.app.clone();
    let scope = Scope::of(&p);
    let folder = load_folder(&app, &scope, id)?;
    let ct = ctx
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !ct.starts_with("multipart/") {
        return Err(ApiError::structure(
            "media are uploaded as multipart/form-data (file parts + optional `payload`)",
        ));
    }
    let upload = read_upload(&mut ctx).await?;
    if upload.files.is_empty() {
        return Err(ApiError::structure("the request holds no file part"));
    }
    if folder.media_ids.len() + upload.files.len() > app.config.limits.max_media_per_folder {
        return Err(ApiError::too_large(format!(
            "a folder holds at most {} media; it has {}",
            app.config.limits.max_media_per_folder,
            folder.media_ids.len()
        )));
    }
    let now = now_secs();
    let planned = plan_media(&folder, &upload, now);
    let base = base_url(&ctx);
    let app2 = app.clone();
    let media = tokio::task::spawn_blocking(move || -> Result<Vec<MediaRec>, ApiError> {
        let db = crate::store::raw::db(&app2.store);
        persist_then_commit(&app2, upload, &planned, || {
            let txn = db.begin_write().map_err(RepoError::from)?;
            let mut f: FolderRec = repo::get_w(&txn, id)?
                .ok_or_else(|| ApiError::not_found(format!("folder {id} not found")))?;
            f.media_ids.extend(planned.media.iter().map(|m| m.media_id));
            f.time_updated = now;
            repo::put(&txn, &f)?;
            for m in &planned.media {
                repo::put(&txn, m)?;
            }
            for r in &planned.files {
                repo::put(&txn, r)?;
            }
            txn.commit().map_err(RepoError::from)?;
            Ok(())
        })?;
        Ok(planned.media.clone())
    })
    .await
    .map_err(|_| ApiError::internal("upload task failed"))??;
    let files = Files::Linked { base: &base };
    let arr: Vec<Value> = media.iter().map(|m| view::media_json(m, &files)).collect();
    Ok(json_resp(StatusCode::CREATED, &Value::Array(arr)))
}

/// `GET /api/folders/{id}/media/`: the folder's media.
async fn list_media(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "folder")?;
    let folder = load_folder(&ctx.app, &Scope::of(&p), id)?;
    let media: Vec<MediaRec> =
        repo::get_many(crate::store::raw::db(&ctx.app.store), &folder.media_ids)?;
    let base = base_url(&ctx);
    let files = Files::Linked { base: &base };
    let arr: Vec<Value> = media.iter().map(|m| view::media_json(m, &files)).collect();
    Ok(json_resp(StatusCode::OK, &Value::Array(arr)))
}

/// `GET /api/folders/{id}/` (`with_analyses=true` embeds the analyses).
async fn get_one(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "folder")?;
    let folder = load_folder(&ctx.app, &Scope::of(&p), id)?;
    let v = render_folder(
        &ctx.app,
        &folder,
        flag(&ctx, "with_analyses"),
        &base_url(&ctx),
    )?;
    Ok(json_resp(StatusCode::OK, &v))
}

/// `DELETE /api/folders/{id}/`: removes the folder, its media, analyses, jobs and files.
async fn delete(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "folder")?;
    let folder = load_folder(&ctx.app, &Scope::of(&p), id)?;
    require_deleter(&p)?;
    let app = ctx.app.clone();
    tokio::task::spawn_blocking(move || delete_folder(&app, &folder))
        .await
        .map_err(|_| ApiError::internal("delete task failed"))??;
    Ok(json_resp(
        StatusCode::OK,
        &json!({"folder_id": id, "deleted": true}),
    ))
}

fn delete_folder(app: &Arc<App>, folder: &FolderRec) -> Result<(), ApiError> {
    let db = crate::store::raw::db(&app.store);
    let txn = db.begin_write().map_err(RepoError::from)?;
    let mut rels = Vec::new();
    for mid in &folder.media_ids {
        if let Some(m) = repo::get_w::<MediaRec>(&txn, *mid)? {
            if let Some(f) = repo::get_w::<FileRec>(&txn, m.file_id)? {
                rels.push(f.rel_path);
                repo::delete::<FileRec>(&txn, f.file_id)?;
            }
            repo::delete::<MediaRec>(&txn, *mid)?;
        }
    }
    for aid in &folder.analysis_ids {
        if let Some(a) = repo::get_w::<AnalysisRec>(&txn, *aid)? {
            for r in &a.results_media {
                for img in &r.output_images {
                    if let Some(f) = repo::get_w::<FileRec>(&txn, img.file_id)? {
                        rels.push(f.rel_path);
                        repo::delete::<FileRec>(&txn, f.file_id)?;
                    }
                }
            }
            repo::delete::<AnalysisRec>(&txn, *aid)?;
            repo::delete::<crate::analysis::model::JobRec>(&txn, *aid)?;
        }
    }
    repo::delete_folder_row(&txn, folder)?;
    txn.commit().map_err(RepoError::from)?;
    for r in rels {
        app.flow.files.remove(&r);
    }
    app.flow
        .files
        .remove_folder_dir(folder.company_id, folder.folder_id);
    Ok(())
}

/// `GET /api/folders/`: filters of spec 2.10.3, answered as `{"items": [...], "total": n}`.
async fn list(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let scope = Scope::of(&p);
    let app = &ctx.app;
    let q = ListQuery::parse(&ctx)?;
    let company = match &scope {
        Scope::All => None,
        Scope::Company(c) => Some(*c),
    };
    let ids = repo::folder_ids(crate::store::raw::db(&app.store), company)?;
    let folders: Vec<FolderRec> =
        scope.filter(repo::get_many(crate::store::raw::db(&app.store), &ids)?);
    let mut matched = Vec::new();
    for f in folders {
        if !q.matches_folder(&f) {
            continue;
        }
        if !q.analysis_types.is_empty() {
            let an: Vec<AnalysisRec> =
                repo::get_many(crate::store::raw::db(&app.store), &f.analysis_ids)?;
            if !an.iter().any(|a| {
                q.analysis_types
                    .contains(&a.analysis_type.as_str().to_string())
            }) {
                continue;
            }
        }
        matched.push(f);
    }
    let key = |f: &FolderRec| {
        if q.sort_updated {
            f.time_updated
        } else {
            f.time_created
        }
    };
    matched.sort_by(|a, b| {
        let o = key(a).total_cmp(&key(b));
        if q.sort_desc {
            o.reverse()
        } else {
            o
        }
    });
    let total = matched.len();
    let base = base_url(&ctx);
    let mut items = Vec::new();
    for f in matched.iter().skip(q.offset).take(q.limit) {
        items.push(render_folder(app, f, q.with_analyses, &base)?);
    }
    let mut out = Map::new();
    out.insert("items".into(), Value::Array(items));
    if !flag(&ctx, "total_omit") {
        out.insert("total".into(), json!(total));
    }
    Ok(json_resp(StatusCode::OK, &Value::Object(out)))
}

/// The parsed filters of a folder list request.
struct ListQuery {
    offset: usize,
    limit: usize,
    sort_updated: bool,
    sort_desc: bool,
    created: (f64, f64),
    updated: (f64, f64),
    meta: Vec<(String, bool, String)>,
    statuses: Vec<Resolution>,
    with_analyses: bool,
    analysis_types: Vec<String>,
}

fn num<T: std::str::FromStr>(ctx: &Ctx, key: &str) -> Result<Option<T>, ApiError> {
    match ctx.query_value(key) {
        None | Some("") => Ok(None),
        Some(v) => {
            v.trim().parse().map(Some).map_err(|_| {
                ApiError::value(format!("query parameter {key}={v:?} is not a number"))
            })
        }
    }
}

impl ListQuery {
    fn parse(ctx: &Ctx) -> Result<ListQuery, ApiError> {
        let limits = &ctx.app.config.limits;
        let limit = num::<usize>(ctx, "limit")?
            .unwrap_or(100)
            .min(limits.max_list_limit);
        let offset = num::<usize>(ctx, "offset")?.unwrap_or(0);
        let (sort_updated, sort_desc) = match ctx.query_value("sorting").map(str::trim) {
            None | Some("") => (false, true),
            Some("time_created{asc}") | Some("time_created") => (false, false),
            Some("time_created{desc}") | Some("-time_created") => (false, true),
            Some("time_updated{asc}") | Some("time_updated") => (true, false),
            Some("time_updated{desc}") | Some("-time_updated") => (true, true),
            Some(other) => {
                return Err(ApiError::value(format!(
                    "sorting={other:?} is not supported; use time_created{{asc|desc}} or time_updated{{asc|desc}}"
                )))
            }
        };
        let window = |lo: &str, hi: &str| -> Result<(f64, f64), ApiError> {
            Ok((
                num::<f64>(ctx, lo)?.unwrap_or(f64::NEG_INFINITY),
                num::<f64>(ctx, hi)?.unwrap_or(f64::INFINITY),
            ))
        };
        let mut meta = Vec::new();
        for (k, v) in &ctx.query {
            if k != "meta_data" {
                continue;
            }
            let (key, eq, val) = if let Some((a, b)) = v.split_once("!=") {
                (a, false, b)
            } else if let Some((a, b)) = v.split_once("==") {
                (a, true, b)
            } else {
                return Err(ApiError::value(format!(
                    "meta_data={v:?}: use key==value or key!=value"
                )));
            };
            meta.push((key.trim().to_string(), eq, val.trim().to_string()));
        }
        let mut statuses = Vec::new();
        if let Some(v) = ctx.query_value("resolution_status") {
            for s in v.split(',').filter(|s| !s.trim().is_empty()) {
                statuses.push(Resolution::parse(s).ok_or_else(|| {
                    ApiError::value(format!("resolution_status {s:?} is not a known status"))
                })?);
            }
        }
        let analysis_types = ctx
            .query_value("analyse.type")
            .or_else(|| ctx.query_value("analysis.type"))
            .map(|v| {
                v.split(',')
                    .filter_map(crate::analysis::model::AnalysisType::parse)
                    .map(|t| t.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default();
        Ok(ListQuery {
            offset,
            limit,
            sort_updated,
            sort_desc,
            created: window("time_created.min", "time_created.max")?,
            updated: window("time_updated.min", "time_updated.max")?,
            meta,
            statuses,
            with_analyses: flag(ctx, "with_analyses"),
            analysis_types,
        })
    }

    fn matches_folder(&self, f: &FolderRec) -> bool {
        let within = |t: f64, (lo, hi): (f64, f64)| t >= lo && t <= hi;
        if !within(f.time_created, self.created) || !within(f.time_updated, self.updated) {
            return false;
        }
        if !self.statuses.is_empty()
            && !self
                .statuses
                .iter()
                .any(|s| *s == f.resolution_status || *s == f.system_resolution)
        {
            return false;
        }
        self.meta.iter().all(|(key, eq, val)| {
            let found = lookup(&f.meta_data, key).map(as_text);
            match (found, eq) {
                (Some(t), true) => t == *val,
                (None, true) => false,
                (Some(t), false) => t != *val,
                (None, false) => true,
            }
        })
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
