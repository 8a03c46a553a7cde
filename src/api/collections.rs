//! Collections (1:N): collections, their persons and person images, and the
//! collection's `meta_data` sub-resource.
//!
//! Who may do what (the vendor lets CLIENT ADMIN "create blacklist collections"):
//!
//! | action                                   | ADMIN | CLIENT_ADMIN (or CLIENT + is_admin) | other roles |
//! |------------------------------------------|-------|-------------------------------------|-------------|
//! | read collections, persons, images        | all   | own company                         | own company (OPERATOR: all) |
//! | create/delete collections, persons, images | all | own company                         | no (403)    |
//!
//! Reading is left to every role of the company because a CLIENT that runs COLLECTION
//! analyses needs the matched person's details (`GET .../persons/{person_id}`), as the Oz API
//! describes. Objects of another company answer 404, like missing ones.

use http::{header, Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::accounts::principal::{Principal, Role};
use crate::accounts::tenant::Scope;
use crate::api::error::ApiError;
use crate::api::folders::base_url;
use crate::api::list_query::num;
use crate::app::App;
use crate::collections::enrol::EnrolError;
use crate::collections::model::{CollectionRec, PersonImageRec, PersonRec};
use crate::collections::service::{self, NewImage};
use crate::collections::upload::{self, UploadLimits};
use crate::collections::CollectionsError;
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, Route};
use crate::http::server::{json_response, no_content};
use crate::meta_change::MetaChange;

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    const C: &str = "/api/collections";
    vec![
        Route::new(Method::POST, C, handler!(create)),
        Route::new(Method::GET, C, handler!(list)),
        Route::new(Method::GET, "/api/collections/{id}", handler!(get_one)),
        Route::new(Method::DELETE, "/api/collections/{id}", handler!(delete)),
        Route::new(
            Method::GET,
            "/api/collections/{id}/meta_data",
            handler!(get_meta),
        ),
        Route::new(
            Method::POST,
            "/api/collections/{id}/meta_data",
            handler!(replace_meta),
        ),
        Route::new(
            Method::PATCH,
            "/api/collections/{id}/meta_data",
            handler!(merge_meta),
        ),
        Route::new(
            Method::DELETE,
            "/api/collections/{id}/meta_data",
            handler!(clear_meta),
        ),
        Route::new(
            Method::POST,
            "/api/collections/{id}/persons",
            handler!(add_person),
        ),
        Route::new(
            Method::GET,
            "/api/collections/{id}/persons",
            handler!(list_persons),
        ),
        Route::new(
            Method::GET,
            "/api/collections/{id}/persons/{pid}",
            handler!(get_person),
        ),
        Route::new(
            Method::DELETE,
            "/api/collections/{id}/persons/{pid}",
            handler!(delete_person),
        ),
        Route::new(
            Method::POST,
            "/api/collections/{id}/persons/{pid}/images",
            handler!(add_images),
        ),
        Route::new(
            Method::GET,
            "/api/collections/{id}/persons/{pid}/images",
            handler!(list_images),
        ),
        Route::new(
            Method::DELETE,
            "/api/collections/{id}/persons/{pid}/images/{iid}",
            handler!(delete_image),
        ),
        Route::new(
            Method::GET,
            "/api/collections/{id}/persons/{pid}/images/{iid}/file",
            handler!(image_file),
        ),
    ]
}

/// Runs a collection operation off the async runtime: writes sync image files and the store,
/// and a person deletion waits for running COLLECTION analyses to record their matches.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CollectionsError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("the collection operation was interrupted"))?
        .map_err(ApiError::from)
}

/// Whether `p` may change collections of `company`.
fn require_manager(p: &Principal, company: Uuid) -> Result<(), ApiError> {
    if p.role == Role::Admin || (p.is_company_admin() && p.company_id == Some(company)) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only ADMIN and the company's CLIENT_ADMIN may create or change collections, persons and person images",
        ))
    }
}

fn parse_id(s: &str, what: &str) -> Result<Uuid, ApiError> {
    s.parse()
        .map_err(|_| ApiError::not_found(format!("{what} {s} not found")))
}

