//! Tenant isolation over real HTTP: a user of company A sees company B's objects exactly as
//! missing ones (404, code 10), for reads, writes and lists.

mod common;

use common::TestServer;
use serde_json::{json, Value};

const PW: &str = "user-password-1";

struct Tenant {
    company: String,
    admin_user: String,
    client_user: String,
    admin_token: String,
    client_token: String,
}

fn tenant(srv: &TestServer, root: &str, name: &str) -> Tenant {
    let c = srv.post_json("/api/companies/", Some(root), &json!({ "name": name }));
    assert_eq!(c.status, 201, "{}", c.text());
    let company = c.json()["company_id"].as_str().expect("id").to_string();
    let mk = |email: &str, role: &str| -> String {
        let r = srv.post_json(
            "/api/users/",
            Some(root),
            &json!({"email": email, "password": PW, "user_type": role, "company_id": company}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["user_id"].as_str().expect("id").to_string()
    };
    let lower = name.to_lowercase();
    let admin_email = format!("admin@{lower}.test");
    let client_email = format!("client@{lower}.test");
    let admin_user = mk(&admin_email, "CLIENT_ADMIN");
    let client_user = mk(&client_email, "CLIENT");
    Tenant {
        company,
        admin_user,
        client_user,
        admin_token: srv.login(&admin_email, PW).0,
        client_token: srv.login(&client_email, PW).0,
    }
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn company_a_cannot_see_or_touch_company_b() {
    let srv = TestServer::start();
    let root = srv.admin_token();
    let a = tenant(&srv, &root, "Alpha");
    let b = tenant(&srv, &root, "Beta");

    for token in [&a.admin_token, &a.client_token] {
        // Companies.
        srv.get(&format!("/api/companies/{}", b.company), Some(token))
            .assert_error(404, 10);
        let list = srv.get("/api/companies/", Some(token)).json();
        assert_eq!(ids(&list, "company_id"), vec![a.company.clone()]);
        let list = srv
            .get("/api/companies/?search_text=beta", Some(token))
            .json();
        assert_eq!(list["items"], json!([]));
        assert_eq!(list["total"], 0);
        // Users.
        for uid in [&b.admin_user, &b.client_user] {
            srv.get(&format!("/api/users/{uid}"), Some(token))
                .assert_error(404, 10);
            srv.get(&format!("/api/users/{uid}/meta_data"), Some(token))
                .assert_error(404, 10);
        }
        let list = srv.get("/api/users/", Some(token)).json();
        let mut own = vec![a.admin_user.clone(), a.client_user.clone()];
        own.sort();
        assert_eq!(ids(&list, "user_id"), own);
        let list = srv
            .get(
                &format!("/api/users/?company_id={}", b.company),
                Some(token),
            )
            .json();
        assert_eq!(list["items"], json!([]));
    }

    // Writes: B's objects are just as missing for A's company admin.
    let t = &a.admin_token;
    srv.send_json(
        "PATCH",
        &format!("/api/companies/{}", b.company),
        Some(t),
        &json!({"name": "x"}),
    )
    .assert_error(404, 10);
    srv.delete(&format!("/api/companies/{}", b.company), Some(t))
        .assert_error(404, 10);
    srv.send_json(
        "PATCH",
        &format!("/api/users/{}", b.client_user),
        Some(t),
        &json!({"password": "hijacked-pw-1"}),
    )
    .assert_error(404, 10);
    srv.post_json(
        &format!("/api/users/{}/meta_data", b.client_user),
        Some(t),
        &json!({"k": 1}),
    )
    .assert_error(404, 10);
    srv.delete(&format!("/api/users/{}", b.client_user), Some(t))
        .assert_error(404, 10);
    // Moving an own user into B.
    srv.send_json(
        "PATCH",
        &format!("/api/users/{}", a.client_user),
        Some(t),
        &json!({"company_id": b.company}),
    )
    .assert_error(404, 10);

    // B is intact and B still sees its own data.
    let r = srv.get(
        &format!("/api/users/{}", b.client_user),
        Some(&b.admin_token),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["company_id"], b.company.as_str());
    srv.login("client@beta.test", PW);
    assert_eq!(
        srv.get(
            &format!("/api/companies/{}", b.company),
            Some(&b.client_token)
        )
        .json()["name"],
        "Beta"
    );

    // Staff users are invisible to company users as well.
    let staff = srv.get("/api/users/?user_type=ADMIN", Some(&root)).json();
    let staff_id = staff["items"][0]["user_id"]
        .as_str()
        .expect("admin id")
        .to_string();
    srv.get(&format!("/api/users/{staff_id}"), Some(&a.admin_token))
        .assert_error(404, 10);
    // ADMIN sees both tenants.
    let all = srv.get("/api/companies/", Some(&root)).json();
    assert_eq!(all["total"], 2);
}
