//! Companies (`/api/companies/`) and users (`/api/users/`, `/api/users/{id}/meta_data`).
//!
//! Every handler authenticates, works in `Scope::of(caller)` (an object outside it is 404,
//! code 10) and asks `accounts::permissions` before writing (403, code 9).
//!
//! Lists take `offset` (default 0) and `limit` (default 100, at most 1000) and answer
//! `{"items": [...], "total": <matches before paging>}` (`total` left out with
//! `total_omit=true`). `GET /api/companies/` filters with `search_text` (case-insensitive
//! part of the name); `GET /api/users/` with `search_text` (email or names), `company_id`
//! and `user_type`. Create answers 201 with the object, delete 204 with no body.

use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::accounts::companies::{self, Company};
use crate::accounts::principal::{Principal, Role};
use crate::accounts::tenant::Scope;
use crate::accounts::users::{self, User, UserDraft, UserFilter};
use crate::accounts::{self, permissions, AccountsError};
use crate::api::authorize::json_response;
use crate::api::error::ApiError;
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, Route};
use crate::http::server::no_content;

/// Default page size of the lists.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size of the lists.
pub const MAX_LIMIT: usize = 1000;

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/companies/", handler!(list_companies)),
        Route::new(Method::POST, "/api/companies/", handler!(create_company)),
        Route::new(Method::GET, "/api/companies/{id}/", handler!(get_company)),
        Route::new(
            Method::PATCH,
            "/api/companies/{id}/",
            handler!(update_company),
        ),
        Route::new(
            Method::PUT,
            "/api/companies/{id}/",
            handler!(update_company),
        ),
        Route::new(
            Method::DELETE,
            "/api/companies/{id}/",
            handler!(delete_company),
        ),
        Route::new(Method::GET, "/api/users/", handler!(list_users)),
        Route::new(Method::POST, "/api/users/", handler!(create_user)),
        Route::new(Method::GET, "/api/users/{id}/", handler!(get_user)),
        Route::new(Method::PATCH, "/api/users/{id}/", handler!(update_user)),
        Route::new(Method::PUT, "/api/users/{id}/", handler!(update_user)),
        Route::new(Method::DELETE, "/api/users/{id}/", handler!(delete_user)),
        Route::new(
            Method::GET,
            "/api/users/{id}/meta_data/",
            handler!(get_user_meta),
        ),
        Route::new(
            Method::POST,
            "/api/users/{id}/meta_data/",
            handler!(replace_user_meta),
        ),
        Route::new(
            Method::PATCH,
            "/api/users/{id}/meta_data/",
            handler!(merge_user_meta),
        ),
        Route::new(
            Method::DELETE,
            "/api/users/{id}/meta_data/",
            handler!(delete_user_meta),
        ),
    ]
}

/// The id in path position 0 as a canonical key; an id that is not a UUID cannot exist.
fn id_param(ctx: &Ctx, what: &str) -> Result<String, ApiError> {
    let raw = ctx.param(0)?;
    Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::not_found(format!("{what} {raw} not found")))
}

fn usize_query(ctx: &Ctx, key: &str, default: usize) -> Result<usize, ApiError> {
    match ctx.query_value(key) {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ApiError::value(format!(
                "query parameter {key}={v:?} is not a non-negative integer"
            ))
        }),
    }
}

/// Pages `items` and wraps them as `{"items": [...], "total": n}`.
fn page<T>(ctx: &Ctx, items: Vec<T>, to_json: impl Fn(&T) -> Value) -> Result<Value, ApiError> {
    let offset = usize_query(ctx, "offset", 0)?;
    let limit = usize_query(ctx, "limit", DEFAULT_LIMIT)?;
    if limit > MAX_LIMIT {
        return Err(ApiError::value(format!(
            "limit={limit} is above the maximum of {MAX_LIMIT}"
        )));
    }
    let total = items.len();
    let page: Vec<Value> = items.iter().skip(offset).take(limit).map(to_json).collect();
    let mut out = json!({ "items": page });
    if ctx.query_value("total_omit") != Some("true") {
        out["total"] = total.into();
    }
    Ok(out)
}

async fn json_object(ctx: &mut Ctx) -> Result<Map<String, Value>, ApiError> {
    match ctx
        .json::<Value>(ctx.app.config.limits.max_json_bytes)
        .await?
    {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::structure("request body must be a JSON object")),
    }
}

// ---- companies ------------------------------------------------------------------------------

async fn list_companies(ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let all = companies::list(
        &ctx.app.store,
        &Scope::of(&p),
        ctx.query_value("search_text"),
    )?;
    Ok(json_response(
        StatusCode::OK,
        &page(&ctx, all, Company::to_json)?,
    ))
}

fn company_name(body: &Map<String, Value>) -> Result<&str, ApiError> {
    match body.get("name") {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AccountsError::Type("field 'name' must be a string".into()).into()),
        None => Err(ApiError::structure("field 'name' is required")),
    }
}

async fn create_company(mut ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    permissions::create_company(&p)?;
    let body = json_object(&mut ctx).await?;
    let c = companies::create(&ctx.app.store, company_name(&body)?)?;
    Ok(json_response(StatusCode::CREATED, &c.to_json()))
}

async fn get_company(ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let id = id_param(&ctx, "company")?;
    let c: Company = ctx.app.store.get_scoped(&Scope::of(&p), &id)?;
    Ok(json_response(StatusCode::OK, &c.to_json()))
}

async fn update_company(mut ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let scope = Scope::of(&p);
    let id = id_param(&ctx, "company")?;
    let c: Company = ctx.app.store.get_scoped(&scope, &id)?;
    permissions::update_company(&p, c.company_id)?;
    let body = json_object(&mut ctx).await?;
    let c = companies::rename(&ctx.app.store, &scope, &id, company_name(&body)?)?;
    Ok(json_response(StatusCode::OK, &c.to_json()))
}