fn collection_json(c: &CollectionRec, persons: usize) -> Value {
    json!({
        "collection_id": c.collection_id,
        "alias": c.alias,
        "company_id": c.company_id,
        "meta_data": c.meta_data,
        "technical_meta_data": {"persons": persons},
        "time_created": c.time_created,
        "time_updated": c.time_updated,
    })
}

fn image_json(i: &PersonImageRec, base: &str) -> Value {
    json!({
        "person_image_id": i.person_image_id,
        "media_id": i.person_image_id,
        "person_id": i.person_id,
        "collection_id": i.collection_id,
        "company_id": i.company_id,
        "media_type": "IMAGE_FOLDER",
        "original_name": i.original_name,
        "original_url": format!(
            "{base}/api/collections/{}/persons/{}/images/{}/file",
            i.collection_id, i.person_id, i.person_image_id
        ),
        "tags": i.tags,
        "meta_data": {},
        "technical_meta_data": {
            "field_name": i.field_name,
            "size": i.size,
            "face_bbox": i.face_bbox,
            "model_id": i.template.model_id,
            "model_version": i.template.model_version,
        },
        "time_created": i.time_created,
        "time_updated": i.time_created,
    })
}

fn person_json(p: &PersonRec, images: &[PersonImageRec], base: &str) -> Value {
    json!({
        "person_id": p.person_id,
        "collection_id": p.collection_id,
        "company_id": p.company_id,
        "meta_data": p.meta_data,
        "images": images.iter().map(|i| image_json(i, base)).collect::<Vec<_>>(),
        "time_created": p.time_created,
        "time_updated": p.time_updated,
    })
}

/// Authenticates and loads collection `{id}` (path parameter 0) within the caller's scope.
async fn caller_and_collection(ctx: &Ctx) -> Result<(Principal, CollectionRec), ApiError> {
    let p = crate::accounts::authenticate(ctx).await?;
    let id = parse_id(ctx.param(0)?, "collection")?;
    let c = service::get_collection(&ctx.app.store, &Scope::of(&p), id)?;
    Ok((p, c))
}

#[derive(Deserialize)]
struct CreateBody {
    alias: Option<String>,
    company_id: Option<Value>,
    meta_data: Option<Value>,
}

async fn create(mut ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let limit = ctx.app.config.limits.max_json_bytes;
    let body: CreateBody = ctx.json(limit).await?;
    let alias = body
        .alias
        .ok_or_else(|| ApiError::structure("`alias` is required (for example \"blacklist\")"))?;
    let company = match body.company_id {
        Some(Value::String(s)) => s
            .parse::<Uuid>()
            .map_err(|_| ApiError::value(format!("`company_id` {s} is not a UUID")))?,
        None | Some(Value::Null) => p.company_id.ok_or_else(|| {
            ApiError::structure("`company_id` is required: the collection belongs to a company")
        })?,
        Some(_) => return Err(ApiError::structure("`company_id` must be a UUID string")),
    };
    require_manager(&p, company)?;
    let meta = match body.meta_data {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(m @ Value::Object(_)) => m,
        Some(_) => return Err(ApiError::structure("`meta_data` must be a JSON object")),
    };
    let c = service::create_collection(&ctx.app.store, company, &alias, meta)?;
    Ok(json_response(StatusCode::CREATED, &collection_json(&c, 0)))
}

