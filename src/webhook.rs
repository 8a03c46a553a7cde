//! Webhook delivery (`resolution_endpoint`): a persisted outbox and a sender task.
//!
//! * When a group of analyses finishes, the worker that stored the last result puts the folder
//!   JSON (as `GET /api/folders/{id}/?with_analyses=true` renders it) into the outbox in the same
//!   transaction, so a notification is never lost, even by a crash right after.
//! * The sender (one tokio task) POSTs due deliveries as `application/json`, each in its own
//!   task, at most `webhooks.concurrency` at once, each bounded by `webhooks.timeout_secs`; a
//!   dead endpoint holds one slot, not the others' deliveries. A 2xx answer
//!   deletes the delivery; anything else schedules a retry after `initial_backoff_secs * 2^n`
//!   (capped at `max_backoff_secs`) until `give_up_after_hours` (default 48 h) have passed.
//! * Every attempt carries `X-Facelite-Delivery` (the delivery's id, a UUID fixed when it was
//!   queued and the same on every retry, so a receiver can drop duplicates) and
//!   `X-Facelite-Timestamp` (UNIX seconds when this attempt was sent).
//! * With `webhooks.secret` set, each attempt is signed: `X-Facelite-Signature: sha256=<hex of
//!   HMAC-SHA256(secret, "{timestamp}.{delivery_id}.{body}")>`, the two header values and the
//!   raw body joined by dots. Binding the timestamp and the id lets a receiver refuse replays:
//!   it recomputes the signature (constant-time compare), refuses a timestamp older than its
//!   tolerance (5 minutes suggested) and remembers the delivery ids it accepted for that long
//!   (README, "Webhook signatures"). A retry is signed afresh with its own timestamp.
//! * Memory stays bounded with a dead endpoint: due deliveries are found through a time index
//!   and only a batch of bodies is loaded; the outbox holds at most `max_pending` deliveries
//!   (the oldest is dropped, with a log line, beyond that).
//! * Transport: hyper's HTTP/1 client over a tokio TCP stream, wrapped in rustls (ring
//!   provider, Mozilla roots from the pure-Rust `webpki-roots` crate) for https://.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::analysis::model::{now_secs, OutboxRec};
use crate::analysis::repo::{self, FlowTable, RepoError};
use crate::app::App;
use crate::config::WebhooksConfig;

/// `<next_attempt_at as zero-padded millis>/<delivery_id>` -> empty: due deliveries in order.
pub const OUTBOX_DUE: FlowTable = TableDefinition::new("flow_webhook_due");

/// Header carrying the signature (with `webhooks.secret` set).
pub const SIGNATURE_HEADER: &str = "X-Facelite-Signature";
/// Header carrying the UNIX time (seconds) of the attempt.
pub const TIMESTAMP_HEADER: &str = "X-Facelite-Timestamp";
/// Header carrying the delivery id, stable across the retries of one notification.
pub const DELIVERY_HEADER: &str = "X-Facelite-Delivery";

fn due_key(at: f64, id: Uuid) -> String {
    format!("{:016}/{id}", (at.max(0.0) * 1000.0) as u64)
}

/// Queues a delivery inside the caller's transaction.
pub fn enqueue(
    txn: &WriteTransaction,
    cfg: &WebhooksConfig,
    url: &str,
    folder_id: Uuid,
    body: String,
) -> Result<(), RepoError> {
    let now = now_secs();
    let rec = OutboxRec {
        delivery_id: Uuid::new_v4(),
        url: url.to_string(),
        folder_id,
        body,
        created_at: now,
        next_attempt_at: now,
        attempts: 0,
        last_error: None,
    };
    // Bound the outbox: drop the earliest-due delivery when full.
    {
        let mut due = txn.open_table(OUTBOX_DUE)?;
        if due.len()? as usize >= cfg.max_pending.max(1) {
            let first = due.first()?.map(|(k, _)| k.value().to_string());
            if let Some(k) = first {
                due.remove(k.as_str())?;
                if let Some(id) = k.split('/').nth(1).and_then(|s| s.parse::<Uuid>().ok()) {
                    let mut t = txn.open_table(repo::OUTBOX)?;
                    t.remove(id.to_string().as_str())?;
                    eprintln!("facelite: webhook outbox full; dropped delivery {id}");
                }
            }
        }
        due.insert(
            due_key(rec.next_attempt_at, rec.delivery_id).as_str(),
            &[][..],
        )?;
    }
    repo::put_system(txn, &rec)
}

