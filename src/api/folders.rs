//! Folders: create with media (and optional analyses = single request),
//! list with filters, read, delete, add media, list media. Also the helpers the other flow
//! families share: who may write/delete, the caller's tenant-scoped view of the flow records
//! ([`scoped`]), absolute URLs.

use std::sync::Arc;

use http::{header, Method, Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::companies::Company;
use crate::accounts::principal::{Principal, Role};
use crate::accounts::tenant::Scope;
use crate::accounts::users::User;
use crate::analysis::access::{ScopedFlow, ScopedWrite};
use crate::analysis::model::{now_secs, AnalysisRec, FileRec, FolderRec, MediaRec, Resolution};
use crate::analysis::view::{self, Files};
use crate::api::analyses::{self, AnalysisRequest};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::list_query::ListQuery;
use crate::app::App;
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, RespBody, Route};
use crate::store::files::FileStore;
use crate::store::StoreRead;
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
    let mut r = Response::new(crate::http::body::RespBody::from(v.to_string()));
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

/// Deleting folders, media and analyses is for ADMIN and company administrators.
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

/// The flow records (folders, media, files, analyses) the caller may see: every handler of
/// the flow reads and writes them only through this view, which answers other companies'
/// records as missing.
pub fn scoped<'a>(app: &'a App, p: &Principal) -> ScopedFlow<'a> {
    ScopedFlow::new(&app.store, Scope::of(p))
}

/// The company a new folder of `p` belongs to. Company users: their own company (a payload
/// `company_id` naming another one is "not found"). ADMIN, who belongs to no company: the
/// company named by the payload's `company_id` (it must exist), else none -- a staff folder
/// (nil company) that only ADMIN and OPERATOR see.
pub fn folder_company(app: &App, p: &Principal, wanted: Option<Uuid>) -> Result<Uuid, ApiError> {
    let own = company_of(p);
    match wanted {
        None => Ok(own),
        Some(c) if c == own && !c.is_nil() => Ok(c),
        Some(c) if p.role == Role::Admin => {
            app.store
                .get_scoped::<Company>(&Scope::All, &c.to_string())?;
            Ok(c)
        }
        Some(c) => Err(ApiError::not_found(format!("company {c} not found"))),
    }
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

/// What a folder view embeds besides its media.
#[derive(Debug, Default, Clone, Copy)]
pub struct Embed {
    /// `with_analyses=true`: the folder's analyses.
    pub analyses: bool,
    /// `with_user=true`: the creator (`user`), null when the caller may not see that user.
    pub user: bool,
    /// `with_company=true`: the company the folder belongs to (`company`; the creator's company
    /// for company users), null for a staff folder.
    pub company: bool,
}

impl Embed {
    /// The embed flags of a request's query.
    pub fn from_query(ctx: &Ctx) -> Embed {
        Embed {
            analyses: flag(ctx, "with_analyses"),
            user: flag(ctx, "with_user"),
            company: flag(ctx, "with_company"),
        }
    }
}

/// Renders a folder with its media (and analyses, creator, company when asked), all read
/// within the caller's scope.
pub fn render_folder(
    app: &App,
    flow: &ScopedFlow<'_>,
    f: &FolderRec,
    embed: Embed,
    base: &str,
) -> Result<Value, ApiError> {
    let media: Vec<MediaRec> = flow.media_of(f)?;
    let analyses: Option<Vec<AnalysisRec>> = if embed.analyses {
        Some(flow.analyses_of(f)?)
    } else {
        None
    };
    let mut v = view::folder_json(f, &media, analyses.as_deref(), &Files::Linked { base });
    if let Value::Object(obj) = &mut v {
        let scope = flow.scope();
        if embed.user {
            let user: Option<User> = app
                .store
                .read(|tx| tx.find_scoped::<User>(scope, &f.user_id.to_string()))?;
            obj.insert(
                "user".into(),
                user.map(|u| u.to_json()).unwrap_or(Value::Null),
            );
        }
        if embed.company {
            let company: Option<Company> = if f.company_id.is_nil() {
                None
            } else {
                app.store
                    .read(|tx| tx.find_scoped::<Company>(scope, &f.company_id.to_string()))?
            };
            obj.insert(
                "company".into(),
                company.map(|c| c.to_json()).unwrap_or(Value::Null),
            );
        }
    }
    Ok(v)
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

/// Refuses an OzCapsula body (`application/octet-stream`, an encrypted container facelite
/// cannot unpack) with code 14, the same on every upload route. `ct` is lower-cased.
pub fn refuse_container(ct: &str) -> Result<(), ApiError> {
    if ct.starts_with("application/octet-stream") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ContainerUnpacking,
            "OzCapsula data containers are not supported; send multipart/form-data with file parts and a `payload` part",
        ));
    }
    Ok(())
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
    refuse_container(&ct)?;
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
    let company_id = folder_company(&app, &p, upload.payload.company_id)?;
    let folder = FolderRec {
        folder_id: Uuid::new_v4(),
        company_id,
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
    // Reserve, commit, register the waits and hand the jobs to the workers in one blocking
    // task: it runs to its end even when the client hangs up and this request's future is
    // dropped, so a committed job never waits for a restart.
    let (folder, waits) = {
        let app2 = app.clone();
        let scope = Scope::of(&p);
        type Created = (FolderRec, Option<Vec<tokio::sync::oneshot::Receiver<()>>>);
        tokio::task::spawn_blocking(move || -> Result<Created, ApiError> {
            let reservation = app2
                .flow
                .queue
                .reserve(requests.len())
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
            let mut folder = folder;
            folder.media_ids = planned.media.iter().map(|m| m.media_id).collect();
            let new_analyses =
                analyses::build(&folder, &requests, payload.resolution_endpoint.clone(), now);
            folder.analysis_ids = new_analyses.iter().map(|a| a.analysis_id).collect();
            if !new_analyses.is_empty() {
                folder.resolution_status = Resolution::Processing;
                folder.system_resolution = Resolution::Processing;
            }
            let flow = ScopedFlow::new(&app2.store, scope);
            persist_then_commit(&app2, upload, &planned, || {
                flow.write(|w| {
                    w.insert_folder(&folder)?;
                    for m in &planned.media {
                        w.put(m)?;
                    }
                    for f in &planned.files {
                        w.put(f)?;
                    }
                    w.insert_analyses(&new_analyses, now)
                })?;
                Ok(())
            })?;
            let ids: Vec<Uuid> = new_analyses.iter().map(|a| a.analysis_id).collect();
            // Registered before the push, so no completion is missed.
            let waits = single.then(|| analyses::register_waits(&app2, &ids));
            analyses::push(reservation, &ids);
            Ok((folder, waits))
        })
        .await
        .map_err(|_| ApiError::internal("upload task failed"))??
    };
    let flow = scoped(&app, &p);
    if let Some(waits) = waits {
        analyses::wait(&app, waits).await;
        let folder: FolderRec = flow.get(folder.folder_id)?;
        let embed = Embed {
            analyses: true,
            ..Embed::default()
        };
        let v = render_folder(&app, &flow, &folder, embed, &base)?;
        return Ok(json_resp(StatusCode::CREATED, &v));
    }
    let v = render_folder(&app, &flow, &folder, Embed::default(), &base)?;
    Ok(json_resp(StatusCode::CREATED, &v))
}