async fn list(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let company = match ctx.query_value("company_id") {
        Some(s) => Some(
            s.parse::<Uuid>()
                .map_err(|_| ApiError::value(format!("company_id {s} is not a UUID")))?,
        ),
        None => None,
    };
    let db = &ctx.app.store;
    let items = service::list_collections(db, &Scope::of(&p), ctx.query_value("alias"), company)?;
    let mut out = Vec::with_capacity(items.len());
    for c in &items {
        out.push(collection_json(
            c,
            service::person_count(db, c.collection_id)?,
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": out, "total": items.len()}),
    ))
}

async fn get_one(ctx: Ctx) -> HandlerResult {
    let (_, c) = caller_and_collection(&ctx).await?;
    let n = service::person_count(&ctx.app.store, c.collection_id)?;
    Ok(json_response(StatusCode::OK, &collection_json(&c, n)))
}

async fn delete(ctx: Ctx) -> HandlerResult {
    let (p, c) = caller_and_collection(&ctx).await?;
    require_manager(&p, c.company_id)?;
    let app = ctx.app.clone();
    blocking(move || service::delete_collection(&app.store, &app.collections, &c)).await?;
    Ok(no_content())
}

/// `GET /api/collections/{id}/meta_data`.
async fn get_meta(ctx: Ctx) -> HandlerResult {
    let (_, c) = caller_and_collection(&ctx).await?;
    Ok(json_response(StatusCode::OK, &c.meta_data))
}

async fn change_meta(
    mut ctx: Ctx,
    make: fn(Map<String, Value>) -> MetaChange,
    with_body: bool,
) -> HandlerResult {
    let (p, c) = caller_and_collection(&ctx).await?;
    require_manager(&p, c.company_id)?;
    let change = if with_body {
        match ctx
            .json::<Value>(ctx.app.config.limits.max_json_bytes)
            .await?
        {
            Value::Object(m) => make(m),
            _ => return Err(ApiError::structure("meta_data must be a JSON object")),
        }
    } else {
        MetaChange::Clear
    };
    let app = ctx.app.clone();
    let meta = blocking(move || service::change_collection_meta(&app.store, &c, change)).await?;
    Ok(json_response(StatusCode::OK, &meta))
}

/// `POST .../meta_data`: replaces the whole object.
async fn replace_meta(ctx: Ctx) -> HandlerResult {
    change_meta(ctx, MetaChange::Replace, true).await
}

/// `PATCH .../meta_data`: adds or replaces the given keys.
async fn merge_meta(ctx: Ctx) -> HandlerResult {
    change_meta(ctx, MetaChange::Merge, true).await
}

/// `DELETE .../meta_data`: empties it.
async fn clear_meta(ctx: Ctx) -> HandlerResult {
    change_meta(ctx, |_| MetaChange::Clear, false).await
}

/// Reads the multipart body and turns every image into a template (off the async runtime).
/// One unusable image refuses the whole request, naming the part and the reason.
async fn read_images(ctx: &mut Ctx) -> Result<(Vec<NewImage>, Value), ApiError> {
    let cfg = &ctx.app.config;
    let limits = UploadLimits {
        max_body_bytes: cfg.limits.max_body_bytes,
        max_image_bytes: cfg.collections.max_image_bytes,
        max_images: cfg.collections.max_images_per_person,
    };
    let ct = ctx.header("content-type").unwrap_or_default().to_string();
    let body = ctx.take_body()?;
    let up = upload::parse(body, &ct, &limits).await?;
    let app = ctx.app.clone();
    let images = ctx
        .app
        .inference
        .run(move || enrol_all(&app, up.images))
        .await
        .map_err(|e| ApiError::internal(format!("enrolment was interrupted: {e}")))??;
    Ok((images, up.meta_data))
}

fn enrol_all(app: &App, parts: Vec<upload::ImagePart>) -> Result<Vec<NewImage>, ApiError> {
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let started = std::time::Instant::now();
        let e = match app.collections.enroller.enrol(&part.bytes) {
            Ok(e) => e,
            Err(EnrolError::Refused(r)) => {
                return Err(CollectionsError::Unusable {
                    message: format!("image part `{}` cannot be used: {}", part.field, r.message),
                    details: json!({"field": part.field, "reason": r.reason}),
                }
                .into())
            }
            Err(EnrolError::Internal(m)) => {
                eprintln!("facelite: enrolment of a person image failed: {m}");
                return Err(ApiError::internal(
                    "the face models failed; see the server log",
                ));
            }
        };
        eprintln!(
            "facelite: person image enrolled in {} ms",
            started.elapsed().as_millis()
        );
        out.push(NewImage {
            field_name: part.field,
            original_name: part.original_name,
            tags: part.tags,
            ext: part.ext,
            content_type: part.content_type,
            bytes: part.bytes,
            face_bbox: e.face_bbox,
            template: e.template,
        });
    }
    Ok(out)
}

