//! Login, tokens, sessions, refresh and throttling over real HTTP.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{http, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::json;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn login_body(email: &str, password: &str) -> serde_json::Value {
    json!({"credentials": {"email": email, "password": password}})
}

fn refresh(srv: &TestServer, token: &str, body: &[u8]) -> common::Resp {
    http(
        "POST",
        &srv.url("/api/authorize/refresh/"),
        &[
            ("X-Forensic-Access-Token".into(), token.into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        body,
    )
}

/// Creates a company and a user in it; returns the user's id.
fn make_user(srv: &TestServer, admin: &str, email: &str, extra: serde_json::Value) -> String {
    let c = srv.post_json(
        "/api/companies/",
        Some(admin),
        &json!({"name": format!("co of {email}")}),
    );
    assert_eq!(c.status, 201, "{}", c.text());
    let mut body = json!({
        "email": email,
        "password": "user-password-1",
        "user_type": "CLIENT",
        "company_id": c.json()["company_id"],
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let u = srv.post_json("/api/users/", Some(admin), &body);
    assert_eq!(u.status, 201, "{}", u.text());
    u.json()["user_id"].as_str().expect("user_id").to_string()
}

#[test]
fn login_succeeds_with_the_right_password_only() {
    let srv = TestServer::start();
    let r = srv.post_json(
        "/api/authorize/auth",
        None,
        &login_body(ADMIN_EMAIL, ADMIN_PASSWORD),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let access = j["access_token"].as_str().expect("access_token");
    assert_eq!(access.len(), 64);
    assert!(access.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(j["expire_token"], j["access_token"]);
    let exp = j["expire_date"].as_i64().expect("expire_date is a number");
    assert!(
        (now() + 890..=now() + 910).contains(&exp),
        "15 min TTL: {exp}"
    );
    assert_eq!(j["user_type"], "ADMIN");
    assert_eq!(j["email"], ADMIN_EMAIL);
    assert!(
        j.get("password").is_none() && !r.text().contains("pbkdf2"),
        "{j}"
    );

    // Email is case-insensitive.
    let r = srv.post_json(
        "/api/authorize/auth/",
        None,
        &login_body("ADMIN@facelite.test", ADMIN_PASSWORD),
    );
    assert_eq!(r.status, 200);

    let wrong = srv
        .post_json(
            "/api/authorize/auth/",
            None,
            &login_body(ADMIN_EMAIL, "wrong-password"),
        )
        .assert_error(401, 7);
    let unknown = srv
        .post_json(
            "/api/authorize/auth/",
            None,
            &login_body("nobody@x.test", ADMIN_PASSWORD),
        )
        .assert_error(401, 7);
    assert_eq!(
        wrong, unknown,
        "wrong email and wrong password answer alike"
    );

    let msg = srv
        .post_json("/api/authorize/auth/", None, &json!({"email": ADMIN_EMAIL}))
        .assert_error(400, 3);
    assert!(msg.contains("credentials"), "{msg}");
    let msg = srv
        .post_json(
            "/api/authorize/auth/",
            None,
            &json!({"credentials": {"email": ADMIN_EMAIL}}),
        )
        .assert_error(400, 3);
    assert!(msg.contains("credentials.password"), "{msg}");
}

#[test]
fn token_errors_have_codes_6_7_8_and_sliding_expiry_keeps_active_sessions() {
    let srv = TestServer::start_with(&[("FACELITE_AUTH_SESSION_TTL_SECS", "2")], &[]);
    srv.get("/api/users/", None).assert_error(401, 6);
    srv.get("/api/users/", Some("")).assert_error(401, 6);
    srv.get("/api/users/", Some(&"0".repeat(64)))
        .assert_error(401, 7);
    srv.get("/api/users/", Some(&"x".repeat(5000)))
        .assert_error(401, 7);

    let (token, _) = srv.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(srv.get("/api/users/", Some(&token)).status, 200);
    // The misspelt header works too.
    let r = http(
        "GET",
        &srv.url("/api/users"),
        &[("X-Forensics-Access-Token".into(), token.clone())],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Sliding: requests every 0.8 s keep a 2 s session alive for 4 s.
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(800));
        let r = srv.get("/api/users/", Some(&token));
        assert_eq!(r.status, 200, "session must slide: {}", r.text());
    }
    // Idle for longer than the TTL: expired, and it stays expired.
    std::thread::sleep(Duration::from_millis(2500));
    srv.get("/api/users/", Some(&token)).assert_error(401, 8);
    srv.get("/api/users/", Some(&token)).assert_error(401, 8);
}

#[test]
fn refresh_errors_have_the_documented_status_and_message() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (token, expire) = srv.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    let missing = "Could not locate field for key_path expire_token from provided dict data";
    assert_eq!(refresh(&srv, &token, b"").assert_error(400, 3), missing);
    assert_eq!(refresh(&srv, &token, b"{}").assert_error(400, 3), missing);
    assert_eq!(
        refresh(&srv, &token, br#"{"expire_token": 5}"#).assert_error(400, 3),
        missing
    );
    assert_eq!(
        refresh(
            &srv,
            &token,
            json!({"expire_token": "0".repeat(64)})
                .to_string()
                .as_bytes()
        )
        .status,
        401
    );
    let j = refresh(
        &srv,
        &token,
        json!({"expire_token": "nope"}).to_string().as_bytes(),
    )
    .json();
    assert_eq!(j["error_message"], "Session not found");

    // Someone else's session.
    make_user(&srv, &admin, "other@x.test", json!({}));
    let (other, _) = srv.login("other@x.test", "user-password-1");
    let r = refresh(
        &srv,
        &other,
        json!({"expire_token": expire}).to_string().as_bytes(),
    );
    assert_eq!(
        r.assert_error(403, 9),
        "You have not access to refresh this session"
    );

    // Without a token at all.
    let r = http(
        "POST",
        &srv.url("/api/authorize/refresh"),
        &[],
        json!({"expire_token": expire}).to_string().as_bytes(),
    );
    r.assert_error(401, 6);
}

#[test]
fn after_refresh_the_old_pair_dies_on_first_use_of_the_new_pair() {
    let srv = TestServer::start();
    let (a1, e1) = srv.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    let r = refresh(
        &srv,
        &a1,
        json!({"expire_token": e1}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let a2 = j["access_token"].as_str().expect("access").to_string();
    let e2 = j["expire_token"].as_str().expect("expire").to_string();
    assert_ne!(a1, a2);
    assert_ne!(e1, e2);
    assert!(j["expire_date"].as_i64().is_some());
    // Old pair still valid until the new one is used.
    for _ in 0..2 {
        assert_eq!(srv.get("/api/users/", Some(&a1)).status, 200);
    }
    assert_eq!(srv.get("/api/users/", Some(&a2)).status, 200);
    srv.get("/api/users/", Some(&a1)).assert_error(401, 7);
    let r = refresh(
        &srv,
        &a2,
        json!({"expire_token": e1}).to_string().as_bytes(),
    );
    assert_eq!(r.assert_error(401, 7), "Session not found");
    // The new pair rotates again.
    let r = refresh(
        &srv,
        &a2,
        json!({"expire_token": e2}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn service_accounts_get_the_long_lived_ttl() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    make_user(&srv, &admin, "svc@x.test", json!({"is_service": true}));
    let r = srv.post_json(
        "/api/authorize/auth/",
        None,
        &login_body("svc@x.test", "user-password-1"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["is_service"], true);
    let five_years = 5 * 365 * 24 * 3600;
    let exp = j["expire_date"].as_i64().expect("expire_date");
    assert!(
        (now() + five_years - 60..=now() + five_years + 60).contains(&exp),
        "5-year TTL: {exp}"
    );
}

#[test]
fn failed_logins_are_throttled_per_account_and_per_address() {
    let srv = TestServer::start_with(
        &[
            ("FACELITE_AUTH_MAX_FAILED_LOGINS", "3"),
            ("FACELITE_AUTH_MAX_FAILED_LOGINS_PER_ADDRESS", "3"),
            ("FACELITE_AUTH_THROTTLE_WINDOW_SECS", "3"),
        ],
        &[],
    );
    let admin = srv.admin_token();
    make_user(&srv, &admin, "victim@x.test", json!({}));
    for _ in 0..3 {
        srv.post_json(
            "/api/authorize/auth/",
            None,
            &login_body("victim@x.test", "guess-guess"),
        )
        .assert_error(401, 7);
    }
    // Over the limit: refused before the password is checked, even the right one.
    let r = srv.post_json(
        "/api/authorize/auth/",
        None,
        &login_body("victim@x.test", "user-password-1"),
    );
    let msg = r.assert_error(429, 9);
    assert!(msg.contains("account"), "{msg}");
    assert!(r.json()["details"]["retry_after_secs"].as_u64().is_some());
    // The same client address is limited for other accounts too (all tests come from 127.0.0.1).
    let msg = srv
        .post_json(
            "/api/authorize/auth/",
            None,
            &login_body(ADMIN_EMAIL, ADMIN_PASSWORD),
        )
        .assert_error(429, 9);
    assert!(msg.contains("client address"), "{msg}");
    // Tokens issued before keep working.
    assert_eq!(srv.get("/api/users/", Some(&admin)).status, 200);
    // After the window the right password works again.
    std::thread::sleep(Duration::from_millis(3200));
    srv.login("victim@x.test", "user-password-1");
}

#[test]
fn restart_keeps_users_and_sessions() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let uid = make_user(&srv, &admin, "keep@x.test", json!({}));
    let (token, expire) = srv.login("keep@x.test", "user-password-1");
    let srv = srv.restart();
    let r = srv.get(&format!("/api/users/{uid}"), Some(&token));
    assert_eq!(r.status, 200, "token survives a restart: {}", r.text());
    assert_eq!(r.json()["email"], "keep@x.test");
    assert_eq!(srv.get("/api/companies/", Some(&admin)).status, 200);
    let r = refresh(
        &srv,
        &token,
        json!({"expire_token": expire}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    srv.login("keep@x.test", "user-password-1");
    // The first-start admin was not recreated or changed.
    srv.login(ADMIN_EMAIL, ADMIN_PASSWORD);
}

#[test]
fn acknowledged_writes_survive_a_crash() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let uid = make_user(&srv, &admin, "durable@x.test", json!({}));
    let (token, _) = srv.login("durable@x.test", "user-password-1");
    // SIGKILL right after the answers: nothing may rely on a clean shutdown.
    let srv = srv.crash_and_restart();
    let r = srv.get(&format!("/api/users/{uid}"), Some(&token));
    assert_eq!(r.status, 200, "{}", r.text());
    srv.login("durable@x.test", "user-password-1");
}

#[test]
fn session_token_is_not_realized_without_ozcapsula() {
    let srv = TestServer::start();
    srv.get("/api/authorize/session_token", None)
        .assert_error(401, 6);
    let token = srv.admin_token();
    let msg = srv
        .get("/api/authorize/session_token/", Some(&token))
        .assert_error(501, 2);
    assert!(msg.contains("OzCapsula"), "{msg}");
}
