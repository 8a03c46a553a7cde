//! The list machinery the flow's list endpoints share: `offset`/`limit` paging,
//! `sorting` on `time_created`/`time_updated`, the `.min`/`.max` time windows, `meta_data`
//! `key==value` / `key!=value` filters, `total_omit`, and the `{"items": [...], "total": n}`
//! answer. Folders, media and the cross-folder analyses list use it alike.

use serde_json::{json, Map, Value};

use crate::api::error::ApiError;
use crate::http::router::Ctx;

/// Paging, sorting, time windows and metadata filters of a list request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub offset: usize,
    pub limit: usize,
    sort_updated: bool,
    sort_desc: bool,
    created: (f64, f64),
    updated: (f64, f64),
    meta: Vec<(String, bool, String)>,
    total_omit: bool,
}

/// Parses a numeric query parameter; absent or empty = `None`.
pub fn num<T: std::str::FromStr>(ctx: &Ctx, key: &str) -> Result<Option<T>, ApiError> {
    match ctx.query_value(key) {
        None | Some("") => Ok(None),
        Some(v) => {
            v.trim().parse().map(Some).map_err(|_| {
                ApiError::value(format!("query parameter {key}={v:?} is not a number"))
            })
        }
    }
}

fn flag(ctx: &Ctx, key: &str) -> bool {
    ctx.query_value(key)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

impl ListQuery {
    /// Reads the shared list parameters of a request (limit capped by `limits.max_list_limit`).
    pub fn parse(ctx: &Ctx) -> Result<ListQuery, ApiError> {
        let limits = &ctx.app.config.limits;
        let limit = num::<usize>(ctx, "limit")?
            .unwrap_or(100)
            .min(limits.max_list_limit);
        let offset = num::<usize>(ctx, "offset")?.unwrap_or(0);
        let (sort_updated, sort_desc) = match ctx.query_value("sorting").map(str::trim) {
            None | Some("") => (false, true),
            Some("time_created{asc}") | Some("time_created") => (false, false),
            Some("time_created{desc}") | Some("-time_created") => (false, true),
            Some("time_updated{asc}") | Some("time_updated") => (true, false),
            Some("time_updated{desc}") | Some("-time_updated") => (true, true),
            Some(other) => {
                return Err(ApiError::value(format!(
                    "sorting={other:?} is not supported; use time_created{{asc|desc}} or time_updated{{asc|desc}}"
                )))
            }
        };
        let window = |lo: &str, hi: &str| -> Result<(f64, f64), ApiError> {
            Ok((
                num::<f64>(ctx, lo)?.unwrap_or(f64::NEG_INFINITY),
                num::<f64>(ctx, hi)?.unwrap_or(f64::INFINITY),
            ))
        };
        let mut meta = Vec::new();
        for (k, v) in &ctx.query {
            if k != "meta_data" {
                continue;
            }
            let (key, eq, val) = if let Some((a, b)) = v.split_once("!=") {
                (a, false, b)
            } else if let Some((a, b)) = v.split_once("==") {
                (a, true, b)
            } else {
                return Err(ApiError::value(format!(
                    "meta_data={v:?}: use key==value or key!=value"
                )));
            };
            meta.push((key.trim().to_string(), eq, val.trim().to_string()));
        }
        Ok(ListQuery {
            offset,
            limit,
            sort_updated,
            sort_desc,
            created: window("time_created.min", "time_created.max")?,
            updated: window("time_updated.min", "time_updated.max")?,
            meta,
            total_omit: flag(ctx, "total_omit"),
        })
    }

    /// Whether an object with these timestamps and metadata passes the windows and filters.
    pub fn matches(&self, time_created: f64, time_updated: f64, meta_data: &Value) -> bool {
        let within = |t: f64, (lo, hi): (f64, f64)| t >= lo && t <= hi;
        if !within(time_created, self.created) || !within(time_updated, self.updated) {
            return false;
        }
        self.meta.iter().all(|(key, eq, val)| {
            let found = lookup(meta_data, key).map(as_text);
            match (found, eq) {
                (Some(t), true) => t == *val,
                (None, true) => false,
                (Some(t), false) => t != *val,
                (None, false) => true,
            }
        })
    }

    /// Sorts `items` as asked (`time_created` descending by default) and returns the page
    /// with the number of items before paging.
    pub fn sort_and_page<T>(
        &self,
        mut items: Vec<T>,
        times: impl Fn(&T) -> (f64, f64),
    ) -> (Vec<T>, usize) {
        let key = |t: &T| {
            let (created, updated) = times(t);
            if self.sort_updated {
                updated
            } else {
                created
            }
        };
        items.sort_by(|a, b| {
            let o = key(a).total_cmp(&key(b));
            if self.sort_desc {
                o.reverse()
            } else {
                o
            }
        });
        let total = items.len();
        let page = items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect();
        (page, total)
    }

    /// The list answer `{"items": [...], "total": n}` (`total` left out with `total_omit`).
    pub fn answer(&self, items: Vec<Value>, total: usize) -> Value {
        let mut out = Map::new();
        out.insert("items".into(), Value::Array(items));
        if !self.total_omit {
            out.insert("total".into(), json!(total));
        }
        Value::Object(out)
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