/// The signature header value of one attempt: `sha256=<hex HMAC-SHA256(secret,
/// "{timestamp}.{delivery}.{body}")>`.
pub fn signature(secret: &str, timestamp: u64, delivery: Uuid, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(format!("{timestamp}.{delivery}.").as_bytes());
    ctx.update(body);
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Current UNIX time, whole seconds (the `X-Facelite-Timestamp` of an attempt).
fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Delay before retry number `attempts` (1-based).
pub fn backoff_secs(cfg: &WebhooksConfig, attempts: u32) -> u64 {
    let exp = attempts.saturating_sub(1).min(30);
    cfg.initial_backoff_secs
        .max(1)
        .saturating_mul(1u64 << exp)
        .min(cfg.max_backoff_secs.max(1))
}

/// Deliveries being attempted right now, and the permits bounding them.
struct InFlight {
    ids: std::sync::Mutex<HashSet<Uuid>>,
    permits: Arc<Semaphore>,
}

impl InFlight {
    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sender task: delivers due notifications until the process ends. Each delivery runs in
/// its own task holding one of `webhooks.concurrency` permits, so a slow or dead endpoint
/// occupies one permit for its timeout instead of holding up every other receiver.
pub async fn run(app: Arc<App>) {
    if let Err(e) = ensure_table(&app) {
        eprintln!("facelite: webhook outbox unavailable: {e}");
        return;
    }
    let flight = Arc::new(InFlight {
        ids: std::sync::Mutex::new(HashSet::new()),
        permits: Arc::new(Semaphore::new(app.config.webhooks.concurrency.max(1))),
    });
    loop {
        let next = match dispatch_due(&app, &flight) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("facelite: webhook outbox error: {e}");
                Some(now_secs() + 5.0)
            }
        };
        let wait = next
            .map(|t| (t - now_secs()).clamp(0.05, 60.0))
            .unwrap_or(60.0);
        // A finished delivery wakes this loop too (a permit is free again).
        tokio::select! {
            _ = app.flow.webhook_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs_f64(wait)) => {}
        }
    }
}

fn ensure_table(app: &App) -> Result<(), RepoError> {
    let txn = crate::store::raw::db(&app.store).begin_write()?;
    txn.open_table(OUTBOX_DUE)?;
    txn.commit()?;
    Ok(())
}

/// Starts a task for every due delivery that is not already in flight, as far as permits
/// allow. Returns when the loop should look again: the next delivery's due time, or `None`
/// when nothing waits or every permit is taken (a finishing delivery wakes the loop).
fn dispatch_due(app: &Arc<App>, flight: &Arc<InFlight>) -> Result<Option<f64>, RepoError> {
    let free = flight.permits.available_permits();
    if free == 0 {
        return Ok(None);
    }
    let in_flight = flight.ids().clone();
    let (due, next) = due_batch(app, now_secs(), free, &in_flight)?;
    for rec in due {
        let Ok(permit) = flight.permits.clone().try_acquire_owned() else {
            break;
        };
        flight.ids().insert(rec.delivery_id);
        let app = app.clone();
        let flight = flight.clone();
        tokio::spawn(async move {
            let id = rec.delivery_id;
            let result = post(
                &app.config.webhooks,
                &rec.url,
                rec.delivery_id,
                rec.body.clone(),
            )
            .await;
            let app2 = app.clone();
            let stored =
                tokio::task::spawn_blocking(move || record_attempt(&app2, rec, result)).await;
            match stored {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("facelite: webhook outbox error: {e}"),
                Err(e) => eprintln!("facelite: webhook outbox task failed: {e}"),
            }
            flight.ids().remove(&id);
            drop(permit);
            app.flow.webhook_wake.notify_one();
        });
    }
    Ok(next)
}

/// Up to `n` due deliveries not in `skip`, and the due time of the next one left waiting.
fn due_batch(
    app: &App,
    now: f64,
    n: usize,
    skip: &HashSet<Uuid>,
) -> Result<(Vec<OutboxRec>, Option<f64>), RepoError> {
    let txn = crate::store::raw::db(&app.store).begin_read()?;
    let due = txn.open_table(OUTBOX_DUE)?;
    let outbox = txn.open_table(repo::OUTBOX)?;
    let mut out = Vec::new();
    let mut next = None;
    for row in due.iter()? {
        let (k, _) = row?;
        let key = k.value().to_string();
        let at = key
            .split('/')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .map(|ms| ms as f64 / 1000.0)
            .unwrap_or(0.0);
        let Some(id) = key.split('/').nth(1) else {
            continue;
        };
        if id.parse::<Uuid>().is_ok_and(|u| skip.contains(&u)) {
            continue;
        }
        if at > now {
            next = Some(at);
            break;
        }
        if out.len() >= n {
            // Every free permit is used; the finishing deliveries wake the loop.
            break;
        }
        if let Some(v) = outbox.get(id)? {
            if let Ok(rec) = serde_json::from_slice::<OutboxRec>(v.value()) {
                out.push(rec);
            }
        }
    }
    Ok((out, next))
}

