//! `GET /version` and the two health checks.

use super::{json, serve};
use crate::http::router::{Ctx, HandlerResult};
use crate::lite::pipeline;

/// `GET /version`: `core` = facelite's version, `tfss` = the vision engine's version, and
/// every loaded model with its version and sha256 so results can be tied to weights.
pub async fn version(ctx: Ctx) -> HandlerResult {
    serve(ctx, |ctx| async move {
        let engine = &ctx.app.vision;
        let models: Vec<serde_json::Value> = engine
            .models()
            .into_iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name,
                    "version": m.version,
                    "sha256": m.sha256,
                    "kind": m.kind.as_str(),
                })
            })
            .collect();
        Ok(json(serde_json::json!({
            "core": env!("CARGO_PKG_VERSION"),
            "tfss": pipeline::engine_version(engine),
            "models": models,
        })))
    })
    .await
}

/// `GET /v1/face/pattern/health`: 0 when the detector and embedder are loaded (the server
/// does not start without them, so a running server answers 0 with the embedder's name).
pub async fn pattern_health(ctx: Ctx) -> HandlerResult {
    serve(ctx, |ctx| async move {
        let (status, message) = pipeline::pattern_health(&ctx.app.vision);
        Ok(json(
            serde_json::json!({ "status": status, "message": message }),
        ))
    })
    .await
}

/// `GET /v1/face/liveness/health`: 0 only when a passive liveness model is installed, since
/// without one `liveness/detect` cannot answer; 3 with a message saying so otherwise.
pub async fn liveness_health(ctx: Ctx) -> HandlerResult {
    serve(ctx, |ctx| async move {
        let (status, message) = pipeline::liveness_health(&ctx.app.vision);
        Ok(json(
            serde_json::json!({ "status": status, "message": message }),
        ))
    })
    .await
}
