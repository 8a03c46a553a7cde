//! The hyper server: accept loop with a connection cap, optional TLS, HTTP/1.1 keep-alive and
//! HTTP/2, header-read timeout (slowloris guard), body-size check, panic containment, one
//! access-log line per request, and graceful shutdown on SIGTERM/SIGINT.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::api::error::ApiError;
use crate::app::App;
use crate::http::router::{parse_query, Ctx, Match, RespBody, Router};

/// What the accept loop needs besides the application.
pub struct ServerParts {
    pub app: Arc<App>,
    pub router: Arc<Router>,
    pub listener: TcpListener,
    pub tls: Option<TlsAcceptor>,
}

/// Serves until `shutdown` is notified, then stops accepting and gives in-flight requests
/// `shutdown_grace_secs` to finish.
pub async fn serve(parts: ServerParts, shutdown: Arc<Notify>) {
    let ServerParts {
        app,
        router,
        listener,
        tls,
    } = parts;
    let cfg = app.config.server.clone();
    let max_body = app.config.limits.max_body_bytes as u64;
    let header_timeout = Duration::from_secs(cfg.header_read_timeout_secs.max(1));
    let permits = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);

    loop {
        // Wait for a connection slot first: past the cap, clients queue in the backlog.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.notified() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("facelite: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.notified() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let router = router.clone();
        let service = service_fn(move |req| {
            let app = app.clone();
            let router = router.clone();
            async move { Ok::<_, Infallible>(handle(app, router, peer, max_body, req).await) }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        match &tls {
            None => {
                tokio::spawn(async move {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                            let _ = watcher.watch(conn.into_owned()).await;
                        }
                        Ok(Err(e)) => eprintln!("facelite: TLS handshake with {peer} failed: {e}"),
                        Err(_) => eprintln!("facelite: TLS handshake with {peer} timed out"),
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    let grace = Duration::from_secs(cfg.shutdown_grace_secs);
    eprintln!(
        "facelite: stopped accepting; waiting up to {}s for {} open connection(s)",
        grace.as_secs(),
        graceful.count()
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("facelite: grace period over; closing remaining connections");
    }
}

/// Routes one request, contains panics and writes the access-log line.
async fn handle(
    app: Arc<App>,
    router: Arc<Router>,
    peer: SocketAddr,
    max_body: u64,
    req: Request<Incoming>,
) -> Response<RespBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let (template, resp) = dispatch(app, &router, peer, max_body, req).await;
    eprintln!(
        "facelite: {} {} {} {}ms",
        method,
        template,
        resp.status().as_u16(),
        started.elapsed().as_millis()
    );
    resp
}

async fn dispatch(
    app: Arc<App>,
    router: &Router,
    peer: SocketAddr,
    max_body: u64,
    req: Request<Incoming>,
) -> (&'static str, Response<RespBody>) {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let found = router.find(&parts.method, &path);
    let template = match &found {
        Match::Found(route, _) => route.pattern,
        Match::WrongMethod(t) => t,
        Match::NotFound => "<unknown>",
    };
    // Refuse an announced oversize body before reading a byte of it, whatever the route.
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > max_body {
            let e = ApiError::too_large(format!(
                "request body of {len} bytes exceeds the limit of {max_body} bytes"
            ));
            return (template, e.into_response());
        }
    }
    let (route, params) = match found {
        Match::Found(route, params) => (route.clone(), params),
        Match::WrongMethod(t) => {
            let e = ApiError::method_not_allowed(format!(
                "method {} is not allowed on {}",
                parts.method, t
            ));
            return (t, e.into_response());
        }
        Match::NotFound => {
            let e = ApiError::not_found(format!("no such resource: {path}"));
            return (template, e.into_response());
        }
    };
    let ctx = Ctx::new(
        app,
        parts.method.clone(),
        route.pattern,
        params,
        parse_query(parts.uri.query()),
        parts.headers,
        peer,
        body,
    );
    let fut = (route.handler)(ctx);
    let resp = match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => e.into_response(),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            eprintln!(
                "facelite: BUG: handler for {} {} panicked: {what}",
                parts.method, route.pattern
            );
            ApiError::internal("internal error; the incident was logged").into_response()
        }
    };
    let resp = if parts.method == Method::HEAD {
        let (p, _) = resp.into_parts();
        Response::from_parts(p, RespBody::default())
    } else {
        resp
    };
    (route.pattern, resp)
}

/// An empty `204 No Content` answer (successful deletes).
pub fn no_content() -> Response<RespBody> {
    let mut resp = Response::new(RespBody::default());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// Builds a JSON response with the given status.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<RespBody> {
    let mut resp = Response::new(RespBody::from(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}
