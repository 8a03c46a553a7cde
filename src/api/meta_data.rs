//! The `meta_data` sub-resources of the Oz API for folders, media and analyses:
//! GET (all keys), POST (replace the whole object), PATCH (merge keys), DELETE (clear).

use http::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::accounts::tenant::Scope;
use crate::analysis::access::{OwnedRecord, ScopedFlow};
use crate::analysis::model::{now_secs, AnalysisRec, FolderRec, MediaRec};
use crate::api::error::ApiError;
use crate::api::folders::{json_resp, parse_id, require_writer, scoped};
use crate::app::App;
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, Route};
use crate::meta_change::MetaChange;

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    let mut r = Vec::new();
    for (pattern, get, post, patch, del) in [
        (
            "/api/folders/{id}/meta_data",
            handler!(get_folder),
            handler!(post_folder),
            handler!(patch_folder),
            handler!(delete_folder),
        ),
        (
            "/api/media/{id}/meta_data",
            handler!(get_media),
            handler!(post_media),
            handler!(patch_media),
            handler!(delete_media),
        ),
        (
            "/api/analyses/{id}/meta_data",
            handler!(get_analysis),
            handler!(post_analysis),
            handler!(patch_analysis),
            handler!(delete_analysis),
        ),
    ] {
        r.push(Route::new(Method::GET, pattern, get));
        r.push(Route::new(Method::POST, pattern, post));
        r.push(Route::new(Method::PATCH, pattern, patch));
        r.push(Route::new(Method::DELETE, pattern, del));
    }
    r
}

/// A record with a `meta_data` object.
trait HasMeta: OwnedRecord + Send + 'static {
    fn meta(&mut self) -> &mut Value;
    fn touch(&mut self, t: f64);
}

impl HasMeta for FolderRec {
    fn meta(&mut self) -> &mut Value {
        &mut self.meta_data
    }
    fn touch(&mut self, t: f64) {
        self.time_updated = t;
    }
}
impl HasMeta for MediaRec {
    fn meta(&mut self) -> &mut Value {
        &mut self.meta_data
    }
    fn touch(&mut self, t: f64) {
        self.time_updated = t;
    }
}
impl HasMeta for AnalysisRec {
    fn meta(&mut self) -> &mut Value {
        &mut self.meta_data
    }
    fn touch(&mut self, t: f64) {
        self.time_updated = t;
    }
}

#[derive(Clone, Copy)]
enum Op {
    Get,
    Replace,
    Merge,
    Clear,
}

async fn handle<T: HasMeta>(mut ctx: Ctx, op: Op) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id: Uuid = parse_id(ctx.param(0)?, T::WHAT)?;
    let app = ctx.app.clone();
    let scope = Scope::of(&p);
    let mut rec: T = scoped(&app, &p).get(id)?;
    if let Op::Get = op {
        return Ok(json_resp(StatusCode::OK, rec.meta()));
    }
    require_writer(&p)?;
    let change = if let Op::Clear = op {
        MetaChange::Clear
    } else {
        let v: Value = ctx.json(app.config.limits.max_json_bytes).await?;
        let Value::Object(m) = v else {
            return Err(ApiError::structure("meta_data must be a JSON object"));
        };
        if let Op::Merge = op {
            MetaChange::Merge(m)
        } else {
            MetaChange::Replace(m)
        }
    };
    let out = tokio::task::spawn_blocking(move || update::<T>(&app, scope, id, change))
        .await
        .map_err(|_| ApiError::internal("update task failed"))??;
    Ok(json_resp(StatusCode::OK, &out))
}

fn update<T: HasMeta>(
    app: &App,
    scope: Scope,
    id: Uuid,
    change: MetaChange,
) -> Result<Value, ApiError> {
    ScopedFlow::new(&app.store, scope).write(|w| {
        let mut rec: T = w.get(id)?;
        change.apply(rec.meta());
        rec.touch(now_secs());
        w.put(&rec)?;
        Ok::<_, ApiError>(rec.meta().clone())
    })
}

async fn get_folder(ctx: Ctx) -> HandlerResult {
    handle::<FolderRec>(ctx, Op::Get).await
}
async fn post_folder(ctx: Ctx) -> HandlerResult {
    handle::<FolderRec>(ctx, Op::Replace).await
}
async fn patch_folder(ctx: Ctx) -> HandlerResult {
    handle::<FolderRec>(ctx, Op::Merge).await
}
async fn delete_folder(ctx: Ctx) -> HandlerResult {
    handle::<FolderRec>(ctx, Op::Clear).await
}
async fn get_media(ctx: Ctx) -> HandlerResult {
    handle::<MediaRec>(ctx, Op::Get).await
}
async fn post_media(ctx: Ctx) -> HandlerResult {
    handle::<MediaRec>(ctx, Op::Replace).await
}
async fn patch_media(ctx: Ctx) -> HandlerResult {
    handle::<MediaRec>(ctx, Op::Merge).await
}
async fn delete_media(ctx: Ctx) -> HandlerResult {
    handle::<MediaRec>(ctx, Op::Clear).await
}
async fn get_analysis(ctx: Ctx) -> HandlerResult {
    handle::<AnalysisRec>(ctx, Op::Get).await
}
async fn post_analysis(ctx: Ctx) -> HandlerResult {
    handle::<AnalysisRec>(ctx, Op::Replace).await
}
async fn patch_analysis(ctx: Ctx) -> HandlerResult {
    handle::<AnalysisRec>(ctx, Op::Merge).await
}
async fn delete_analysis(ctx: Ctx) -> HandlerResult {
    handle::<AnalysisRec>(ctx, Op::Clear).await
}
