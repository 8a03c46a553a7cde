//! `POST /v1/face/liveness/detect`: one image (raw body, or a multipart part) ->
//! `{passed, score}` with `score` the attack probability from the installed passive model.

use super::input::{self, Expect, PartKind};
use super::{json, offload, serve};
use crate::http::router::{Ctx, HandlerResult};
use crate::lite::pipeline;

/// Multipart field names accepted for the image (exactly one such part per request).
const FIELDS: [(&str, PartKind); 3] = [
    ("sample", PartKind::Image),
    ("image", PartKind::Image),
    ("photo", PartKind::Image),
];

/// Raw body or multipart; see module doc.
pub async fn detect(ctx: Ctx) -> HandlerResult {
    serve(ctx, |mut ctx| async move {
        // A malformed request is the client's error whatever the server has installed: its
        // Content-Type is checked first (a wrong method never reaches this handler). Then,
        // before the body is read and decoded, the missing model is refused (503).
        let multipart = input::is_multipart(&ctx);
        if multipart {
            input::check_multipart_type(&ctx)?;
        } else {
            input::check_raw_image_type(&ctx)?;
        }
        pipeline::require_passive_model(&ctx.app.vision)?;
        let image = if multipart {
            let expect = Expect {
                fields: &FIELDS,
                max_parts: 8,
            };
            let parts = input::multipart(&mut ctx, &expect).await?;
            let mut images = parts.into_iter();
            match (images.next(), images.next()) {
                (Some(p), None) => p.data,
                (None, _) => {
                    return Err(crate::lite::error::LiteError::new(
                        crate::lite::error::Kind::Sample,
                        "no image part: send the image as part 'sample'",
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(crate::lite::error::LiteError::new(
                        crate::lite::error::Kind::Sample,
                        "more than one image part; liveness/detect takes one image",
                    ))
                }
            }
        } else {
            input::raw_image(&mut ctx).await?
        };
        let limit = ctx.app.config.limits.max_image_pixels;
        let min_face = ctx.app.config.vision.min_face_px;
        let threshold = ctx.app.config.thresholds.liveness;
        let score = offload(&ctx, move |engine| {
            pipeline::attack_score(engine, &image, limit, min_face)
        })
        .await?;
        Ok(json(serde_json::json!({
            "passed": score < threshold,
            "score": score,
        })))
    })
    .await
}