/// `POST /api/folders/{id}/media/`: adds media; answers a JSON array of the new media.
async fn add_media(mut ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    require_writer(&p)?;
    let id = parse_id(ctx.param(0)?, "folder")?;
    let app = ctx.app.clone();
    let scope = Scope::of(&p);
    let folder: FolderRec = ScopedFlow::new(&app.store, scope.clone()).get(id)?;
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
    let max_media = app.config.limits.max_media_per_folder;
    let media = tokio::task::spawn_blocking(move || -> Result<Vec<MediaRec>, ApiError> {
        let flow = ScopedFlow::new(&app2.store, scope);
        persist_then_commit(&app2, upload, &planned, || {
            flow.write(|w| {
                let mut f: FolderRec = w.get(id)?;
                // Again inside the transaction: a concurrent upload may have added media
                // since the check above.
                if f.media_ids.len() + planned.media.len() > max_media {
                    return Err(ApiError::too_large(format!(
                        "a folder holds at most {max_media} media; it has {}",
                        f.media_ids.len()
                    )));
                }
                f.media_ids.extend(planned.media.iter().map(|m| m.media_id));
                f.time_updated = now;
                w.put(&f)?;
                for m in &planned.media {
                    w.put(m)?;
                }
                for r in &planned.files {
                    w.put(r)?;
                }
                Ok::<(), ApiError>(())
            })
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
    let flow = scoped(&ctx.app, &p);
    let folder: FolderRec = flow.get(id)?;
    let media: Vec<MediaRec> = flow.media_of(&folder)?;
    let base = base_url(&ctx);
    let files = Files::Linked { base: &base };
    let arr: Vec<Value> = media.iter().map(|m| view::media_json(m, &files)).collect();
    Ok(json_resp(StatusCode::OK, &Value::Array(arr)))
}

/// `GET /api/folders/{id}/` (`with_analyses`, `with_user`, `with_company` embed more).
async fn get_one(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "folder")?;
    let flow = scoped(&ctx.app, &p);
    let folder: FolderRec = flow.get(id)?;
    let v = render_folder(
        &ctx.app,
        &flow,
        &folder,
        Embed::from_query(&ctx),
        &base_url(&ctx),
    )?;
    Ok(json_resp(StatusCode::OK, &v))
}

/// `DELETE /api/folders/{id}/`: removes the folder, its media, analyses, jobs and files.
async fn delete(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "folder")?;
    let flow = scoped(&ctx.app, &p);
    flow.get::<FolderRec>(id)?;
    require_deleter(&p)?;
    let app = ctx.app.clone();
    let scope = Scope::of(&p);
    tokio::task::spawn_blocking(move || delete_folder(&app, scope, id))
        .await
        .map_err(|_| ApiError::internal("delete task failed"))??;
    Ok(json_resp(
        StatusCode::OK,
        &json!({"folder_id": id, "deleted": true}),
    ))
}

/// Removes the stored-file records of an analysis' produced images; returns their paths.
pub fn delete_output_files(w: &ScopedWrite<'_>, a: &AnalysisRec) -> Result<Vec<String>, ApiError> {
    let mut rels = Vec::new();
    for r in &a.results_media {
        for img in &r.output_images {
            if let Some(f) = w.delete::<FileRec>(img.file_id)? {
                rels.push(f.rel_path);
            }
        }
    }
    Ok(rels)
}

fn delete_folder(app: &Arc<App>, scope: Scope, id: Uuid) -> Result<(), ApiError> {
    let flow = ScopedFlow::new(&app.store, scope);
    let (folder, rels) = flow.write(|w| {
        let folder = w.delete_folder(id)?;
        let mut rels = Vec::new();
        for mid in &folder.media_ids {
            if let Some(m) = w.delete::<MediaRec>(*mid)? {
                if let Some(f) = w.delete::<FileRec>(m.file_id)? {
                    rels.push(f.rel_path);
                }
            }
        }
        for aid in &folder.analysis_ids {
            if let Some(a) = w.delete_analysis(*aid)? {
                rels.extend(delete_output_files(w, &a)?);
            }
        }
        Ok::<_, ApiError>((folder, rels))
    })?;
    for r in rels {
        app.flow.files.remove(&r);
    }
    app.flow
        .files
        .remove_folder_dir(folder.company_id, folder.folder_id);
    Ok(())
}

/// `GET /api/folders/`: the Oz API's list filters, answered as `{"items": [...], "total": n}`.
async fn list(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let flow = scoped(&ctx.app, &p);
    let app = &ctx.app;
    let q = ListQuery::parse(&ctx)?;
    let fq = FolderFilter::parse(&ctx)?;
    let mut matched = Vec::new();
    for f in flow.folders()? {
        if !q.matches(f.time_created, f.time_updated, &f.meta_data) || !fq.matches_status(&f) {
            continue;
        }
        if !fq.analysis_types.is_empty() {
            let an: Vec<AnalysisRec> = flow.analyses_of(&f)?;
            if !an.iter().any(|a| {
                fq.analysis_types
                    .contains(&a.analysis_type.as_str().to_string())
            }) {
                continue;
            }
        }
        matched.push(f);
    }
    let (page, total) = q.sort_and_page(matched, |f| (f.time_created, f.time_updated));
    let base = base_url(&ctx);
    let mut items = Vec::new();
    for f in &page {
        items.push(render_folder(app, &flow, f, fq.embed, &base)?);
    }
    Ok(json_resp(StatusCode::OK, &q.answer(items, total)))
}

/// The folder-only filters of a folder list request (the shared ones are [`ListQuery`]).
struct FolderFilter {
    statuses: Vec<Resolution>,
    embed: Embed,
    analysis_types: Vec<String>,
}

impl FolderFilter {
    fn parse(ctx: &Ctx) -> Result<FolderFilter, ApiError> {
        let mut statuses = Vec::new();
        if let Some(v) = ctx.query_value("resolution_status") {
            for s in v.split(',').filter(|s| !s.trim().is_empty()) {
                statuses.push(Resolution::parse(s).ok_or_else(|| {
                    ApiError::value(format!("resolution_status {s:?} is not a known status"))
                })?);
            }
        }
        let mut analysis_types = Vec::new();
        if let Some(v) = ctx
            .query_value("analyse.type")
            .or_else(|| ctx.query_value("analysis.type"))
        {
            // An unknown type is refused: ignoring it would drop the filter and list everything.
            for s in v.split(',').filter(|s| !s.trim().is_empty()) {
                let t = crate::analysis::model::AnalysisType::parse(s).ok_or_else(|| {
                    ApiError::value(format!(
                        "analyse.type {s:?} is not a known analysis type (QUALITY, BIOMETRY, COLLECTION, DOCUMENTS)"
                    ))
                })?;
                analysis_types.push(t.as_str().to_string());
            }
        }
        Ok(FolderFilter {
            statuses,
            embed: Embed::from_query(ctx),
            analysis_types,
        })
    }

    fn matches_status(&self, f: &FolderRec) -> bool {
        self.statuses.is_empty()
            || self
                .statuses
                .iter()
                .any(|s| *s == f.resolution_status || *s == f.system_resolution)
    }
}
