//! `POST /api/authorize/auth/` (login) and `POST /api/authorize/refresh/` (token rotation).
//!
//! Login body: `{"credentials": {"email": ..., "password": ...}}`. Success (200) and refresh
//! both answer `{access_token, expire_token, expire_date, <user fields>}` with `expire_date`
//! in UNIX seconds. Wrong email or password: 401, code 7 ("email or password is incorrect"),
//! the same for both so that emails cannot be probed. Too many failures: 429, code 9, with
//! `details.retry_after_secs`.
//!
//! Refresh needs a live access token of the same user in the header (codes 6/7/8 otherwise;
//! an idle session that expired cannot be refreshed, the client logs in again) and
//! `{"expire_token": ...}` in the body: missing -> 400 code 3 "Could not locate field for
//! key_path expire_token from provided dict data"; no live session with that expire token ->
//! 401 code 7 "Session not found"; another user's session -> 403 code 9 "You have not access to
//! refresh this session". The rotation rule is in `accounts::session`.
//!
//! `GET /api/authorize/session_token` exists in the Oz API only to bind an OzCapsula container
//! (a proprietary, undocumented format facelite does not read). Handing out a token nothing
//! would ever check would be a fake, so an authenticated caller gets 501, code 2 (NOT
//! REALIZED) with the reason; an unauthenticated one the usual 6/7/8.

use http::{header, Method, Response, StatusCode};
use serde_json::{Map, Value};

use crate::accounts::session::Issued;
use crate::accounts::users::User;
use crate::accounts::{self, AccountsError};
use crate::api::error::ApiError;
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, RespBody, Route};

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/api/authorize/auth/", handler!(auth)),
        Route::new(Method::POST, "/api/authorize/refresh/", handler!(refresh)),
        Route::new(
            Method::GET,
            "/api/authorize/session_token/",
            handler!(session_token),
        ),
    ]
}

/// `GET /api/authorize/session_token`: not realized (see the module doc).
async fn session_token(ctx: Ctx) -> HandlerResult {
    accounts::authenticate(&ctx).await?;
    Err(ApiError::not_realized(
        "session tokens only bind OzCapsula containers, which facelite does not support; \
         send media as multipart/form-data to /api/folders/ or /api/instant/folders/",
    ))
}

/// A JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<RespBody> {
    let mut resp = Response::new(crate::http::body::RespBody::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn missing(path: &str) -> ApiError {
    ApiError::structure(format!(
        "Could not locate field for key_path {path} from provided dict data"
    ))
}

/// The login/refresh answer: tokens, expiry and the user.
fn token_body(issued: &Issued, user: &User) -> Value {
    let mut obj = Map::new();
    obj.insert("access_token".into(), issued.access_token.clone().into());
    obj.insert("expire_token".into(), issued.expire_token.clone().into());
    obj.insert("expire_date".into(), issued.session.expire_date().into());
    if let Value::Object(u) = user.to_json() {
        obj.extend(u);
    }
    Value::Object(obj)
}

async fn auth(mut ctx: Ctx) -> HandlerResult {
    let body: Value = ctx.json(ctx.app.config.limits.max_json_bytes).await?;
    let creds = body
        .get("credentials")
        .ok_or_else(|| missing("credentials"))?;
    let email = creds
        .get("email")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("credentials.email"))?;
    let password = creds
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("credentials.password"))?;
    let (issued, user) = accounts::login(&ctx.app, email, password, ctx.peer.ip()).await?;
    Ok(json_response(StatusCode::OK, &token_body(&issued, &user)))
}

async fn refresh(mut ctx: Ctx) -> HandlerResult {
    let caller = accounts::authenticate(&ctx).await?;
    let bytes = ctx.body_bytes(ctx.app.config.limits.max_json_bytes).await?;
    let expire_token = if bytes.is_empty() {
        None
    } else {
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::structure(format!("request body is not valid JSON: {e}")))?;
        body.get("expire_token")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let expire_token = expire_token.ok_or(AccountsError::RefreshFieldMissing)?;
    let (issued, user) = accounts::session::refresh(
        &ctx.app.store,
        &ctx.app.config.auth,
        caller.user_id,
        &expire_token,
    )?;
    Ok(json_response(StatusCode::OK, &token_body(&issued, &user)))
}
