//! Method + path-segment routing. Each resource family in `src/api/` contributes a list of
//! [`Route`]s; the router matches them, answers 404 (code 10) for unknown paths and 405 (code 1)
//! for a known path with the wrong method, and gives the access log a path *template* so that
//! ids and tokens never reach the log.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use crate::api::error::ApiError;
use crate::app::App;

/// Every response body is buffered: the largest responses are stored media files, which are
/// bounded by the upload limits.
pub type RespBody = Full<Bytes>;

/// What a handler returns.
pub type HandlerResult = Result<Response<RespBody>, ApiError>;

/// A boxed handler future; handlers are plain `async fn(Ctx) -> HandlerResult`.
pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;

/// A handler function pointer.
pub type Handler = fn(Ctx) -> HandlerFuture;

/// One route: a method, a pattern such as `/api/folders/{id}/analyses` (segments in braces
/// capture, in order, into [`Ctx::params`]) and its handler. Trailing slashes are ignored.
#[derive(Clone)]
pub struct Route {
    pub method: Method,
    pub pattern: &'static str,
    pub handler: Handler,
}

impl Route {
    /// Declares a route.
    pub fn new(method: Method, pattern: &'static str, handler: Handler) -> Self {
        Route {
            method,
            pattern,
            handler,
        }
    }
}

/// Turns `async fn f(ctx: Ctx) -> HandlerResult` into a [`Handler`]:
/// `Route::new(Method::GET, "/x", handler!(f))`.
#[macro_export]
macro_rules! handler {
    ($f:path) => {{
        fn h(ctx: $crate::http::router::Ctx) -> $crate::http::router::HandlerFuture {
            Box::pin($f(ctx))
        }
        h as $crate::http::router::Handler
    }};
}

/// Everything a handler may use about its request.
pub struct Ctx {
    pub app: Arc<App>,
    pub method: Method,
    /// The matched route's pattern, for logs and errors.
    pub template: &'static str,
    /// Captured path segments, in pattern order (percent-decoded).
    pub params: Vec<String>,
    /// Query parameters in order; a key may repeat.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub peer: SocketAddr,
    body: Option<Incoming>,
}

impl Ctx {
    /// Builds a context (used by the server once a route matched).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        app: Arc<App>,
        method: Method,
        template: &'static str,
        params: Vec<String>,
        query: Vec<(String, String)>,
        headers: HeaderMap,
        peer: SocketAddr,
        body: Incoming,
    ) -> Self {
        Ctx {
            app,
            method,
            template,
            params,
            query,
            headers,
            peer,
            body: Some(body),
        }
    }

    /// Path parameter `i` (0-based), or a 404 when missing (cannot happen for a matched route).
    pub fn param(&self, i: usize) -> Result<&str, ApiError> {
        self.params
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| ApiError::not_found("missing path parameter"))
    }

    /// First value of query parameter `key`.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A request header as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Takes the raw body stream (once). Callers that stream (multipart uploads) use this and
    /// must enforce their own limits; everyone else uses [`Ctx::body_bytes`].
    pub fn take_body(&mut self) -> Result<Incoming, ApiError> {
        self.body
            .take()
            .ok_or_else(|| ApiError::internal("request body already consumed"))
    }

    /// Reads the whole body, refusing with 413 once it exceeds `limit` bytes.
    pub async fn body_bytes(&mut self, limit: usize) -> Result<Bytes, ApiError> {
        let body = self.take_body()?;
        match Limited::new(body, limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Err(ApiError::too_large(format!(
                        "request body exceeds the limit of {limit} bytes"
                    )))
                } else {
                    Err(ApiError::structure(format!(
                        "could not read request body: {e}"
                    )))
                }
            }
        }
    }

    /// Reads and parses a JSON body (limit `limit` bytes). A malformed body is a code-3 error
    /// that says where parsing failed.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &mut self,
        limit: usize,
    ) -> Result<T, ApiError> {
        let bytes = self.body_bytes(limit).await?;
        if bytes.is_empty() {
            return Err(ApiError::structure(
                "request body is empty; a JSON object was expected",
            ));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::structure(format!("request body is not valid JSON: {e}")))
    }
}

/// Result of matching a request against the route table.
pub enum Match<'a> {
    /// A route matched; captured params are percent-decoded.
    Found(&'a Route, Vec<String>),
    /// The path exists but not for this method; carries a template for the log.
    WrongMethod(&'static str),
    /// No route has this path.
    NotFound,
}

/// The route table, built once at start.
pub struct Router {
    /// Routes grouped by segment count for a cheap first filter.
    by_len: HashMap<usize, Vec<(Vec<&'static str>, Route)>>,
}

impl Router {
    /// Builds the table from every family's routes.
    pub fn new(routes: Vec<Route>) -> Self {
        let mut by_len: HashMap<usize, Vec<(Vec<&'static str>, Route)>> = HashMap::new();
        for r in routes {
            let segs = split(r.pattern);
            by_len.entry(segs.len()).or_default().push((segs, r));
        }
        Router { by_len }
    }

    /// Matches a method and raw path (without query).
    pub fn find(&self, method: &Method, path: &str) -> Match<'_> {
        let segs = split(path);
        let Some(candidates) = self.by_len.get(&segs.len()) else {
            return Match::NotFound;
        };
        let mut wrong_method = None;
        for (pat, route) in candidates {
            let Some(params) = match_segments(pat, &segs) else {
                continue;
            };
            // HEAD is served by GET routes (hyper drops the body).
            if route.method == *method || (*method == Method::HEAD && route.method == Method::GET) {
                return Match::Found(route, params);
            }
            wrong_method = Some(route.pattern);
        }
        match wrong_method {
            Some(t) => Match::WrongMethod(t),
            None => Match::NotFound,
        }
    }
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn match_segments(pattern: &[&str], segs: &[&str]) -> Option<Vec<String>> {
    let mut params = Vec::new();
    for (p, s) in pattern.iter().zip(segs) {
        if p.starts_with('{') && p.ends_with('}') {
            params.push(percent_decode(s)?);
        } else if p != s {
            return None;
        }
    }
    Some(params)
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8 or an escape is malformed.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a query string into ordered pairs (form-urlencoded rules).
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn dummy(_ctx: Ctx) -> HandlerResult {
        Err(ApiError::internal("unused"))
    }

    #[test]
    fn matches_with_and_without_trailing_slash_and_reports_wrong_method() {
        let r = Router::new(vec![
            Route::new(Method::GET, "/api/folders/{id}/analyses", handler!(dummy)),
            Route::new(Method::POST, "/api/folders/", handler!(dummy)),
        ]);
        match r.find(&Method::GET, "/api/folders/abc%2D1/analyses/") {
            Match::Found(route, params) => {
                assert_eq!(route.pattern, "/api/folders/{id}/analyses");
                assert_eq!(params, vec!["abc-1".to_string()]);
            }
            _ => panic!("expected a match"),
        }
        assert!(matches!(
            r.find(&Method::POST, "/api/folders"),
            Match::Found(..)
        ));
        assert!(matches!(
            r.find(&Method::DELETE, "/api/folders"),
            Match::WrongMethod("/api/folders/")
        ));
        assert!(matches!(
            r.find(&Method::GET, "/api/nothing"),
            Match::NotFound
        ));
        assert!(matches!(
            r.find(&Method::GET, "/api/folders/%zz/analyses"),
            Match::NotFound
        ));
    }
}
