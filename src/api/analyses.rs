//! Analyses: start on a folder (JSON array answer), read one, list a folder's
//! with filters, delete. Also the request validation and job submission that single request
//! and instant mode reuse.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::principal::Principal;
use crate::accounts::tenant::Scope;
use crate::analysis::access::ScopedFlow;
use crate::analysis::model::{
    now_secs, AnalysisRec, AnalysisType, FolderRec, MediaRec, Resolution, State,
};
use crate::analysis::queue::{Reservation, Task};
use crate::analysis::verdicts;
use crate::analysis::view::{self, Files};
use crate::api::error::ApiError;
use crate::api::folders::{
    base_url, delete_output_files, json_resp, parse_id, require_deleter, require_writer, scoped,
};
use crate::api::list_query::ListQuery;
use crate::app::App;
use crate::config::Config;
use crate::handler;
use crate::http::router::{Ctx, HandlerResult, Route};

/// Routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/api/folders/{id}/analyses", handler!(start)),
        Route::new(Method::GET, "/api/folders/{id}/analyses", handler!(list)),
        Route::new(Method::GET, "/api/analyses", handler!(list_all)),
        Route::new(Method::GET, "/api/analyses/{id}", handler!(get_one)),
        Route::new(Method::DELETE, "/api/analyses/{id}", handler!(delete)),
    ]
}

/// One validated analysis request.
#[derive(Debug, Clone)]
pub struct AnalysisRequest {
    pub kind: AnalysisType,
    pub source_media: Vec<Uuid>,
    pub params: Value,
    pub meta_data: Value,
}

/// Validates an `analyses` array against the folder's media and the caller's rights.
pub fn parse_requests(
    v: &Value,
    folder_media: &[Uuid],
    p: &Principal,
    config: &Config,
) -> Result<Vec<AnalysisRequest>, ApiError> {
    let Value::Array(items) = v else {
        return Err(ApiError::structure("`analyses` must be an array"));
    };
    if items.is_empty() {
        return Err(ApiError::structure(
            "`analyses` is empty; name at least one analysis, e.g. {\"type\": \"quality\"}",
        ));
    }
    if items.len() > config.limits.max_analyses_per_request {
        return Err(ApiError::too_large(format!(
            "at most {} analyses per request",
            config.limits.max_analyses_per_request
        )));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(ApiError::structure(format!(
                "analyses[{i}] must be an object"
            )));
        };
        let t = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::structure(format!("analyses[{i}].type is missing")))?;
        let kind = AnalysisType::parse(t).ok_or_else(|| {
            ApiError::value(format!(
                "analyses[{i}].type {t:?} is unknown; use quality (liveness), biometry or collection"
            ))
        })?;
        match kind {
            AnalysisType::Documents => {
                return Err(ApiError::not_realized(
                    "documents (OCR) analyses are not implemented by facelite",
                ))
            }
            AnalysisType::Collection if !p.can_start_analysis_collection => {
                return Err(ApiError::forbidden(
                    "this account may not start collection analyses",
                ))
            }
            AnalysisType::Quality if !p.can_start_analysis_quality => {
                return Err(ApiError::forbidden(
                    "this account may not start quality analyses",
                ))
            }
            AnalysisType::Biometry if !p.can_start_analysis_biometry => {
                return Err(ApiError::forbidden(
                    "this account may not start biometry analyses",
                ))
            }
            _ => {}
        }
        let mut source_media = Vec::new();
        let sm = obj
            .get("source_media")
            .or_else(|| obj.get("params").and_then(|p| p.get("source_media")));
        match sm {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for s in list {
                    let id = s
                        .as_str()
                        .or_else(|| s.get("media_id").and_then(Value::as_str))
                        .and_then(|s| s.parse::<Uuid>().ok())
                        .ok_or_else(|| {
                            ApiError::value(format!(
                                "analyses[{i}].source_media must list media ids (UUID strings)"
                            ))
                        })?;
                    if !folder_media.contains(&id) {
                        return Err(ApiError::value(format!(
                            "analyses[{i}].source_media names media {id}, which is not in this folder"
                        )));
                    }
                    source_media.push(id);
                }
            }
            Some(_) => {
                return Err(ApiError::structure(format!(
                    "analyses[{i}].source_media must be an array of media ids"
                )))
            }
        }
        let params = match obj.get("params") {
            None | Some(Value::Null) => json!({}),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(ApiError::structure(format!(
                    "analyses[{i}].params must be an object"
                )))
            }
        };
        // Per-analysis threshold overrides are only a guess of the vendor material (spec
        // 2.6, [U]); verdict thresholds are the operator's (config `thresholds.*`). A request
        // that tries to override one is refused rather than silently judged otherwise.
        if matches!(kind, AnalysisType::Quality | AnalysisType::Biometry) {
            if let Some(key) = params.as_object().and_then(|o| {
                o.keys()
                    .find(|k| k.to_ascii_lowercase().contains("threshold"))
            }) {
                return Err(ApiError::value(format!(
                    "analyses[{i}].params.{key}: {} thresholds cannot be overridden per request; \
                     they are set by the server operator (config thresholds.*)",
                    kind.as_str()
                )));
            }
        }
        if let Some(b) = params.get("extract_best_shot") {
            if !b.is_boolean() {
                return Err(ApiError::value(format!(
                    "analyses[{i}].params.extract_best_shot must be true or false"
                )));
            }
        }
        let meta_data = match obj.get("meta_data") {
            None | Some(Value::Null) => json!({}),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(ApiError::structure(format!(
                    "analyses[{i}].meta_data must be an object"
                )))
            }
        };
        out.push(AnalysisRequest {
            kind,
            source_media,
            params,
            meta_data,
        });
    }
    Ok(out)
}