async fn add_person(mut ctx: Ctx) -> HandlerResult {
    let (p, c) = caller_and_collection(&ctx).await?;
    require_manager(&p, c.company_id)?;
    let (images, meta) = read_images(&mut ctx).await?;
    let app = ctx.app.clone();
    let (person, recs) =
        blocking(move || service::add_person(&app.store, &app.collections, &c, meta, images))
            .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &person_json(&person, &recs, &base_url(&ctx)),
    ))
}

async fn list_persons(ctx: Ctx) -> HandlerResult {
    let (_, c) = caller_and_collection(&ctx).await?;
    let offset = num::<usize>(&ctx, "offset")?.unwrap_or(0);
    let limit = num::<usize>(&ctx, "limit")?
        .unwrap_or(100)
        .min(ctx.app.config.limits.max_list_limit);
    let db = &ctx.app.store;
    let (persons, total) = service::list_persons(db, &c, offset, limit)?;
    let base = base_url(&ctx);
    let mut items = Vec::with_capacity(persons.len());
    for p in &persons {
        items.push(person_json(p, &service::images_of(db, p)?, &base));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": items, "total": total}),
    ))
}

fn person_id(ctx: &Ctx) -> Result<Uuid, ApiError> {
    parse_id(ctx.param(1)?, "person")
}

async fn get_person(ctx: Ctx) -> HandlerResult {
    let (_, c) = caller_and_collection(&ctx).await?;
    let db = &ctx.app.store;
    let person = service::get_person(db, &c, person_id(&ctx)?)?;
    let images = service::images_of(db, &person)?;
    Ok(json_response(
        StatusCode::OK,
        &person_json(&person, &images, &base_url(&ctx)),
    ))
}

async fn delete_person(ctx: Ctx) -> HandlerResult {
    let (p, c) = caller_and_collection(&ctx).await?;
    require_manager(&p, c.company_id)?;
    let pid = person_id(&ctx)?;
    let app = ctx.app.clone();
    blocking(move || service::delete_person(&app.store, &app.collections, &c, pid)).await?;
    Ok(no_content())
}

async fn add_images(mut ctx: Ctx) -> HandlerResult {
    let (p, c) = caller_and_collection(&ctx).await?;
    require_manager(&p, c.company_id)?;
    let pid = person_id(&ctx)?;
    service::get_person(&ctx.app.store, &c, pid)?;
    let (images, _) = read_images(&mut ctx).await?;
    let max = ctx.app.config.collections.max_images_per_person;
    let app = ctx.app.clone();
    let (_, recs) =
        blocking(move || service::add_images(&app.store, &app.collections, &c, pid, images, max))
            .await?;
    let base = base_url(&ctx);
    Ok(json_response(
        StatusCode::CREATED,
        &Value::Array(recs.iter().map(|i| image_json(i, &base)).collect()),
    ))
}

async fn list_images(ctx: Ctx) -> HandlerResult {
    let (_, c) = caller_and_collection(&ctx).await?;
    let db = &ctx.app.store;
    let person = service::get_person(db, &c, person_id(&ctx)?)?;
    let base = base_url(&ctx);
    let items: Vec<Value> = service::images_of(db, &person)?
        .iter()
        .map(|i| image_json(i, &base))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": items, "total": items.len()}),
    ))
}

async fn delete_image(ctx: Ctx) -> HandlerResult {
    let (p, c) = caller_and_collection(&ctx).await?;
    require_manager(&p, c.company_id)?;
    let iid = parse_id(ctx.param(2)?, "person image")?;
    let pid = person_id(&ctx)?;
    let app = ctx.app.clone();
    blocking(move || service::delete_image(&app.store, &app.collections, &c, pid, iid)).await?;
    Ok(no_content())
}

async fn image_file(ctx: Ctx) -> HandlerResult {
    let (_, c) = caller_and_collection(&ctx).await?;
    let iid = parse_id(ctx.param(2)?, "person image")?;
    let (img, bytes) = service::image_file(
        &ctx.app.store,
        &ctx.app.collections,
        &c,
        person_id(&ctx)?,
        iid,
    )?;
    let mut r = Response::new(crate::http::body::RespBody::from(bytes));
    if let Ok(v) = header::HeaderValue::from_str(&img.content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(r)
}
