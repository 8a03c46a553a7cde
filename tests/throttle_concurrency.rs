//! The login throttle holds under concurrency: parallel wrong passwords for one account from
//! one address get at most `auth.max_failed_logins` password checks (401), the rest 429; and
//! the guesser's lockout does not lock the real user out from another address.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{parse_response, Resp, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GUESSES: usize = 200;

/// A server whose password checks are slow enough (PBKDF2 at 200k iterations, also for the
/// admin's hash made at the first start) that parallel checks overlap, with room for 200
/// connections from one address.
fn slow_server() -> TestServer {
    let mut envs = vec![("FACELITE_AUTH_PBKDF2_ITERATIONS", "200000")];
    // Newer builds bound connections per client address; lift the bound where it exists.
    let defaults = serde_json::to_value(facelite::config::Config::default()).expect("json");
    if defaults["server"]
        .get("max_connections_per_client")
        .is_some()
    {
        envs.push(("FACELITE_SERVER_MAX_CONNECTIONS_PER_CLIENT", "512"));
        envs.push(("FACELITE_SERVER_MAX_CONNECTIONS", "512"));
    }
    TestServer::start_with(&envs, &[])
}

fn login_request(server: SocketAddr, email: &str, password: &str) -> Vec<u8> {
    let body = json!({"credentials": {"email": email, "password": password}}).to_string();
    format!(
        "POST /api/authorize/auth/ HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Connects to `server` from the loopback address `source` (any of 127/8 works on Linux).
async fn connect_from(source: IpAddr, server: SocketAddr) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::new(source, 0)).expect("bind source");
    sock.connect(server).await.expect("connect")
}

async fn send(mut s: tokio::net::TcpStream, req: &[u8]) -> Resp {
    s.write_all(req).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(300), s.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .expect("read");
    parse_response(&raw)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One login from `source`.
fn login_from(rt: &tokio::runtime::Runtime, srv: &TestServer, source: &str, pw: &str) -> Resp {
    let source: IpAddr = source.parse().expect("ip");
    rt.block_on(async {
        let s = connect_from(source, srv.addr).await;
        send(s, &login_request(srv.addr, ADMIN_EMAIL, pw)).await
    })
}

#[test]
fn parallel_wrong_passwords_get_at_most_the_limit_of_checks() {
    let srv = slow_server();
    let rt = runtime();
    let server = srv.addr;
    let started = Instant::now();
    let answers: Vec<Resp> = rt.block_on(async {
        // All connections are open before any request goes out, so the requests race.
        let barrier = Arc::new(tokio::sync::Barrier::new(GUESSES));
        let mut tasks = Vec::new();
        for i in 0..GUESSES {
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                let s = connect_from("127.0.0.1".parse().expect("ip"), server).await;
                barrier.wait().await;
                send(
                    s,
                    &login_request(server, ADMIN_EMAIL, &format!("guess-{i}")),
                )
                .await
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    });
    let unauthorized = answers.iter().filter(|r| r.status == 401).count();
    let throttled: Vec<&Resp> = answers.iter().filter(|r| r.status == 429).collect();
    eprintln!(
        "{GUESSES} parallel guesses: {unauthorized} x 401, {} x 429 in {} ms",
        throttled.len(),
        started.elapsed().as_millis()
    );
    assert_eq!(
        unauthorized + throttled.len(),
        GUESSES,
        "only 401 and 429: {:?}",
        answers
            .iter()
            .filter(|r| r.status != 401 && r.status != 429)
            .map(|r| (r.status, r.text()))
            .collect::<Vec<_>>()
    );
    assert!(
        unauthorized <= 10,
        "{unauthorized} wrong passwords were checked; auth.max_failed_logins is 10"
    );
    assert!(unauthorized >= 1, "some guesses were checked");
    for r in &throttled {
        let msg = r.assert_error(429, 9);
        assert!(msg.contains("account from this client address"), "{msg}");
        let retry = r.json()["details"]["retry_after_secs"]
            .as_u64()
            .expect("details.retry_after_secs");
        assert!((1..=300).contains(&retry), "{retry}");
    }

    // The guesser's address stays locked, even with the right password.
    login_from(&rt, &srv, "127.0.0.1", ADMIN_PASSWORD).assert_error(429, 9);
    // The real user, from another address, is not locked out.
    let r = login_from(&rt, &srv, "127.0.0.2", ADMIN_PASSWORD);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["access_token"].is_string());
    // Nor does their login unlock the guesser.
    login_from(&rt, &srv, "127.0.0.1", ADMIN_PASSWORD).assert_error(429, 9);
}

#[test]
fn one_address_is_limited_across_accounts_and_others_are_not() {
    let srv = TestServer::start_with(
        &[
            ("FACELITE_AUTH_MAX_FAILED_LOGINS", "3"),
            ("FACELITE_AUTH_MAX_FAILED_LOGINS_PER_ADDRESS", "5"),
        ],
        &[],
    );
    let rt = runtime();
    let try_login = |source: &str, email: &str, pw: &str| -> Resp {
        let source: IpAddr = source.parse().expect("ip");
        rt.block_on(async {
            let s = connect_from(source, srv.addr).await;
            send(s, &login_request(srv.addr, email, pw)).await
        })
    };
    // Two accounts from 127.0.0.3: 3 + 2 failures reach the address' limit of 5.
    for _ in 0..3 {
        try_login("127.0.0.3", "a@x.test", "nope-nope").assert_error(401, 7);
    }
    try_login("127.0.0.3", "a@x.test", "nope-nope").assert_error(429, 9);
    for _ in 0..2 {
        try_login("127.0.0.3", "b@x.test", "nope-nope").assert_error(401, 7);
    }
    let msg = try_login("127.0.0.3", ADMIN_EMAIL, ADMIN_PASSWORD).assert_error(429, 9);
    assert!(msg.contains("client address"), "{msg}");
    // Another address is untouched.
    assert_eq!(
        try_login("127.0.0.4", ADMIN_EMAIL, ADMIN_PASSWORD).status,
        200
    );
}
