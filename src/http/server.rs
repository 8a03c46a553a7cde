//! The hyper server: accept loop with connection slots and deadlines (see `conn.rs`), optional
//! TLS, HTTP/1.1 keep-alive and HTTP/2, body-size check, panic containment, one access-log
//! line per request, and graceful shutdown on SIGTERM/SIGINT.

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
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use crate::api::error::ApiError;
use crate::app::App;
use crate::http::body::{ReqBody, RespBody};
use crate::http::conn::{Deadlines, Refused, Slots, Watched};
use crate::http::router::{parse_query, Ctx, Match, Router};

/// Streams one HTTP/2 connection may have open at once.
const HTTP2_MAX_STREAMS: u32 = 32;

/// Logs refused connections at most once per interval, so a flood cannot flood the log.
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    since: u64,
}

impl RefusalLog {
    fn note(&mut self, peer: SocketAddr, share: usize) {
        self.since += 1;
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            return;
        }
        eprintln!(
            "facelite: refused {} connection(s), latest from {}: an address may hold {share} at once (server.max_connections_per_client)",
            self.since,
            peer.ip()
        );
        self.last = Some(Instant::now());
        self.since = 0;
    }
}

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
    let deadlines = Deadlines {
        first_request: header_timeout,
        keep_alive: Duration::from_secs(cfg.keep_alive_secs.max(1)),
        send_stall: Duration::from_secs(cfg.send_stall_secs.max(1)),
    };
    let chunk_timeout = Duration::from_secs(cfg.body_chunk_timeout_secs.max(1));
    let slots = Slots::new(cfg.max_connections, cfg.max_connections_per_client);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .keep_alive_interval(Some(deadlines.keep_alive))
        .keep_alive_timeout(deadlines.send_stall);
    let builder = Arc::new(builder);
    let mut refusals = RefusalLog::default();

    loop {
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
        // Past the cap, an idle connection makes room or this waits for a slot (clients queue
        // in the backlog meanwhile); an address over its share is closed at once.
        let slot = tokio::select! {
            s = slots.admit(peer.ip()) => match s {
                Ok(s) => s,
                Err(Refused::ClientShare) => {
                    refusals.note(peer, cfg.max_connections_per_client);
                    drop(stream);
                    continue;
                }
            },
            _ = shutdown.notified() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let router = router.clone();
        let conn_state = slot.state.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let app = app.clone();
            let router = router.clone();
            let busy = conn_state.begin();
            async move {
                let req = req.map(|b| ReqBody::new(b, chunk_timeout));
                let resp = handle(app, router, peer, max_body, req).await;
                let (parts, body) = resp.into_parts();
                let body = body.with_guard(busy.into_send_guard());
                Ok::<_, Infallible>(Response::from_parts(parts, body))
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let state = slot.state.clone();
            let io = Watched::new(stream, state.clone());
            let why = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(io), service);
                    tokio::select! {
                        _ = watcher.watch(conn.into_owned()) => None,
                        why = state.watchdog(deadlines) => Some(why),
                    }
                }
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(header_timeout, acceptor.accept(io));
                    match handshake.await {
                        Ok(Ok(tls_stream)) => {
                            let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                            tokio::select! {
                                _ = watcher.watch(conn.into_owned()) => None,
                                why = state.watchdog(deadlines) => Some(why),
                            }
                        }
                        Ok(Err(e)) => {
                            eprintln!("facelite: TLS handshake with {peer} failed: {e}");
                            None
                        }
                        Err(_) => Some("TLS handshake timed out"),
                    }
                }
            };
            if let Some(why) = why {
                if why != "idle keep-alive" {
                    eprintln!("facelite: closed a connection from {peer}: {why}");
                }
            }
            drop(slot);
        });
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
    req: Request<ReqBody>,
) -> Response<RespBody> {
    let found = router.find(req.method(), req.uri().path());
    let mut log = AccessLine {
        started: Instant::now(),
        method: req.method().clone(),
        template: match &found {
            Match::Found(route, _) => route.pattern,
            Match::WrongMethod(t) => t,
            Match::NotFound => "<unknown>",
        },
        status: None,
    };
    let resp = dispatch(app, found, peer, max_body, req).await;
    log.status = Some(resp.status().as_u16());
    resp
}

/// The access-log line of one request, written when the request ends, also when the client
/// hung up before the answer (status 499, as nginx logs it).
struct AccessLine {
    started: Instant,
    method: Method,
    template: &'static str,
    status: Option<u16>,
}

impl Drop for AccessLine {
    fn drop(&mut self) {
        match self.status {
            Some(status) => eprintln!(
                "facelite: {} {} {} {}ms",
                self.method,
                self.template,
                status,
                self.started.elapsed().as_millis()
            ),
            None => eprintln!(
                "facelite: {} {} 499 {}ms (client closed the connection)",
                self.method,
                self.template,
                self.started.elapsed().as_millis()
            ),
        }
    }
}

/// Answers one request whose route `found` was matched by the caller.
async fn dispatch(
    app: Arc<App>,
    found: Match<'_>,
    peer: SocketAddr,
    max_body: u64,
    req: Request<ReqBody>,
) -> Response<RespBody> {
    let (parts, body) = req.into_parts();
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
            return e.into_response();
        }
    }
    let (route, params) = match found {
        Match::Found(route, params) => (route.clone(), params),
        Match::WrongMethod(t) => {
            let e = ApiError::method_not_allowed(format!(
                "method {} is not allowed on {}",
                parts.method, t
            ));
            return e.into_response();
        }
        Match::NotFound => {
            let e = ApiError::not_found(format!("no such resource: {}", parts.uri.path()));
            return e.into_response();
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
    if parts.method == Method::HEAD {
        let (p, _) = resp.into_parts();
        Response::from_parts(p, RespBody::default())
    } else {
        resp
    }
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