/// New PROCESSING analyses for a folder, all in one group.
pub fn build(
    folder: &FolderRec,
    reqs: &[AnalysisRequest],
    endpoint: Option<String>,
    now: f64,
) -> Vec<AnalysisRec> {
    let group = Uuid::new_v4();
    let endpoint = endpoint.or_else(|| folder.resolution_endpoint.clone());
    reqs.iter()
        .map(|r| AnalysisRec {
            analysis_id: Uuid::new_v4(),
            folder_id: folder.folder_id,
            company_id: folder.company_id,
            group_id: group,
            analysis_type: r.kind,
            state: State::Processing,
            resolution_status: Resolution::Processing,
            requested_media: r.source_media.clone(),
            source_media: r.source_media.clone(),
            params: r.params.clone(),
            meta_data: r.meta_data.clone(),
            results_data: json!({}),
            results_media: Vec::new(),
            error_message: None,
            resolution_endpoint: endpoint.clone(),
            time_created: now,
            time_updated: now,
            time_finished: None,
        })
        .collect()
}

/// Registers completion waits (before the jobs are pushed, so none is missed).
pub fn register_waits(app: &App, ids: &[Uuid]) -> Vec<tokio::sync::oneshot::Receiver<()>> {
    ids.iter()
        .map(|id| app.flow.waiters.register(*id))
        .collect()
}

/// Hands committed jobs to the workers.
pub fn push(reservation: Reservation<'_>, ids: &[Uuid]) {
    reservation.push(ids.iter().map(|id| Task::Stored(*id)).collect());
}

/// Waits for registered analyses, at most `analysis.sync_timeout_secs`.
pub async fn wait(app: &App, waits: Vec<tokio::sync::oneshot::Receiver<()>>) {
    let limit = std::time::Duration::from_secs(app.config.analysis.sync_timeout_secs.max(1));
    let _ = tokio::time::timeout(limit, futures_util::future::join_all(waits)).await;
}

/// `POST /api/folders/{id}/analyses/` `{"analyses": [...], "resolution_endpoint"?}`.
async fn start(mut ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    require_writer(&p)?;
    let id = parse_id(ctx.param(0)?, "folder")?;
    let app = ctx.app.clone();
    let folder: FolderRec = scoped(&app, &p).get(id)?;
    let body: Value = ctx.json(app.config.limits.max_json_bytes).await?;
    let reqs = parse_requests(
        body.get("analyses").unwrap_or(&Value::Null),
        &folder.media_ids,
        &p,
        &app.config,
    )?;
    let endpoint = match body.get("resolution_endpoint") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(crate::upload::check_endpoint(s)?),
        Some(_) => {
            return Err(ApiError::structure(
                "resolution_endpoint must be a URL string",
            ))
        }
    };
    if folder.analysis_ids.len() + reqs.len() > app.config.limits.max_analyses_per_folder {
        return Err(ApiError::too_large(format!(
            "a folder holds at most {} analyses",
            app.config.limits.max_analyses_per_folder
        )));
    }
    let app2 = app.clone();
    let scope = Scope::of(&p);
    let max_analyses = app.config.limits.max_analyses_per_folder;
    // Reserve, commit and hand the jobs to the workers in one blocking task: it runs to its end
    // even when the client hangs up and this request's future is dropped, so a committed job
    // never waits for a restart (reconciliation would find it anyway).
    let created = tokio::task::spawn_blocking(move || -> Result<Vec<AnalysisRec>, ApiError> {
        let reservation = app2
            .flow
            .queue
            .reserve(reqs.len())
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let now = now_secs();
        let flow = ScopedFlow::new(&app2.store, scope);
        let list = flow.write(|w| {
            let mut f: FolderRec = w.get(id)?;
            // Again inside the transaction: a concurrent request may have added analyses.
            if f.analysis_ids.len() + reqs.len() > max_analyses {
                return Err(ApiError::too_large(format!(
                    "a folder holds at most {max_analyses} analyses"
                )));
            }
            let list = build(&f, &reqs, endpoint, now);
            w.insert_analyses(&list, now)?;
            f.analysis_ids.extend(list.iter().map(|a| a.analysis_id));
            f.resolution_status = Resolution::Processing;
            f.system_resolution = Resolution::Processing;
            f.time_updated = now;
            w.put(&f)?;
            Ok::<_, ApiError>(list)
        })?;
        let ids: Vec<Uuid> = list.iter().map(|a| a.analysis_id).collect();
        push(reservation, &ids);
        Ok(list)
    })
    .await
    .map_err(|_| ApiError::internal("analysis task failed"))??;
    let media: Vec<MediaRec> = scoped(&app, &p).media_of(&folder)?;
    let idx = crate::analysis::jobs::media_index(&media);
    let base = base_url(&ctx);
    let files = Files::Linked { base: &base };
    let arr: Vec<Value> = created
        .iter()
        .map(|a| view::analysis_json(a, &idx, &files))
        .collect();
    Ok(json_resp(StatusCode::CREATED, &Value::Array(arr)))
}

