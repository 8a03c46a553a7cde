//! Operational endpoints: the liveness probe for load balancers and systemd checks.

use http::{Method, StatusCode};

use crate::handler;
use crate::http::json_response;
use crate::http::router::{Ctx, HandlerResult, Route};

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/healthz", handler!(healthz))]
}

/// `GET /healthz`: answers 200 once the server accepts requests (models loaded, store open).
async fn healthz(ctx: Ctx) -> HandlerResult {
    let _ = &ctx.app;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    ))
}