fn record_attempt(
    app: &App,
    mut rec: OutboxRec,
    result: Result<u16, String>,
) -> Result<(), RepoError> {
    let cfg = &app.config.webhooks;
    let txn = crate::store::raw::db(&app.store).begin_write()?;
    {
        let mut due = txn.open_table(OUTBOX_DUE)?;
        due.remove(due_key(rec.next_attempt_at, rec.delivery_id).as_str())?;
    }
    // Dropped from a full outbox while it was being attempted: keep it dropped.
    let still_queued = txn
        .open_table(repo::OUTBOX)?
        .get(rec.delivery_id.to_string().as_str())?
        .is_some();
    if !still_queued {
        txn.commit()?;
        return Ok(());
    }
    rec.attempts += 1;
    let now = now_secs();
    match result {
        Ok(status) if (200..300).contains(&status) => {
            repo::delete_system::<OutboxRec>(&txn, rec.delivery_id)?;
            eprintln!(
                "facelite: webhook for folder {} delivered (attempt {})",
                rec.folder_id, rec.attempts
            );
        }
        other => {
            let err = match other {
                Ok(status) => format!("HTTP {status}"),
                Err(e) => e,
            };
            if now - rec.created_at > cfg.give_up_after_hours as f64 * 3600.0 {
                repo::delete_system::<OutboxRec>(&txn, rec.delivery_id)?;
                eprintln!(
                    "facelite: webhook for folder {} abandoned after {} attempts: {err}",
                    rec.folder_id, rec.attempts
                );
            } else {
                rec.next_attempt_at = now + backoff_secs(cfg, rec.attempts) as f64;
                rec.last_error = Some(err.clone());
                let mut due = txn.open_table(OUTBOX_DUE)?;
                due.insert(
                    due_key(rec.next_attempt_at, rec.delivery_id).as_str(),
                    &[][..],
                )?;
                drop(due);
                repo::put_system(&txn, &rec)?;
                eprintln!(
                    "facelite: webhook for folder {} failed (attempt {}): {err}; retry in {} s",
                    rec.folder_id,
                    rec.attempts,
                    backoff_secs(cfg, rec.attempts)
                );
            }
        }
    }
    txn.commit()?;
    Ok(())
}

/// POSTs one attempt of delivery `delivery` (with its timestamp, id and, when a secret is set,
/// signature headers); returns the HTTP status or a transport error.
pub async fn post(
    cfg: &WebhooksConfig,
    url: &str,
    delivery: Uuid,
    body: String,
) -> Result<u16, String> {
    let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
    match tokio::time::timeout(timeout, post_inner(cfg, url, delivery, body)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

/// Where a webhook URL points: what to connect to, and the request line and Host to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub https: bool,
    /// The host to connect to and to name in TLS, without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
    /// Path and query (`/` when the URL has none).
    pub path: String,
    /// The `Host` header value (the URL's authority, brackets kept).
    pub authority: String,
}

/// Parses a webhook URL. An IPv6 literal (`http://[::1]:8080/`) keeps its brackets in the
/// `Host` header but not in the address handed to connect or TLS, which would not resolve it.
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("only http:// and https:// endpoints are supported".into()),
    };
    let raw_host = uri.host().ok_or("URL has no host")?;
    let host = raw_host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(raw_host)
        .to_string();
    if host.is_empty() {
        return Err("URL has no host".into());
    }
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| raw_host.to_string());
    Ok(Endpoint {
        https,
        host,
        port,
        path,
        authority,
    })
}

