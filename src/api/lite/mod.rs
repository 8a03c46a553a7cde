//! Oz API Lite: synchronous biometry and liveness on `/version` and
//! `/v1/face/...`, nothing stored. Every Lite route answers through [`serve`], which applies
//! `lite.enabled`, the token rule and the Lite error body; the work itself is in
//! [`crate::lite`] so it can run (and be measured) without HTTP.
//!
//! Wrong methods on Lite paths get the Lite error (`BPE-002002`/`LDE-002002`, 405) rather than
//! the router's Oz 405: every other method is registered to [`wrong_method`].

mod biometry;
mod info;
pub mod input;
mod liveness;

use std::future::Future;
use std::sync::Arc;

use http::{Method, Response};

use crate::api::error::ApiError;
use crate::handler;
use crate::http::router::{Ctx, Handler, HandlerResult, RespBody, Route};
use crate::lite::error::{Family, Kind, LiteError};
use crate::vision::Engine;

/// The Lite routes, each with its wrong-method twins.
pub fn routes() -> Vec<Route> {
    let served: [(Method, &'static str, Handler); 11] = [
        (Method::GET, "/version", handler!(info::version)),
        (
            Method::GET,
            "/v1/face/pattern/health",
            handler!(info::pattern_health),
        ),
        (
            Method::GET,
            "/v1/face/liveness/health",
            handler!(info::liveness_health),
        ),
        (
            Method::POST,
            "/v1/face/pattern/extract",
            handler!(biometry::extract),
        ),
        (
            Method::POST,
            "/v1/face/pattern/compare",
            handler!(biometry::compare),
        ),
        (
            Method::POST,
            "/v1/face/pattern/verify",
            handler!(biometry::verify),
        ),
        (
            Method::POST,
            "/v1/face/pattern/extract_and_compare",
            handler!(biometry::extract_and_compare),
        ),
        (
            Method::POST,
            "/v1/face/pattern/compare_n",
            handler!(biometry::compare_n),
        ),
        (
            Method::POST,
            "/v1/face/pattern/verify_n",
            handler!(biometry::verify_n),
        ),
        (
            Method::POST,
            "/v1/face/pattern/extract_and_compare_n",
            handler!(biometry::extract_and_compare_n),
        ),
        (
            Method::POST,
            "/v1/face/liveness/detect",
            handler!(liveness::detect),
        ),
    ];
    let all = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::HEAD,
    ];
    let mut r = Vec::new();
    for (method, pattern, h) in served {
        r.push(Route::new(method.clone(), pattern, h));
        for other in &all {
            // HEAD is answered by GET routes in the router.
            if *other == method || (*other == Method::HEAD && method == Method::GET) {
                continue;
            }
            r.push(Route::new(other.clone(), pattern, handler!(wrong_method)));
        }
    }
    r
}

/// The code family of a Lite path.
fn family_of(template: &str) -> Family {
    if template.starts_with("/v1/face/liveness") {
        Family::Liveness
    } else {
        Family::Biometry
    }
}

/// Runs a Lite handler body: 404 (as for any unknown path) when Lite is switched off, the
/// token check when one is required, and every failure rendered as a Lite error of the
/// route's family.
async fn serve<F, Fut>(ctx: Ctx, f: F) -> HandlerResult
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<Response<RespBody>, LiteError>>,
{
    if !ctx.app.config.lite.enabled {
        return Err(ApiError::not_found(
            "Oz API Lite is disabled on this server (lite.enabled = false)",
        ));
    }
    let family = family_of(ctx.template);
    if let Err(e) = check_token(&ctx).await {
        return Ok(e.in_family(family).into_response());
    }
    match f(ctx).await {
        Ok(resp) => Ok(resp),
        Err(e) => Ok(e.in_family(family).into_response()),
    }
}

/// Whether Lite routes need an access token: `lite.require_token` when set, otherwise only
/// when the server listens beyond loopback (a kiosk's localhost needs none).
pub fn token_required(config: &crate::config::Config) -> bool {
    config
        .lite
        .require_token
        .unwrap_or(!config.server.listen.ip().is_loopback())
}

async fn check_token(ctx: &Ctx) -> Result<(), LiteError> {
    if !token_required(&ctx.app.config) {
        return Ok(());
    }
    match crate::accounts::authenticate(ctx).await {
        Ok(_) => Ok(()),
        Err(e) => Err(LiteError::new(Kind::Auth, e.message)
            .with_status(e.status)
            .with_details(serde_json::json!({ "oz_error_code": e.code as i64 }))),
    }
}

/// Any method a Lite path does not serve.
async fn wrong_method(ctx: Ctx) -> HandlerResult {
    let method = ctx.method.clone();
    let template = ctx.template;
    serve(ctx, |_| async move {
        Err(LiteError::new(
            Kind::Method,
            format!("{template} does not accept {method}"),
        ))
    })
    .await
}

/// Runs decoding and inference through the shared inference gate (`App::inference`).
async fn offload<T, F>(ctx: &Ctx, f: F) -> Result<T, LiteError>
where
    F: FnOnce(&Engine) -> Result<T, LiteError> + Send + 'static,
    T: Send + 'static,
{
    let engine = Arc::clone(&ctx.app.vision);
    ctx.app
        .inference
        .run(move || f(&engine))
        .await
        .map_err(|e| LiteError::new(Kind::Internal, e))?
}

/// A JSON 200 response.
fn json(value: serde_json::Value) -> Response<RespBody> {
    let mut resp = Response::new(RespBody::from(value.to_string()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::router::{Match, Router};

    #[test]
    fn every_lite_path_answers_every_method() {
        let router = Router::new(routes());
        for m in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            for p in [
                "/version",
                "/v1/face/pattern/verify/",
                "/v1/face/liveness/detect",
            ] {
                assert!(matches!(router.find(&m, p), Match::Found(..)), "{m} {p}");
            }
        }
        assert_eq!(family_of("/v1/face/liveness/detect"), Family::Liveness);
        assert_eq!(family_of("/v1/face/pattern/verify"), Family::Biometry);
    }

    #[test]
    fn token_only_off_loopback_by_default() {
        let mut c = crate::config::Config::default();
        assert!(!token_required(&c));
        c.server.listen = "0.0.0.0:8080".parse().unwrap();
        assert!(token_required(&c));
        c.lite.require_token = Some(false);
        assert!(!token_required(&c));
        c.server.listen = "[::1]:8080".parse().unwrap();
        c.lite.require_token = Some(true);
        assert!(token_required(&c));
    }
}
