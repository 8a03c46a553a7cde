//! Webhooks: a receiver inside the test gets the folder as `GET ...?with_analyses=true`
//! renders it, signed with HMAC-SHA256; a receiver that fails first gets it on retry, also
//! across a server restart.

mod common;
mod flow_support;

use common::{data, TestServer};
use flow_support::{company_user, form, wait_analysis, Received, Receiver};
use serde_json::{json, Value};

const SECRET: &str = "webhook-test-secret";

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The signature header a delivery attempt must carry: HMAC over
/// "{X-Facelite-Timestamp}.{X-Facelite-Delivery}.{body}".
fn expected_signature(secret: &str, hit: &Received) -> String {
    let ts = hit
        .header("x-facelite-timestamp")
        .expect("timestamp header");
    let id = hit.header("x-facelite-delivery").expect("delivery header");
    let mut msg = format!("{ts}.{id}.").into_bytes();
    msg.extend_from_slice(&hit.body);
    format!("sha256={}", hmac_hex(secret, &msg))
}

fn server() -> TestServer {
    TestServer::start_with(
        &[
            ("FACELITE_WEBHOOKS_SECRET", SECRET),
            ("FACELITE_WEBHOOKS_INITIAL_BACKOFF_SECS", "1"),
        ],
        &[],
    )
}

#[test]
fn webhook_from_analyses_body_is_delivered_signed() {
    let srv = server();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "hook", "CLIENT");
    let rx = Receiver::start(vec![200]);
    let f = form(
        &[
            ("a", "a.jpg", &data("obama.jpg"), &[]),
            ("b", "b.jpg", &data("obama2.jpg"), &[]),
        ],
        json!({}),
    );
    let folder = srv.post_multipart("/api/folders/", Some(&t), &f).json();
    let fid = folder["folder_id"].as_str().expect("id");
    let r = srv.post_json(
        &format!("/api/folders/{fid}/analyses/"),
        Some(&t),
        &json!({"analyses": [{"type": "biometry"}, {"type": "quality"}], "resolution_endpoint": rx.url("/hook?x=1")}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    for a in r.json().as_array().expect("arr") {
        wait_analysis(&srv, &t, a["analysis_id"].as_str().expect("id"), 120);
    }
    let got = rx.wait_for(1, 30);
    assert_eq!(got.len(), 1, "exactly one notification per group: {got:?}");
    let hit = &got[0];
    assert_eq!(hit.path, "/hook?x=1");
    assert_eq!(hit.header("content-type"), Some("application/json"));
    let sig = hit
        .header("x-facelite-signature")
        .expect("signature header");
    assert_eq!(sig, expected_signature(SECRET, hit));
    let body: Value = serde_json::from_slice(&hit.body).expect("json body");
    assert_eq!(body["folder_id"], fid);
    let analyses = body["analyses"].as_array().expect("analyses");
    assert_eq!(analyses.len(), 2);
    assert!(analyses.iter().all(|a| a["state"] != "PROCESSING"));
    // The body is the folder as GET ?with_analyses=true renders it.
    let now = srv
        .get(&format!("/api/folders/{fid}?with_analyses=true"), Some(&t))
        .json();
    assert_eq!(body["system_resolution"], now["system_resolution"]);
    assert_eq!(
        body["analyses"][0]["results_data"],
        now["analyses"][0]["results_data"]
    );
}

#[test]
fn failing_receiver_gets_the_webhook_on_retry_even_after_a_restart() {
    let srv = server();
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "retry", "CLIENT");
    let rx = Receiver::start(vec![500, 503, 200]);
    // Webhook set once on the folder, applying to its analysis groups.
    let f = form(
        &[
            ("a", "a.jpg", &data("obama.jpg"), &[]),
            ("b", "b.jpg", &data("biden.jpg"), &[]),
        ],
        json!({"resolution_endpoint": rx.url("/folder-hook")}),
    );
    let folder = srv.post_multipart("/api/folders/", Some(&t), &f).json();
    let fid = folder["folder_id"].as_str().expect("id").to_string();
    assert_eq!(folder["resolution_endpoint"], rx.url("/folder-hook"));
    let r = srv.post_json(
        &format!("/api/folders/{fid}/analyses/"),
        Some(&t),
        &json!({"analyses": [{"type": "biometry"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let first = rx.wait_for(1, 120);
    assert_eq!(first[0].answered, 500);
    // Crash and come back: the outbox survives and delivery resumes.
    let srv = srv.crash_and_restart();
    let got = rx.wait_for(3, 60);
    assert!(got.len() >= 3, "retries: {got:?}");
    assert_eq!(got[2].answered, 200);
    let body: Value = serde_json::from_slice(&got[2].body).expect("json");
    assert_eq!(body["folder_id"], fid.as_str());
    assert_eq!(body["analyses"][0]["resolution_status"], "DECLINED");
    for g in &got {
        assert_eq!(
            g.header("x-facelite-signature").map(str::to_string),
            Some(expected_signature(SECRET, g))
        );
    }
    // Delivered: no further attempts.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(rx.got.lock().expect("lock").len(), 3);
    drop(srv);
}

/// A receiver that accepts connections and never answers holds one delivery slot until its
/// timeout; deliveries to other receivers go out meanwhile.
#[test]
fn a_dead_endpoint_does_not_hold_up_other_receivers() {
    let srv = TestServer::start_with(
        &[
            ("FACELITE_WEBHOOKS_CONCURRENCY", "2"),
            ("FACELITE_WEBHOOKS_TIMEOUT_SECS", "60"),
        ],
        &[],
    );
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "deadhook", "CLIENT");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}/never", dead.local_addr().expect("addr"));
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let held2 = held.clone();
    std::thread::spawn(move || {
        for s in dead.incoming().flatten() {
            held2.lock().expect("lock").push(s);
        }
    });
    let live = Receiver::start(vec![200]);
    let single = |url: String| {
        let f = form(
            &[
                ("a", "a.jpg", &data("obama.jpg"), &[]),
                ("b", "b.jpg", &data("obama2.jpg"), &[]),
            ],
            json!({"resolution_endpoint": url, "analyses": [{"type": "biometry"}]}),
        );
        let r = srv.post_multipart("/api/folders/", Some(&t), &f);
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["analyses"][0]["state"], "FINISHED", "{}", r.text());
    };
    single(dead_url);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while held.lock().expect("lock").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dead endpoint was never called"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let started = std::time::Instant::now();
    single(live.url("/one"));
    single(live.url("/two"));
    let got = live.wait_for(2, 20);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the live receiver waited for the dead one: {:?}",
        started.elapsed()
    );
    let mut paths: Vec<&str> = got.iter().map(|g| g.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, vec!["/one", "/two"]);
    // The dead endpoint was called once and is still held: nothing re-sent it meanwhile.
    assert_eq!(held.lock().expect("lock").len(), 1);
}