async fn delete_company(ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let scope = Scope::of(&p);
    let id = id_param(&ctx, "company")?;
    let _: Company = ctx.app.store.get_scoped(&scope, &id)?;
    permissions::delete_company(&p)?;
    companies::delete(&ctx.app.store, &scope, &id)?;
    Ok(no_content())
}

// ---- users ----------------------------------------------------------------------------------

async fn list_users(ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let company_id = match ctx.query_value("company_id").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            Uuid::parse_str(s)
                .map_err(|_| ApiError::value(format!("company_id={s:?} is not a UUID")))?,
        ),
    };
    let user_type = match ctx.query_value("user_type").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            Role::parse(s)
                .ok_or_else(|| ApiError::value(format!("user_type={s:?} is not a role")))?
                .role,
        ),
    };
    let filter = UserFilter {
        search_text: ctx.query_value("search_text").map(str::to_string),
        company_id,
        user_type,
    };
    let all = users::list(&ctx.app.store, &Scope::of(&p), &filter)?;
    Ok(json_response(
        StatusCode::OK,
        &page(&ctx, all, User::to_json)?,
    ))
}

/// Refuses callers that may never create users before the (slow) password hashing.
fn precheck_create(p: &Principal, draft: &UserDraft) -> Result<(), ApiError> {
    if p.role == Role::Admin {
        return Ok(());
    }
    if !p.is_company_admin() {
        return Err(AccountsError::Forbidden(format!(
            "your role ({}) may not create users",
            p.role
        ))
        .into());
    }
    if let Some(t) = draft.user_type.filter(|t| t.role.is_staff()) {
        return Err(AccountsError::Forbidden(format!(
            "your role ({}) may not create {} users",
            p.role, t.role
        ))
        .into());
    }
    if let Some(Some(c)) = draft.company_id {
        if Some(c) != p.company_id {
            return Err(AccountsError::Forbidden(format!(
                "your role ({}) may not create users of another company",
                p.role
            ))
            .into());
        }
    }
    Ok(())
}

async fn create_user(mut ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let body = Value::Object(json_object(&mut ctx).await?);
    let mut draft = UserDraft::from_json(&body)?;
    precheck_create(&p, &draft)?;
    if p.is_company_admin() && draft.company_id.is_none() {
        // A company admin creates users of its own company by default.
        draft.company_id = Some(p.company_id);
    }
    let password = draft
        .password
        .clone()
        .ok_or_else(|| ApiError::structure("field 'password' is required"))?;
    let hash = accounts::hash_password(password, ctx.app.config.auth.pbkdf2_iterations).await?;
    let user = users::create(&ctx.app.store, &Scope::of(&p), &draft, hash, |u| {
        permissions::create_user(&p, u)
    })?;
    Ok(json_response(StatusCode::CREATED, &user.to_json()))
}

async fn get_user(ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let id = id_param(&ctx, "user")?;
    let u: User = ctx.app.store.get_scoped(&Scope::of(&p), &id)?;
    Ok(json_response(StatusCode::OK, &u.to_json()))
}

async fn update_user(mut ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let scope = Scope::of(&p);
    let id = id_param(&ctx, "user")?;
    let target: User = ctx.app.store.get_scoped(&scope, &id)?;
    permissions::edit_user_at_all(&p, &target)?;
    let body = Value::Object(json_object(&mut ctx).await?);
    let draft = UserDraft::from_json(&body)?;
    let hash = match draft.password.clone() {
        Some(pw) => Some(accounts::hash_password(pw, ctx.app.config.auth.pbkdf2_iterations).await?),
        None => None,
    };
    let user = users::update(&ctx.app.store, &scope, &id, &draft, hash, |old, new| {
        permissions::update_user(&p, old, new)
    })?;
    Ok(json_response(StatusCode::OK, &user.to_json()))
}

async fn delete_user(ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let id = id_param(&ctx, "user")?;
    users::delete(&ctx.app.store, &Scope::of(&p), &id, |u| {
        permissions::delete_user(&p, u)
    })?;
    Ok(no_content())
}

// ---- user meta_data -------------------------------------------------------------------------

async fn get_user_meta(ctx: Ctx) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let id = id_param(&ctx, "user")?;
    let u: User = ctx.app.store.get_scoped(&Scope::of(&p), &id)?;
    Ok(json_response(StatusCode::OK, &Value::Object(u.meta_data)))
}

async fn change_meta(
    mut ctx: Ctx,
    f: impl FnOnce(&mut Map<String, Value>, Map<String, Value>),
    with_body: bool,
) -> HandlerResult {
    let p = accounts::authenticate(&ctx).await?;
    let id = id_param(&ctx, "user")?;
    let body = if with_body {
        json_object(&mut ctx).await?
    } else {
        Map::new()
    };
    let u = users::modify_meta(
        &ctx.app.store,
        &Scope::of(&p),
        &id,
        |u| permissions::change_user_meta(&p, u),
        |m| f(m, body),
    )?;
    if with_body {
        Ok(json_response(StatusCode::OK, &Value::Object(u.meta_data)))
    } else {
        Ok(no_content())
    }
}

async fn replace_user_meta(ctx: Ctx) -> HandlerResult {
    change_meta(ctx, |m, body| *m = body, true).await
}

async fn merge_user_meta(ctx: Ctx) -> HandlerResult {
    change_meta(ctx, |m, body| m.extend(body), true).await
}

async fn delete_user_meta(ctx: Ctx) -> HandlerResult {
    change_meta(ctx, |m, _| m.clear(), false).await
}
