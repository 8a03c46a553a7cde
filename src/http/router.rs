//! Method + path-segment routing. Each resource family in `src/api/` contributes a list of
//! [`Route`]s; the router matches them, answers 404 (code 10) for unknown paths and 405 (code 1)
//! for a known path with the wrong method, and gives the access log a path *template* so that
//! ids and tokens never reach the log.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Response};
use hyper::body::Body;
use tokio::io::AsyncWriteExt;

use crate::api::error::ApiError;
use crate::app::App;

pub use crate::http::body::{ReqBody, RespBody};

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
    body: Option<ReqBody>,
    /// Memory charged for this request's buffers, released when the handler is done.
    charges: Vec<crate::memory::Charge>,
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
        body: ReqBody,
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
            charges: Vec::new(),
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
    pub fn take_body(&mut self) -> Result<ReqBody, ApiError> {
        self.body
            .take()
            .ok_or_else(|| ApiError::internal("request body already consumed"))
    }

    /// Reads the whole body, refusing with 413 once it exceeds `limit` bytes and with 408 when
    /// it stalls. A body announced larger than [`SPOOL_ABOVE`] streams to a staging file while
    /// it arrives (a slow or stalled upload holds disk, not memory) and is read back once
    /// complete. Held bytes are charged to the memory budget (503 when it cannot hold them
    /// within a few seconds); the charge is kept with this context, so it lasts as long as the
    /// handler that holds the bytes.
    pub async fn body_bytes(&mut self, limit: usize) -> Result<Bytes, ApiError> {
        let mut body = self.take_body()?;
        let what = "the request body";
        let too_large =
            || ApiError::too_large(format!("request body exceeds the limit of {limit} bytes"));
        let announced = self
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if announced > limit as u64 {
            return Err(too_large());
        }
        if announced > SPOOL_ABOVE {
            let staged = Staged(self.app.flow.files.staging_path());
            let mut file = tokio::fs::File::create(&staged.0)
                .await
                .map_err(spool_error)?;
            let mut len = 0usize;
            while let Some(data) = next_data(&mut body).await? {
                len += data.len();
                if len > limit {
                    return Err(too_large());
                }
                file.write_all(&data).await.map_err(spool_error)?;
            }
            file.flush().await.map_err(spool_error)?;
            drop(file);
            let charge = charge_async(len as u64, what).await?;
            let bytes = tokio::fs::read(&staged.0).await.map_err(spool_error)?;
            self.charges.push(charge);
            return Ok(Bytes::from(bytes));
        }
        let mut charge = charge_async(announced, what).await?;
        let mut buf = BytesMut::with_capacity(announced as usize);
        while let Some(data) = next_data(&mut body).await? {
            if buf.len() + data.len() > limit {
                return Err(too_large());
            }
            let need = (buf.len() + data.len()) as u64;
            if need > charge.bytes() {
                // Grow in steps of a megabyte so small bodies cost one charge.
                let step = need.div_ceil(1 << 20) << 20;
                charge.grow_to(step.min(limit as u64).max(need), what)?;
            }
            buf.extend_from_slice(&data);
        }
        self.charges.push(charge);
        Ok(buf.freeze())
    }

    /// Keeps `charge` for as long as this request is handled (memory held by the handler).
    pub fn hold(&mut self, charge: crate::memory::Charge) {
        self.charges.push(charge);
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

/// How long a request body waits for room in the memory budget before it is refused (503).
const BODY_MEMORY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Bodies announced larger than this stream to a staging file before they are held in memory.
pub const SPOOL_ABOVE: u64 = 256 * 1024;

/// A staging file removed when dropped (the body was read back, or the request failed).
struct Staged(std::path::PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spool_error(e: std::io::Error) -> ApiError {
    eprintln!("facelite: cannot stage a request body: {e}");
    ApiError::internal("cannot stage the request body; see the server log")
}

/// The next data chunk of a request body; `None` at its end.
async fn next_data(body: &mut ReqBody) -> Result<Option<Bytes>, ApiError> {
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await;
        let Some(frame) = frame else {
            return Ok(None);
        };
        let frame = frame.map_err(|e| match e {
            crate::http::body::BodyError::Stalled(_) => ApiError::timeout(e.to_string()),
            other => ApiError::structure(format!("could not read request body: {other}")),
        })?;
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
}

/// Charges `bytes` against the process's budget, waiting up to [`BODY_MEMORY_WAIT`].
async fn charge_async(bytes: u64, what: &str) -> Result<crate::memory::Charge, ApiError> {
    match crate::memory::global() {
        Some(b) => Ok(b.charge(bytes, BODY_MEMORY_WAIT, what).await?),
        None => Ok(crate::memory::Charge::free()),
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
