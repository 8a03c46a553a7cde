//! Webhook signatures resist replay: each attempt carries `X-Facelite-Timestamp`,
//! `X-Facelite-Delivery` (stable across retries) and `X-Facelite-Signature: sha256=<hex
//! HMAC-SHA256(secret, "{timestamp}.{delivery}.{body}")>`. A receiver on a loopback socket
//! verifies every request exactly as the README tells receivers to, answers 500 to the first
//! and 200 to the retry; replays of what it got are then refused.

mod common;
mod flow_support;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{data, TestServer};
use flow_support::{company_user, form, Received, Receiver};
use serde_json::{json, Value};

const SECRET: &str = "replay-test-secret";
/// The receiver's tolerance for the timestamp (the README suggests 5 minutes).
const TOLERANCE: u64 = 300;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Authentic and new: process it, then remember its delivery id.
    Fresh,
    /// Authentic, but this delivery was processed already: answer 2xx, do nothing.
    Duplicate,
    /// Refuse (4xx): unsigned, wrongly signed, or outside the time tolerance.
    Reject(&'static str),
}

/// The README's receiver algorithm: recompute the HMAC over "{timestamp}.{delivery}.{body}",
/// compare in constant time, refuse stale timestamps, de-duplicate by delivery id.
fn verify(r: &Received, now: u64, seen: &HashMap<String, u64>) -> Verdict {
    let (Some(ts), Some(delivery), Some(sig)) = (
        r.header("x-facelite-timestamp"),
        r.header("x-facelite-delivery"),
        r.header("x-facelite-signature"),
    ) else {
        return Verdict::Reject("missing header");
    };
    let Ok(ts_n) = ts.parse::<u64>() else {
        return Verdict::Reject("bad timestamp");
    };
    if now.abs_diff(ts_n) > TOLERANCE {
        return Verdict::Reject("stale timestamp");
    }
    let Some(tag) = sig.strip_prefix("sha256=").and_then(unhex) else {
        return Verdict::Reject("bad signature format");
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let mut msg = format!("{ts}.{delivery}.").into_bytes();
    msg.extend_from_slice(&r.body);
    if ring::hmac::verify(&key, &msg, &tag).is_err() {
        return Verdict::Reject("signature mismatch");
    }
    if seen.contains_key(delivery) {
        return Verdict::Duplicate;
    }
    Verdict::Fresh
}

#[test]
fn deliveries_are_signed_over_timestamp_and_id_and_replays_are_refused() {
    let srv = TestServer::start_with(
        &[
            ("FACELITE_WEBHOOKS_SECRET", SECRET),
            ("FACELITE_WEBHOOKS_INITIAL_BACKOFF_SECS", "1"),
        ],
        &[],
    );
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "replay", "CLIENT");
    let rx = Receiver::start(vec![500, 200]);
    let f = form(
        &[
            ("a", "a.jpg", &data("obama.jpg"), &[]),
            ("b", "b.jpg", &data("obama2.jpg"), &[]),
        ],
        json!({"resolution_endpoint": rx.url("/hook"), "analyses": [{"type": "biometry"}]}),
    );
    let r = srv.post_multipart("/api/folders/", Some(&t), &f);
    assert_eq!(r.status, 201, "{}", r.text());
    let fid = r.json()["folder_id"].as_str().expect("id").to_string();
    let got = rx.wait_for(2, 90);
    assert_eq!(got.len(), 2, "a failed attempt and its retry: {got:?}");
    let (first, retry) = (&got[0], &got[1]);
    assert_eq!((first.answered, retry.answered), (500, 200));

    // The receiver's side, attempt by attempt.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let now = unix_now();
    // The first attempt is authentic and new; the receiver answered 500 (it did not process
    // it), so it does not remember the id.
    assert_eq!(verify(first, now, &seen), Verdict::Fresh);
    // The retry: the same delivery id, its own later timestamp, a signature of its own.
    let id = first.header("x-facelite-delivery").expect("delivery id");
    assert!(id.parse::<uuid::Uuid>().is_ok(), "{id}");
    assert_eq!(retry.header("x-facelite-delivery"), Some(id));
    let ts = |r: &Received| -> u64 {
        r.header("x-facelite-timestamp")
            .and_then(|v| v.parse().ok())
            .expect("timestamp")
    };
    assert!(ts(retry) > ts(first), "{} then {}", ts(first), ts(retry));
    assert!(
        now.abs_diff(ts(retry)) <= 60,
        "the timestamp is the attempt's"
    );
    assert_ne!(
        first.header("x-facelite-signature"),
        retry.header("x-facelite-signature")
    );
    assert_eq!(
        first.body, retry.body,
        "the body is fixed when the group ends"
    );
    assert_eq!(verify(retry, now, &seen), Verdict::Fresh);
    seen.insert(id.to_string(), now);
    let body: Value = serde_json::from_slice(&retry.body).expect("json");
    assert_eq!(body["folder_id"], fid.as_str());

    // Replays of what was captured.
    assert_eq!(verify(retry, now, &seen), Verdict::Duplicate);
    assert_eq!(
        verify(first, now + TOLERANCE + 5, &HashMap::new()),
        Verdict::Reject("stale timestamp"),
        "a captured request replayed later, once its id is forgotten"
    );
    let mut forged = retry.clone();
    for h in forged.headers.iter_mut() {
        if h.0.eq_ignore_ascii_case("x-facelite-timestamp") {
            h.1 = (ts(retry) + 10).to_string();
        }
    }
    assert_eq!(
        verify(&forged, now, &HashMap::new()),
        Verdict::Reject("signature mismatch"),
        "a fresh timestamp on an old signature"
    );
    let mut forged = retry.clone();
    for h in forged.headers.iter_mut() {
        if h.0.eq_ignore_ascii_case("x-facelite-delivery") {
            h.1 = uuid::Uuid::new_v4().to_string();
        }
    }
    assert_eq!(
        verify(&forged, now, &seen),
        Verdict::Reject("signature mismatch"),
        "a new delivery id on an old signature"
    );
    let mut forged = retry.clone();
    forged.body.extend_from_slice(b" ");
    assert_eq!(
        verify(&forged, now, &HashMap::new()),
        Verdict::Reject("signature mismatch")
    );
    // The body alone is not what is signed any more.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let body_only = format!(
        "sha256={}",
        hex(ring::hmac::sign(&key, &retry.body).as_ref())
    );
    assert_ne!(
        retry.header("x-facelite-signature"),
        Some(body_only.as_str())
    );

    // A second notification is another delivery, with another id.
    let rx2 = Receiver::start(vec![200]);
    let f = form(
        &[
            ("a", "a.jpg", &data("obama.jpg"), &[]),
            ("b", "b.jpg", &data("biden.jpg"), &[]),
        ],
        json!({"resolution_endpoint": rx2.url("/hook"), "analyses": [{"type": "biometry"}]}),
    );
    assert_eq!(
        srv.post_multipart("/api/folders/", Some(&t), &f).status,
        201
    );
    let got2 = rx2.wait_for(1, 60);
    assert_eq!(got2.len(), 1);
    assert_eq!(verify(&got2[0], unix_now(), &seen), Verdict::Fresh);
    assert_ne!(got2[0].header("x-facelite-delivery"), Some(id));
}

#[test]
fn without_a_secret_deliveries_carry_id_and_timestamp_but_no_signature() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "unsigned", "CLIENT");
    let rx = Receiver::start(vec![200]);
    let f = form(
        &[
            ("a", "a.jpg", &data("obama.jpg"), &[]),
            ("b", "b.jpg", &data("obama2.jpg"), &[]),
        ],
        json!({"resolution_endpoint": rx.url("/hook"), "analyses": [{"type": "biometry"}]}),
    );
    assert_eq!(
        srv.post_multipart("/api/folders/", Some(&t), &f).status,
        201
    );
    let got = rx.wait_for(1, 60);
    assert_eq!(got.len(), 1);
    let hit = &got[0];
    assert!(hit
        .header("x-facelite-delivery")
        .is_some_and(|v| v.parse::<uuid::Uuid>().is_ok()));
    assert!(hit
        .header("x-facelite-timestamp")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|v| unix_now().abs_diff(v) <= 60));
    assert_eq!(hit.header("x-facelite-signature"), None);
}