fn render(
    flow: &ScopedFlow<'_>,
    ctx: &Ctx,
    list: &[AnalysisRec],
    folder: &FolderRec,
) -> Result<Vec<Value>, ApiError> {
    let media: Vec<MediaRec> = flow.media_of(folder)?;
    let idx = crate::analysis::jobs::media_index(&media);
    let base = base_url(ctx);
    let files = Files::Linked { base: &base };
    Ok(list
        .iter()
        .map(|a| view::analysis_json(a, &idx, &files))
        .collect())
}

/// `GET /api/analyses/{id}`: one analysis (clients poll it).
async fn get_one(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "analysis")?;
    let flow = scoped(&ctx.app, &p);
    let a: AnalysisRec = flow.get(id)?;
    let folder: FolderRec = flow.get(a.folder_id)?;
    let mut v = render(&flow, &ctx, std::slice::from_ref(&a), &folder)?;
    Ok(json_resp(StatusCode::OK, &v.pop().unwrap_or(Value::Null)))
}

/// `GET /api/folders/{id}/analyses/` with `analyse_id`, `type`, `state` filters (and their
/// `.exclude` forms; comma lists). `state` matches the state or the resolution status.
async fn list(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "folder")?;
    let flow = scoped(&ctx.app, &p);
    let folder: FolderRec = flow.get(id)?;
    let filter = AnalysisFilter::parse(&ctx);
    let list: Vec<AnalysisRec> = flow
        .analyses_of(&folder)?
        .into_iter()
        .filter(|a| filter.matches(a))
        .collect();
    let arr = render(&flow, &ctx, &list, &folder)?;
    Ok(json_resp(StatusCode::OK, &Value::Array(arr)))
}

/// `GET /api/analyses/`: the analyses of every folder the caller may see, with the filters of
/// the folder analyses list plus `folder_id`, the shared list parameters (paging, sorting,
/// time windows, `meta_data` on the analysis' metadata), answered as `{"items", "total"}`.
async fn list_all(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let flow = scoped(&ctx.app, &p);
    let q = ListQuery::parse(&ctx)?;
    let filter = AnalysisFilter::parse(&ctx);
    let mut folders = HashMap::new();
    let mut matched = Vec::new();
    for f in folders_asked(&ctx, &flow)? {
        for a in flow.analyses_of(&f)? {
            if filter.matches(&a) && q.matches(a.time_created, a.time_updated, &a.meta_data) {
                matched.push(a);
            }
        }
        folders.insert(f.folder_id, f);
    }
    let (page, total) = q.sort_and_page(matched, |a| (a.time_created, a.time_updated));
    let mut items = Vec::new();
    for a in &page {
        let Some(folder) = folders.get(&a.folder_id) else {
            continue;
        };
        items.extend(render(&flow, &ctx, std::slice::from_ref(a), folder)?);
    }
    Ok(json_resp(StatusCode::OK, &q.answer(items, total)))
}

/// The caller's folders, limited to the `folder_id` query values when there are any.
pub fn folders_asked(ctx: &Ctx, flow: &ScopedFlow<'_>) -> Result<Vec<FolderRec>, ApiError> {
    let only = id_set(ctx, "folder_id")?;
    let mut folders = flow.folders()?;
    if let Some(ids) = only {
        folders.retain(|f| ids.contains(&f.folder_id));
    }
    Ok(folders)
}

