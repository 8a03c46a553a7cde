//! Tenant isolation over real HTTP: a user of company A sees company B's objects exactly as
//! missing ones (404, code 10), for reads, writes and lists.

mod common;
mod flow_support;

use common::{data, TestServer};
use flow_support::form;
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

fn item_ids(list: &Value, key: &str) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {list}"))
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn company_b_finds_none_of_company_a_flow_objects() {
    let srv = TestServer::start();
    let root = srv.admin_token();
    let a = tenant(&srv, &root, "Alpha");
    let b = tenant(&srv, &root, "Beta");

    // A's client uploads a folder and starts an analysis.
    let r = srv.post_multipart(
        "/api/folders/",
        Some(&a.client_token),
        &form(
            &[("p", "a.jpg", &data("obama.jpg"), &["photo_selfie"])],
            json!({"folder:meta_data": {"owner": "alpha"}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let folder = r.json();
    let fid = folder["folder_id"].as_str().expect("fid").to_string();
    let mid = folder["media"][0]["media_id"]
        .as_str()
        .expect("mid")
        .to_string();
    let url = folder["media"][0]["original_url"].as_str().expect("url");
    let file_path = url[url.find("/api/").expect("path")..].to_string();
    let r = srv.post_json(
        &format!("/api/folders/{fid}/analyses/"),
        Some(&a.client_token),
        &json!({"analyses": [{"type": "quality", "meta_data": {"k": "v"}}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let aid = r.json()[0]["analysis_id"]
        .as_str()
        .expect("aid")
        .to_string();

    let reads = [
        format!("/api/folders/{fid}"),
        format!("/api/folders/{fid}/?with_analyses=true&with_user=true&with_company=true"),
        format!("/api/folders/{fid}/media"),
        format!("/api/folders/{fid}/analyses"),
        format!("/api/folders/{fid}/meta_data"),
        format!("/api/media/{mid}"),
        format!("/api/media/{mid}/meta_data"),
        format!("/api/analyses/{aid}"),
        format!("/api/analyses/{aid}/meta_data"),
        file_path.clone(),
    ];
    for token in [&b.admin_token, &b.client_token] {
        for path in &reads {
            srv.get(path, Some(token)).assert_error(404, 10);
        }
        // Lists: none of A's objects, even when asked for A's folder by id.
        for path in [
            "/api/folders/".to_string(),
            "/api/media/".to_string(),
            "/api/analyses/".to_string(),
            format!("/api/media/?folder_id={fid}"),
            format!("/api/analyses/?folder_id={fid}"),
        ] {
            let r = srv.get(&path, Some(token));
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            assert_eq!(r.json()["items"], json!([]), "{path}");
            assert_eq!(r.json()["total"], 0, "{path}");
        }
    }
    for path in &reads {
        assert_eq!(srv.get(path, Some(&a.client_token)).status, 200, "{path}");
    }

    // Writes by B's company admin are refused as "not found" and change nothing.
    let t = &b.admin_token;
    srv.send_json(
        "PATCH",
        &format!("/api/media/{mid}"),
        Some(t),
        &json!({"tags": ["x"]}),
    )
    .assert_error(404, 10);
    for (method, path) in [
        ("POST", format!("/api/folders/{fid}/meta_data")),
        ("PATCH", format!("/api/media/{mid}/meta_data")),
        ("PATCH", format!("/api/analyses/{aid}/meta_data")),
    ] {
        srv.send_json(method, &path, Some(t), &json!({"owner": "beta"}))
            .assert_error(404, 10);
    }
    srv.post_json(
        &format!("/api/folders/{fid}/analyses/"),
        Some(t),
        &json!({"analyses": [{"type": "quality"}]}),
    )
    .assert_error(404, 10);
    srv.post_multipart(
        &format!("/api/folders/{fid}/media/"),
        Some(t),
        &form(&[("q", "b.jpg", &data("biden.jpg"), &[])], json!({})),
    )
    .assert_error(404, 10);
    for path in [
        format!("/api/media/{mid}"),
        format!("/api/analyses/{aid}"),
        format!("/api/folders/{fid}"),
    ] {
        srv.delete(&path, Some(t)).assert_error(404, 10);
    }
    let f = srv
        .get(
            &format!("/api/folders/{fid}/?with_analyses=true"),
            Some(&a.client_token),
        )
        .json();
    assert_eq!(f["meta_data"], json!({"owner": "alpha"}));
    assert_eq!(f["media"].as_array().map(Vec::len), Some(1));
    assert_eq!(f["media"][0]["tags"], json!(["photo_selfie"]));
    assert_eq!(f["analyses"].as_array().map(Vec::len), Some(1));
    assert_eq!(f["analyses"][0]["meta_data"], json!({"k": "v"}));

    // A's own lists hold exactly its objects.
    let m = srv.get("/api/media/", Some(&a.admin_token)).json();
    assert_eq!(item_ids(&m, "media_id"), vec![mid.clone()]);
    assert_eq!(m["total"], 1);
    let an = srv
        .get("/api/analyses/?type=quality", Some(&a.admin_token))
        .json();
    assert_eq!(item_ids(&an, "analysis_id"), vec![aid.clone()]);
    let none = srv
        .get("/api/analyses/?type=biometry", Some(&a.admin_token))
        .json();
    assert_eq!(none["items"], json!([]));

    // The creator and the company are embedded on request, within the caller's scope.
    let f = srv
        .get(
            &format!("/api/folders/{fid}/?with_user=true&with_company=true"),
            Some(&a.admin_token),
        )
        .json();
    assert_eq!(f["user"]["user_id"], a.client_user.as_str());
    assert_eq!(f["company"]["company_id"], a.company.as_str());
    assert_eq!(f["company"]["name"], "Alpha");
    let plain = srv
        .get(&format!("/api/folders/{fid}"), Some(&a.admin_token))
        .json();
    assert!(
        plain.get("user").is_none() && plain.get("company").is_none(),
        "{plain}"
    );
}

#[test]
fn an_admin_folder_belongs_to_the_company_it_names_or_to_staff_only() {
    let srv = TestServer::start();
    let root = srv.admin_token();
    let a = tenant(&srv, &root, "Alpha");
    let b = tenant(&srv, &root, "Beta");
    let photo = data("obama.jpg");
    let files: &[(&str, &str, &[u8], &[&str])] = &[("p", "a.jpg", &photo, &["photo_selfie"])];

    // Without company_id: a staff folder, seen by ADMIN only.
    let r = srv.post_multipart("/api/folders/", Some(&root), &form(files, json!({})));
    assert_eq!(r.status, 201, "{}", r.text());
    let staff = r.json()["folder_id"].as_str().expect("id").to_string();
    let v = srv
        .get(
            &format!("/api/folders/{staff}/?with_company=true"),
            Some(&root),
        )
        .json();
    assert_eq!(v["company"], Value::Null, "{v}");
    for t in [&a.admin_token, &b.admin_token] {
        srv.get(&format!("/api/folders/{staff}"), Some(t))
            .assert_error(404, 10);
    }

    // With A's company_id: A's folder, invisible to B.
    let r = srv.post_multipart(
        "/api/folders/",
        Some(&root),
        &form(files, json!({"company_id": a.company})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let fa = r.json()["folder_id"].as_str().expect("id").to_string();
    let v = srv
        .get(
            &format!("/api/folders/{fa}/?with_company=true&with_user=true"),
            Some(&a.client_token),
        )
        .json();
    assert_eq!(v["company"]["company_id"], a.company.as_str(), "{v}");
    // The creator is staff, which company users do not see.
    assert_eq!(v["user"], Value::Null, "{v}");
    let list = srv.get("/api/folders/", Some(&a.client_token)).json();
    assert_eq!(item_ids(&list, "folder_id"), vec![fa.clone()]);
    let media_id = srv
        .get(&format!("/api/folders/{fa}"), Some(&a.client_token))
        .json()["media"][0]["media_id"]
        .as_str()
        .expect("media")
        .to_string();
    assert_eq!(
        srv.get(&format!("/api/media/{media_id}"), Some(&a.client_token))
            .status,
        200
    );
    srv.get(&format!("/api/folders/{fa}"), Some(&b.client_token))
        .assert_error(404, 10);
    srv.get(&format!("/api/media/{media_id}"), Some(&b.client_token))
        .assert_error(404, 10);

    // An unknown company, or a company user naming another company, is "not found";
    // a company user naming its own company is fine.
    srv.post_multipart(
        "/api/folders/",
        Some(&root),
        &form(
            files,
            json!({"company_id": "00000000-0000-4000-8000-000000000001"}),
        ),
    )
    .assert_error(404, 10);
    srv.post_multipart(
        "/api/folders/",
        Some(&a.client_token),
        &form(files, json!({"company_id": b.company})),
    )
    .assert_error(404, 10);
    let r = srv.post_multipart(
        "/api/folders/",
        Some(&a.client_token),
        &form(files, json!({"company_id": a.company})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}
