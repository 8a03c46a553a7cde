//! The HTTP server itself: probe, routing errors, limits, keep-alive, TLS, shutdown.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::{http, parse_response, TestServer};

#[test]
fn healthz_unknown_route_and_wrong_method() {
    let srv = TestServer::start();
    let r = srv.get("/healthz", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    // trailing slash is the same route
    assert_eq!(srv.get("/healthz/", None).status, 200);

    let msg = srv.get("/api/no/such/thing", None).assert_error(404, 10);
    assert!(msg.contains("/api/no/such/thing"), "{msg}");
    srv.delete("/healthz", None).assert_error(405, 1);

    // one access-log line per request: method, template, status, ms
    for line in [
        "GET /healthz 200",
        "GET <unknown> 404",
        "DELETE /healthz 405",
    ] {
        assert!(
            srv.wait_log(line),
            "no log line {line:?} in:\n{}",
            srv.log_text()
        );
    }
}

#[test]
fn oversize_body_is_refused_before_reading_it() {
    let srv = TestServer::start_with(&[("FACELITE_LIMITS_MAX_BODY_BYTES", "1000")], &[]);
    let mut s = TcpStream::connect(srv.addr).expect("connect");
    // Announce a large body but send none of it: the answer must come anyway.
    s.write_all(
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\nConnection: close\r\n\r\n",
    )
    .expect("write");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let r = parse_response(&raw);
    let msg = r.assert_error(413, 4);
    assert!(msg.contains("1000"), "{msg}");
}

#[test]
fn slow_header_is_cut_off() {
    let srv = TestServer::start_with(&[("FACELITE_SERVER_HEADER_READ_TIMEOUT_SECS", "1")], &[]);
    let mut s = TcpStream::connect(srv.addr).expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    // Never finish the header. The server must close the connection (possibly after a 408).
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut raw = Vec::new();
    let res = s.read_to_end(&mut raw);
    assert!(
        res.is_ok(),
        "server did not close the slow connection: {res:?}"
    );
    if !raw.is_empty() {
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 408"), "unexpected reply {text}");
    }
    // and the server still serves others
    assert_eq!(srv.get("/healthz", None).status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let srv = TestServer::start();
    let mut s = TcpStream::connect(srv.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    for _ in 0..3 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).expect("read");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    }
}

#[test]
fn sigterm_stops_cleanly() {
    let mut srv = TestServer::start();
    assert_eq!(srv.get("/healthz", None).status, 200);
    let status = srv.stop().expect("exit status");
    assert!(status.success(), "exit status {status:?}");
    assert!(srv.wait_log("SIGTERM received"), "log:\n{}", srv.log_text());
}

#[test]
fn tls_serves_healthz() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_pem = ck.cert.pem();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).expect("cert");
    std::fs::write(&key_path, ck.signing_key.serialize_pem()).expect("key");
    let srv = TestServer::start_with(
        &[],
        &[
            "--tls-cert",
            cert_path.to_str().expect("utf8"),
            "--tls-key",
            key_path.to_str().expect("utf8"),
        ],
    );
    assert!(srv.log_text().contains("listening on https://"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(srv.addr).expect("connect");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    let r = parse_response(&raw);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ok");

    // plain HTTP to the TLS port is not served
    let mut s = TcpStream::connect(srv.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(!String::from_utf8_lossy(&raw).contains("\"ok\""));
    let _ = http; // keep the helper import used in every test binary
}

#[test]
fn graceful_shutdown_finishes_an_in_flight_request() {
    let mut srv = TestServer::start();
    let body = serde_json::json!({"credentials": {
        "email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD}})
    .to_string();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut s = TcpStream::connect(srv.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    s.write_all(
        format!(
            "POST /api/authorize/auth/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .expect("head");
    s.write_all(first).expect("first half");
    std::thread::sleep(Duration::from_millis(300));
    let pid = srv.pid().expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(srv.wait_log("SIGTERM received"), "{}", srv.log_text());
    // The listener is closed: new connections are refused (or reset) from now on.
    std::thread::sleep(Duration::from_millis(300));
    let refused = TcpStream::connect(srv.addr)
        .map(|mut c| {
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut buf = Vec::new();
            c.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let _ = c.read_to_end(&mut buf);
            buf.is_empty()
        })
        .unwrap_or(true);
    assert!(refused, "a new request was served after SIGTERM");
    // The in-flight request completes.
    s.write_all(rest).expect("second half");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let r = parse_response(&raw);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["access_token"].is_string());
    let status = srv.stop().expect("exit status");
    assert!(status.success(), "{status:?}");
}