/// A query parameter holding UUIDs (repeatable, comma lists); `None` when absent.
pub fn id_set(ctx: &Ctx, key: &str) -> Result<Option<HashSet<Uuid>>, ApiError> {
    let mut out = HashSet::new();
    let mut any = false;
    for (k, v) in &ctx.query {
        if k != key {
            continue;
        }
        any = true;
        for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            out.insert(s.parse().map_err(|_| {
                ApiError::value(format!("query parameter {key}: {s:?} is not a UUID"))
            })?);
        }
    }
    Ok(any.then_some(out))
}

/// The Oz API's analysis filters: `analyse_id`, `type`, `state` and their `.exclude`
/// forms (comma lists, any case). `state` matches the state or the resolution status.
struct AnalysisFilter {
    ids: Option<HashSet<String>>,
    ids_ex: Option<HashSet<String>>,
    types: Option<HashSet<String>>,
    types_ex: Option<HashSet<String>>,
    states: Option<HashSet<String>>,
    states_ex: Option<HashSet<String>>,
}

impl AnalysisFilter {
    fn parse(ctx: &Ctx) -> AnalysisFilter {
        let set = |k: &str| -> Option<HashSet<String>> {
            let vals: Vec<&str> = ctx
                .query
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect();
            if vals.is_empty() {
                return None;
            }
            Some(
                vals.iter()
                    .flat_map(|v| v.split(','))
                    .map(|s| s.trim().to_ascii_uppercase())
                    .filter(|s| !s.is_empty())
                    .collect(),
            )
        };
        let norm_types = |s: Option<HashSet<String>>| {
            s.map(|s| {
                s.iter()
                    .map(|t| {
                        AnalysisType::parse(t)
                            .map(|k| k.as_str().to_string())
                            .unwrap_or_else(|| t.clone())
                    })
                    .collect::<HashSet<String>>()
            })
        };
        AnalysisFilter {
            ids: set("analyse_id").or_else(|| set("analysis_id")),
            ids_ex: set("analyse_id.exclude").or_else(|| set("analysis_id.exclude")),
            types: norm_types(set("type")),
            types_ex: norm_types(set("type.exclude")),
            states: set("state"),
            states_ex: set("state.exclude"),
        }
    }

    fn matches(&self, a: &AnalysisRec) -> bool {
        let id = a.analysis_id.to_string().to_ascii_uppercase();
        let kind = a.analysis_type.as_str().to_string();
        let st = serde_json::to_value(a.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let states = [st, a.resolution_status.as_str().to_string()];
        let has_state = |s: &HashSet<String>| states.iter().any(|n| s.contains(n));
        self.ids.as_ref().is_none_or(|s| s.contains(&id))
            && self.ids_ex.as_ref().is_none_or(|s| !s.contains(&id))
            && self.types.as_ref().is_none_or(|s| s.contains(&kind))
            && self.types_ex.as_ref().is_none_or(|s| !s.contains(&kind))
            && self.states.as_ref().is_none_or(has_state)
            && self.states_ex.as_ref().is_none_or(|s| !has_state(s))
    }
}

/// `DELETE /api/analyses/{id}`: removes the analysis (and its best shots); a running one is
/// dropped when its worker finishes.
async fn delete(ctx: Ctx) -> HandlerResult {
    let p = crate::accounts::authenticate(&ctx).await?;
    let id = parse_id(ctx.param(0)?, "analysis")?;
    scoped(&ctx.app, &p).get::<AnalysisRec>(id)?;
    require_deleter(&p)?;
    let app: Arc<App> = ctx.app.clone();
    let scope = Scope::of(&p);
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let flow = ScopedFlow::new(&app.store, scope);
        let rels = flow.write(|w| {
            let Some(a) = w.delete_analysis(id)? else {
                return Err(ApiError::not_found(format!("analysis {id} not found")));
            };
            let rels = delete_output_files(w, &a)?;
            if let Some(mut f) = w.find::<FolderRec>(a.folder_id)? {
                f.analysis_ids.retain(|x| *x != id);
                let mut rest = Vec::new();
                for aid in &f.analysis_ids {
                    if let Some(x) = w.find::<AnalysisRec>(*aid)? {
                        rest.push(x);
                    }
                }
                let (rs, sr) = verdicts::folder(&rest);
                f.resolution_status = rs;
                f.system_resolution = sr;
                f.time_updated = now_secs();
                w.put(&f)?;
            }
            Ok(rels)
        })?;
        for r in rels {
            app.flow.files.remove(&r);
        }
        Ok(())
    })
    .await
    .map_err(|_| ApiError::internal("delete task failed"))??;
    Ok(json_resp(
        StatusCode::OK,
        &json!({"analysis_id": id, "deleted": true}),
    ))
}
