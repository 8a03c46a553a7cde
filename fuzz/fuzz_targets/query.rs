//! Request targets: the path through the router (`http::router::Router::find` over every route
//! of `api::routes()`, with its percent-decoding of path parameters) and the query string
//! (`http::router::parse_query`, then what the list endpoints read from a `Ctx`:
//! `api::list_query::ListQuery::parse`, `num`, `api::analyses::id_set`, and the list's
//! `matches` / `sort_and_page` / `answer` over a few records).
//!
//! Input: `path?query` (UTF-8; no `?` = query only).
#![no_main]

use std::sync::OnceLock;

use facelite::api::list_query::{num, ListQuery};
use facelite::http::router::{parse_query, Match, Router};
use facelite_fuzz::http::{serve_one, Request};
use libfuzzer_sys::{fuzz_target, Corpus};
use serde_json::json;

fn router() -> &'static Router {
    static R: OnceLock<Router> = OnceLock::new();
    R.get_or_init(|| Router::new(facelite::api::routes()))
}

fuzz_target!(init: { facelite_fuzz::init(); facelite_fuzz::app::app(); }, |data: &[u8]| -> Corpus {
    let Ok(text) = std::str::from_utf8(data) else {
        return Corpus::Reject;
    };
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, q),
        None => ("/api/folders/", text),
    };
    for method in [http::Method::GET, http::Method::POST, http::Method::DELETE] {
        if let Match::Found(route, params) = router().find(&method, path) {
            let holes = route.pattern.matches('{').count();
            assert_eq!(params.len(), holes, "{} captured {:?}", route.pattern, params);
        }
    }
    let pairs = parse_query(Some(query));
    let req = Request {
        method: "GET",
        target: "/api/folders/",
        headers: Vec::new(),
        body: b"",
        chunk: 0,
    };
    serve_one(&req, |parts, body| async move {
        let ctx = facelite_fuzz::app::ctx(parts, body, "/api/folders/", pairs);
        let _ = num::<usize>(&ctx, "limit");
        let _ = num::<f64>(&ctx, "time_created.min");
        let _ = facelite::api::analyses::id_set(&ctx, "folder_id");
        let Ok(q) = ListQuery::parse(&ctx) else {
            return;
        };
        assert!(q.limit <= ctx.app.config.limits.max_list_limit);
        let records = [
            (1.0e9, 1.0e9, json!({})),
            (1.5e9, 1.6e9, json!({"a": "b", "n": 1, "x": {"y": "z"}, "a.b": true})),
            (f64::MAX, 0.0, json!({"k": null})),
        ];
        let kept: Vec<usize> = (0..records.len())
            .filter(|&i| q.matches(records[i].0, records[i].1, &records[i].2))
            .collect();
        let (page, total) = q.sort_and_page(kept.clone(), |&i| (records[i].0, records[i].1));
        assert_eq!(total, kept.len());
        assert!(page.len() <= q.limit);
        let answer = q.answer(page.iter().map(|&i| json!(i)).collect(), total);
        assert!(answer["items"].is_array());
    });
    Corpus::Keep
});