async fn post_inner(
    cfg: &WebhooksConfig,
    url: &str,
    delivery: Uuid,
    body: String,
) -> Result<u16, String> {
    let Endpoint {
        https,
        host,
        port,
        path,
        authority,
    } = endpoint(url)?;
    let mut req = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header(http::header::HOST, authority.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("facelite/", env!("CARGO_PKG_VERSION")),
        );
    let timestamp = unix_secs();
    req = req
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(DELIVERY_HEADER, delivery.to_string());
    if let Some(secret) = &cfg.secret {
        req = req.header(
            SIGNATURE_HEADER,
            signature(secret, timestamp, delivery, body.as_bytes()),
        );
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    if https {
        let tls = tls_connector()?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("bad TLS server name {host}: {e}"))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}: {e}"))?;
        send(hyper_util::rt::TokioIo::new(stream), req).await
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), req).await
    }
}

async fn send<T>(io: T, req: http::Request<Full<Bytes>>) -> Result<u16, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    let status = resp.status().as_u16();
    // Drain (bounded) so the connection closes cleanly; the body itself is ignored.
    let _ = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await;
    Ok(status)
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let cfg = WebhooksConfig::default();
        assert_eq!(backoff_secs(&cfg, 1), 5);
        assert_eq!(backoff_secs(&cfg, 2), 10);
        assert_eq!(backoff_secs(&cfg, 4), 40);
        assert_eq!(backoff_secs(&cfg, 40), 3600);
        // 48 h of retries at the cap: far more than the 24 h the contract requires.
        assert!(cfg.give_up_after_hours >= 24);
    }

    #[test]
    fn endpoints_parse_and_ipv6_literals_lose_their_brackets() {
        let e = endpoint("http://[::1]:8080/hook?x=1").expect("ipv6");
        assert_eq!(e.host, "::1");
        assert_eq!(e.port, 8080);
        assert_eq!(e.authority, "[::1]:8080");
        assert_eq!(e.path, "/hook?x=1");
        assert!(!e.https);
        let e = endpoint("https://[2001:db8::5]/").expect("ipv6 https");
        assert_eq!(
            (e.host.as_str(), e.port, e.https),
            ("2001:db8::5", 443, true)
        );
        assert!(rustls::pki_types::ServerName::try_from(e.host).is_ok());
        let e = endpoint("http://127.0.0.1:9").expect("ipv4");
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 9, "/")
        );
        let e = endpoint("https://hooks.example.com/a").expect("name");
        assert_eq!((e.host.as_str(), e.port), ("hooks.example.com", 443));
        assert!(endpoint("ftp://example.com/").is_err());
        assert!(endpoint("not a url").is_err());
    }

    #[tokio::test]
    async fn posts_reach_an_ipv6_literal_endpoint() {
        let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
            // No IPv6 loopback on this machine: the parsing test above still covers it.
            return;
        };
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                .await
                .expect("write");
            String::from_utf8_lossy(&got).to_string()
        });
        let cfg = WebhooksConfig::default();
        let id = Uuid::new_v4();
        let status = post(&cfg, &format!("http://[::1]:{port}/hook"), id, "{}".into()).await;
        assert_eq!(status, Ok(204));
        let head = server.await.expect("server");
        assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
        let lower = head.to_ascii_lowercase();
        assert!(lower.contains(&format!("host: [::1]:{port}")), "{head}");
        assert!(
            lower.contains(&format!("x-facelite-delivery: {id}")),
            "{head}"
        );
        assert!(lower.contains("x-facelite-timestamp: "), "{head}");
        // No secret configured: no signature.
        assert!(!lower.contains("x-facelite-signature"), "{head}");
    }

    #[test]
    fn signature_is_hmac_sha256_hex_of_timestamp_id_and_body() {
        let id: Uuid = "0b6c1f5e-8a1d-4c1e-9f3a-2d4b5c6d7e8f"
            .parse()
            .expect("uuid");
        let s = signature("Jefe", 1_700_000_000, id, b"{\"a\":1}");
        // Computed independently, as the README's receiver does:
        // hmac.new(b"Jefe", b'1700000000.0b6c1f5e-8a1d-4c1e-9f3a-2d4b5c6d7e8f.{"a":1}',
        //          hashlib.sha256).hexdigest()
        assert_eq!(
            s,
            "sha256=688cdea7e52a3a29295f1937c58dd6e50388499fbe25c4302b00a5994e6a5542"
        );
        // Another timestamp or delivery gives another signature: an old one cannot be reused.
        assert_ne!(s, signature("Jefe", 1_700_000_001, id, b"{\"a\":1}"));
        assert_ne!(
            s,
            signature("Jefe", 1_700_000_000, Uuid::new_v4(), b"{\"a\":1}")
        );
    }
}
