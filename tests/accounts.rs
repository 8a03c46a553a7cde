//! Companies and users over real HTTP: CRUD, role checks, metadata, and the admin CLI.

mod common;

use std::process::{Command, Stdio};

use common::{TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

const PW: &str = "user-password-1";

fn company(srv: &TestServer, token: &str, name: &str) -> String {
    let r = srv.post_json("/api/companies/", Some(token), &json!({ "name": name }));
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(j["name"], name);
    assert!(j["time_created"].as_i64().is_some());
    j["company_id"].as_str().expect("company_id").to_string()
}

fn user(srv: &TestServer, token: &str, body: Value) -> Value {
    let r = srv.post_json("/api/users/", Some(token), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn companies_crud_and_search() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let acme = company(&srv, &admin, "Acme Bank");
    let other = company(&srv, &admin, "Other Credit Union");

    let all = srv.get("/api/companies/", Some(&admin)).json();
    assert_eq!(all["total"], 2);
    let found = srv
        .get("/api/companies/?search_text=acme", Some(&admin))
        .json();
    assert_eq!(ids(&found, "company_id"), vec![acme.clone()]);
    let found = srv
        .get("/api/companies?search_text=CREDIT%20union", Some(&admin))
        .json();
    assert_eq!(ids(&found, "company_id"), vec![other.clone()]);
    let page = srv
        .get("/api/companies/?limit=1&offset=1", Some(&admin))
        .json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["total"], 2);
    srv.get("/api/companies/?limit=abc", Some(&admin))
        .assert_error(400, 4);

    let r = srv.send_json(
        "PATCH",
        &format!("/api/companies/{acme}"),
        Some(&admin),
        &json!({"name": "Acme"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        srv.get(&format!("/api/companies/{acme}/"), Some(&admin))
            .json()["name"],
        "Acme"
    );

    srv.post_json("/api/companies/", Some(&admin), &json!({"name": "  "}))
        .assert_error(400, 4);
    srv.post_json("/api/companies/", Some(&admin), &json!({}))
        .assert_error(400, 3);
    srv.get("/api/companies/not-a-uuid", Some(&admin))
        .assert_error(404, 10);

    // A company with users cannot be deleted; an empty one can.
    user(
        &srv,
        &admin,
        json!({"email": "u@acme.test", "password": PW, "company_id": acme}),
    );
    srv.delete(&format!("/api/companies/{acme}"), Some(&admin))
        .assert_error(409, 4);
    let r = srv.delete(&format!("/api/companies/{other}"), Some(&admin));
    assert_eq!(r.status, 204, "{}", r.text());
    srv.get(&format!("/api/companies/{other}"), Some(&admin))
        .assert_error(404, 10);
}

#[test]
fn users_crud_flags_and_password_change() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let acme = company(&srv, &admin, "Acme");
    let u = user(
        &srv,
        &admin,
        json!({
            "email": "Ann@Acme.test", "password": PW, "user_type": "CLIENT ADMIN",
            "company_id": acme, "first_name": "Ann", "can_start_analyze_biometry": false
        }),
    );
    assert_eq!(u["user_type"], "CLIENT_ADMIN");
    assert_eq!(u["is_admin"], true);
    assert_eq!(u["is_service"], false);
    assert_eq!(u["company_id"], acme.as_str());
    assert_eq!(u["first_name"], "Ann");
    assert_eq!(u["can_start_analysis_biometry"], false);
    assert_eq!(u["can_start_analysis_quality"], true);
    assert!(u.get("password").is_none());
    let uid = u["user_id"].as_str().expect("user_id").to_string();

    // Duplicate email (case-insensitive), bad role, short password, missing company.
    srv.post_json(
        "/api/users/",
        Some(&admin),
        &json!({"email": "ann@acme.TEST", "password": PW, "company_id": acme}),
    )
    .assert_error(409, 4);
    srv.post_json(
        "/api/users/",
        Some(&admin),
        &json!({"email": "b@x.test", "password": PW, "user_type": "ROOT", "company_id": acme}),
    )
    .assert_error(400, 4);
    srv.post_json(
        "/api/users/",
        Some(&admin),
        &json!({"email": "b@x.test", "password": "short", "company_id": acme}),
    )
    .assert_error(400, 4);
    srv.post_json(
        "/api/users/",
        Some(&admin),
        &json!({"email": "b@x.test", "password": PW}),
    )
    .assert_error(400, 3);
    srv.post_json(
        "/api/users/",
        Some(&admin),
        &json!({"email": "b@x.test", "password": PW, "company_id": acme, "is_admin": "yes"}),
    )
    .assert_error(400, 5);
    // Staff users have no company.
    let op = user(
        &srv,
        &admin,
        json!({"email": "op@x.test", "password": PW, "user_type": "OPERATOR"}),
    );
    assert_eq!(op["company_id"], Value::Null);

    let r = srv.send_json(
        "PATCH",
        &format!("/api/users/{uid}/"),
        Some(&admin),
        &json!({"last_name": "Lee", "is_admin": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(
        (j["last_name"].as_str(), j["user_type"].as_str()),
        (Some("Lee"), Some("CLIENT"))
    );
    assert_eq!(
        srv.get(&format!("/api/users/{uid}"), Some(&admin)).json()["last_name"],
        "Lee"
    );

    let list = srv.get("/api/users/?search_text=lee", Some(&admin)).json();
    assert_eq!(ids(&list, "user_id"), vec![uid.clone()]);
    let list = srv
        .get(&format!("/api/users/?company_id={acme}"), Some(&admin))
        .json();
    assert_eq!(ids(&list, "user_id"), vec![uid.clone()]);
    let list = srv
        .get("/api/users/?user_type=OPERATOR", Some(&admin))
        .json();
    assert_eq!(
        ids(&list, "user_id"),
        vec![op["user_id"].as_str().unwrap_or_default().to_string()]
    );

    // A password change ends the user's sessions.
    let (t, _) = srv.login("ann@acme.test", PW);
    let r = srv.send_json(
        "PATCH",
        &format!("/api/users/{uid}"),
        Some(&admin),
        &json!({"password": "new-password-2"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    srv.get("/api/users/", Some(&t)).assert_error(401, 7);
    srv.post_json(
        "/api/authorize/auth/",
        None,
        &json!({"credentials": {"email": "ann@acme.test", "password": PW}}),
    )
    .assert_error(401, 7);
    let (t, _) = srv.login("ann@acme.test", "new-password-2");

    // Deleting ends the sessions too.
    let r = srv.delete(&format!("/api/users/{uid}"), Some(&admin));
    assert_eq!(r.status, 204, "{}", r.text());
    srv.get("/api/users/", Some(&t)).assert_error(401, 7);
    srv.get(&format!("/api/users/{uid}"), Some(&admin))
        .assert_error(404, 10);
}

#[test]
fn role_checks() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let a = company(&srv, &admin, "A");
    let b = company(&srv, &admin, "B");
    let ca = user(
        &srv,
        &admin,
        json!({"email": "ca@a.test", "password": PW, "user_type": "CLIENT_ADMIN", "company_id": a}),
    );
    let cl = user(
        &srv,
        &admin,
        json!({"email": "cl@a.test", "password": PW, "user_type": "CLIENT", "company_id": a}),
    );
    user(
        &srv,
        &admin,
        json!({"email": "op@x.test", "password": PW, "user_type": "OPERATOR"}),
    );
    let (cat, _) = srv.login("ca@a.test", PW);
    let (clt, _) = srv.login("cl@a.test", PW);
    let (opt, _) = srv.login("op@x.test", PW);
    let cl_id = cl["user_id"].as_str().expect("id").to_string();
    let ca_id = ca["user_id"].as_str().expect("id").to_string();

    // CLIENT: no user or company administration.
    srv.post_json(
        "/api/users/",
        Some(&clt),
        &json!({"email": "n@a.test", "password": PW, "company_id": a}),
    )
    .assert_error(403, 9);
    srv.post_json("/api/companies/", Some(&clt), &json!({"name": "C"}))
        .assert_error(403, 9);
    srv.send_json(
        "PATCH",
        &format!("/api/companies/{a}"),
        Some(&clt),
        &json!({"name": "X"}),
    )
    .assert_error(403, 9);
    srv.send_json(
        "PATCH",
        &format!("/api/users/{ca_id}"),
        Some(&clt),
        &json!({"first_name": "X"}),
    )
    .assert_error(403, 9);
    srv.delete(&format!("/api/users/{ca_id}"), Some(&clt))
        .assert_error(403, 9);
    // ...but may edit its own names, not its role.
    let r = srv.send_json(
        "PATCH",
        &format!("/api/users/{cl_id}"),
        Some(&clt),
        &json!({"first_name": "Cleo"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    srv.send_json(
        "PATCH",
        &format!("/api/users/{cl_id}"),
        Some(&clt),
        &json!({"user_type": "CLIENT_ADMIN"}),
    )
    .assert_error(403, 9);
    // Reading the own company's data is allowed.
    assert_eq!(
        srv.get(&format!("/api/companies/{a}"), Some(&clt)).status,
        200
    );

    // OPERATOR: reads everything, writes nothing here.
    assert_eq!(
        srv.get(&format!("/api/users/{cl_id}"), Some(&opt)).status,
        200
    );
    assert_eq!(
        srv.get(&format!("/api/companies/{b}"), Some(&opt)).status,
        200
    );
    srv.post_json("/api/companies/", Some(&opt), &json!({"name": "C"}))
        .assert_error(403, 9);
    srv.post_json(
        "/api/users/",
        Some(&opt),
        &json!({"email": "n@a.test", "password": PW, "company_id": a}),
    )
    .assert_error(403, 9);

    // CLIENT_ADMIN: manages its own company's users only.
    let n = user(&srv, &cat, json!({"email": "new@a.test", "password": PW}));
    assert_eq!(n["company_id"], a.as_str(), "defaults to the own company");
    srv.post_json(
        "/api/users/",
        Some(&cat),
        &json!({"email": "n2@b.test", "password": PW, "company_id": b}),
    )
    .assert_error(403, 9);
    srv.post_json(
        "/api/users/",
        Some(&cat),
        &json!({"email": "n3@a.test", "password": PW, "user_type": "ADMIN"}),
    )
    .assert_error(403, 9);
    let r = srv.send_json(
        "PATCH",
        &format!("/api/users/{cl_id}"),
        Some(&cat),
        &json!({"is_admin": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["user_type"], "CLIENT_ADMIN");
    srv.send_json(
        "PATCH",
        &format!("/api/users/{cl_id}"),
        Some(&cat),
        &json!({"company_id": b}),
    )
    .assert_error(404, 10);
    let r = srv.send_json(
        "PATCH",
        &format!("/api/companies/{a}"),
        Some(&cat),
        &json!({"name": "A renamed"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    srv.delete(&format!("/api/companies/{a}"), Some(&cat))
        .assert_error(403, 9);
    srv.delete(&format!("/api/users/{ca_id}"), Some(&cat))
        .assert_error(403, 9);
    let nid = n["user_id"].as_str().expect("id");
    assert_eq!(
        srv.delete(&format!("/api/users/{nid}"), Some(&cat)).status,
        204
    );
}

#[test]
fn user_meta_data() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let a = company(&srv, &admin, "A");
    let u = user(
        &srv,
        &admin,
        json!({"email": "m@a.test", "password": PW, "company_id": a}),
    );
    let path = format!(
        "/api/users/{}/meta_data",
        u["user_id"].as_str().expect("id")
    );
    assert_eq!(srv.get(&path, Some(&admin)).json(), json!({}));
    let r = srv.post_json(&path, Some(&admin), &json!({"client_iin": "123", "x": 1}));
    assert_eq!(r.json(), json!({"client_iin": "123", "x": 1}));
    let r = srv.send_json(
        "PATCH",
        &format!("{path}/"),
        Some(&admin),
        &json!({"x": 2, "y": true}),
    );
    assert_eq!(r.json(), json!({"client_iin": "123", "x": 2, "y": true}));
    assert_eq!(srv.get(&path, Some(&admin)).json()["x"], 2);
    srv.post_json(&path, Some(&admin), &json!(["not", "an", "object"]))
        .assert_error(400, 3);
    assert_eq!(srv.delete(&path, Some(&admin)).status, 204);
    assert_eq!(srv.get(&path, Some(&admin)).json(), json!({}));
    // The user may change its own metadata.
    let (t, _) = srv.login("m@a.test", PW);
    assert_eq!(
        srv.post_json(&path, Some(&t), &json!({"k": "v"})).status,
        200
    );
}

fn admin_cli(data_dir: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_facelite"))
        .arg("admin")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("FACELITE_AUTH_PBKDF2_ITERATIONS", "1000")
        .env_remove("FACELITE_CONFIG")
        .env_remove("FACELITE_NEW_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn facelite admin");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn admin_cli_manages_accounts_offline_and_refuses_while_the_server_runs() {
    let mut srv = TestServer::start();
    let dir = srv.data_dir.clone();
    let (ok, _, err) = admin_cli(&dir, &["list"], "");
    assert!(!ok, "must fail while the server holds the store");
    assert!(
        err.contains("in use by a running facelite server; stop it first"),
        "{err}"
    );
    srv.stop();

    let (ok, out, err) = admin_cli(&dir, &["create-company", "--name", "Kiosk Bank"], "");
    assert!(ok, "{err}");
    let cid = out.trim().to_string();
    assert_eq!(cid.len(), 36, "{out}");
    let (ok, _, err) = admin_cli(
        &dir,
        &[
            "create-user",
            "--email",
            "kiosk@bank.test",
            "--role",
            "CLIENT",
            "--company",
            "kiosk bank",
            "--service",
            "--password-stdin",
        ],
        "kiosk-password-1\n",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = admin_cli(
        &dir,
        &["create-user", "--email", "x@bank.test", "--company", &cid],
        "",
    );
    assert!(!ok && err.contains("no password given"), "{err}");
    let (ok, _, err) = admin_cli(
        &dir,
        &[
            "reset-password",
            "--email",
            ADMIN_EMAIL,
            "--password",
            "reset-password-9",
        ],
        "",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = admin_cli(&dir, &["list"], "");
    assert!(ok, "{err}");
    assert!(
        out.contains("Kiosk Bank") && out.contains("kiosk@bank.test") && out.contains(ADMIN_EMAIL),
        "{out}"
    );
    let (ok, out, _) = admin_cli(&dir, &["list", "--json"], "");
    assert!(ok);
    let j: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["users"].as_array().map(Vec::len), Some(2));
    assert!(!out.contains("pbkdf2") && !out.contains("reset-password-9"));

    let srv = srv.restart();
    let r = srv.post_json(
        "/api/authorize/auth/",
        None,
        &json!({"credentials": {"email": "kiosk@bank.test", "password": "kiosk-password-1"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["is_service"], true);
    assert_eq!(r.json()["company_id"], cid.as_str());
    srv.post_json(
        "/api/authorize/auth/",
        None,
        &json!({"credentials": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}),
    )
    .assert_error(401, 7);
    srv.login(ADMIN_EMAIL, "reset-password-9");
}

#[test]
fn first_start_without_credentials_writes_a_password_file() {
    // The harness always sets FACELITE_ADMIN_*; empty values count as unset.
    let srv = TestServer::start_with(
        &[
            ("FACELITE_ADMIN_EMAIL", ""),
            ("FACELITE_ADMIN_PASSWORD", ""),
        ],
        &[],
    );
    let path = srv.data_dir.join("initial-admin-password");
    let text = std::fs::read_to_string(&path).expect("password file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let pw = text
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("password line");
    assert!(text.contains("email: admin@localhost"), "{text}");
    assert!(srv.wait_log("initial-admin-password"), "{}", srv.log_text());
    assert!(
        !srv.log_text().contains(pw),
        "the password must not be logged"
    );
    srv.login("admin@localhost", pw);
}

#[test]
fn the_last_admin_cannot_be_demoted() {
    let srv = TestServer::start();
    let root = srv.admin_token();
    let staff = srv.get("/api/users/?user_type=ADMIN", Some(&root)).json();
    let root_id = staff["items"][0]["user_id"]
        .as_str()
        .expect("admin id")
        .to_string();
    let demote = json!({"user_type": "OPERATOR"});
    let msg = srv
        .send_json(
            "PATCH",
            &format!("/api/users/{root_id}"),
            Some(&root),
            &demote,
        )
        .assert_error(409, 4);
    assert!(msg.contains("last ADMIN"), "{msg}");
    // With a second ADMIN the first may be demoted; then the second is the last one.
    let second = user(
        &srv,
        &root,
        json!({"email": "second@facelite.test", "password": PW, "user_type": "ADMIN"}),
    );
    let second_id = second["user_id"].as_str().expect("id").to_string();
    let (t2, _) = srv.login("second@facelite.test", PW);
    let r = srv.send_json(
        "PATCH",
        &format!("/api/users/{root_id}"),
        Some(&t2),
        &demote,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["user_type"], "OPERATOR");
    srv.send_json(
        "PATCH",
        &format!("/api/users/{second_id}"),
        Some(&t2),
        &demote,
    )
    .assert_error(409, 4);
    let r = srv.get(&format!("/api/users/{second_id}"), Some(&t2));
    assert_eq!(r.json()["user_type"], "ADMIN");
}
