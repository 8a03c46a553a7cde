//! The COLLECTION analysis over real HTTP: a probe photo of an enrolled person is found (DECLINED
//! with his person_id), another person is not (SUCCESS), another company cannot search the
//! collection, a matched person cannot be deleted until the analysis is gone, and the search
//! gives the same result after a restart.

mod common;

use std::time::{Duration, Instant};

use common::{data, Multipart, TestServer};
use serde_json::{json, Value};

const PW: &str = "a-long-test-password-1";

fn company_admin(srv: &TestServer, admin: &str, name: &str) -> (String, String, String) {
    let r = srv.post_json("/api/companies/", Some(admin), &json!({"name": name}));
    assert_eq!(r.status, 201, "company: {}", r.text());
    let company = r.json()["company_id"]
        .as_str()
        .expect("company_id")
        .to_string();
    let email = format!("{name}-admin@example.test");
    let r = srv.post_json(
        "/api/users/",
        Some(admin),
        &json!({"email": email, "password": PW, "user_type": "CLIENT_ADMIN", "company_id": company}),
    );
    assert_eq!(r.status, 201, "user: {}", r.text());
    let (token, _) = srv.login(&email, PW);
    (company, token, email)
}

/// A CLIENT of `company` (the integrator's account that runs the checks).
fn client(srv: &TestServer, admin: &str, company: &str, name: &str, collection: bool) -> String {
    let email = format!("{name}@example.test");
    let r = srv.post_json(
        "/api/users/",
        Some(admin),
        &json!({"email": email, "password": PW, "user_type": "CLIENT", "company_id": company,
                "can_start_analysis_collection": collection}),
    );
    assert_eq!(r.status, 201, "user: {}", r.text());
    srv.login(&email, PW).0
}

fn enrol(srv: &TestServer, token: &str, cid: &str, photos: &[&str]) -> String {
    let mut m = Multipart::new();
    for (i, p) in photos.iter().enumerate() {
        m = m.file(&format!("image{i}"), p, "image/jpeg", &data(p));
    }
    let m = m.text(
        "payload",
        &json!({"person:meta_data": {"person_info": {"last_name": photos[0]}}}).to_string(),
    );
    let r = srv.post_multipart(&format!("/api/collections/{cid}/persons/"), Some(token), &m);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["person_id"]
        .as_str()
        .expect("person_id")
        .to_string()
}

/// Uploads one photo in a new folder and runs a COLLECTION analysis; returns (folder id,
/// finished analysis).
fn check(srv: &TestServer, token: &str, photo: &str, params: Value) -> (String, Value) {
    let m = Multipart::new()
        .file("photo1", photo, "image/jpeg", &data(photo))
        .text(
            "payload",
            &json!({"media:tags": {"photo1": ["photo_selfie"]}}).to_string(),
        );
    let r = srv.post_multipart("/api/folders/", Some(token), &m);
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let folder = r.json()["folder_id"]
        .as_str()
        .expect("folder_id")
        .to_string();
    let r = srv.post_json(
        &format!("/api/folders/{folder}/analyses/"),
        Some(token),
        &json!({"analyses": [{"type": "collection", "params": params}]}),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let id = r.json()[0]["analysis_id"]
        .as_str()
        .expect("analysis_id")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = srv.get(&format!("/api/analyses/{id}"), Some(token)).json();
        if v["state"] != "PROCESSING" {
            return (folder, v);
        }
        assert!(Instant::now() < deadline, "still PROCESSING: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn blacklist_check_finds_the_enrolled_person_only_within_the_company() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (a_co, a, a_email) = company_admin(&srv, &admin, "acme");
    let kiosk = client(&srv, &admin, &a_co, "kiosk", true);
    let barred = client(&srv, &admin, &a_co, "barred", false);
    let (_, b, _) = company_admin(&srv, &admin, "bravo");
    let cid = srv
        .post_json(
            "/api/collections/",
            Some(&a),
            &json!({"alias": "blacklist"}),
        )
        .json()["collection_id"]
        .as_str()
        .expect("collection_id")
        .to_string();
    let obama = enrol(&srv, &a, &cid, &["obama.jpg", "obama2.jpg"]);
    let grace = enrol(&srv, &a, &cid, &["grace_hopper.jpg"]);

    // A CLIENT may read collections but not change them.
    srv.post_json("/api/collections/", Some(&kiosk), &json!({"alias": "x"}))
        .assert_error(403, 9);

    // An account without the collection flag may not start the check.
    let m = Multipart::new().file("photo1", "p.jpg", "image/jpeg", &data("obama3.jpg"));
    let r = srv.post_multipart("/api/folders/", Some(&barred), &m);
    let f = r.json()["folder_id"]
        .as_str()
        .expect("folder_id")
        .to_string();
    srv.post_json(
        &format!("/api/folders/{f}/analyses/"),
        Some(&barred),
        &json!({"analyses": [{"type": "COLLECTION"}]}),
    )
    .assert_error(403, 9);

    // The same person on another photo is found (the company's CLIENT runs the check).
    let (hit_folder, hit) = check(&srv, &kiosk, "obama3.jpg", json!({}));
    assert_eq!(hit["type"], "COLLECTION");
    assert_eq!(hit["collection"]["alias"], "blacklist", "{hit}");
    assert_eq!(hit["results_data"]["person_id"], obama.as_str(), "{hit}");
    assert_eq!(hit["resolution_status"], "DECLINED", "{hit}");
    let rm = &hit["results_media"][0];
    assert_eq!(rm["results_data"]["person_id"], obama.as_str(), "{hit}");
    assert_eq!(rm["person_id"], obama.as_str(), "{hit}");
    let conf = rm["results_data"]["max_confidence"]
        .as_f64()
        .expect("confidence");
    assert!(conf >= 0.85, "{conf}");
    assert!(rm["results_data"]["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .all(|m| m["person_id"] != grace.as_str()));

    // Another person is not.
    let (_, miss) = check(&srv, &a, "biden.jpg", json!({}));
    assert_eq!(miss["resolution_status"], "SUCCESS", "{miss}");
    assert!(
        miss["results_media"][0]["results_data"]["person_id"].is_null(),
        "{miss}"
    );
    let best = miss["results_media"][0]["results_data"]["max_confidence"]
        .as_f64()
        .expect("conf");
    assert!(best < 0.85, "{best}");
    let overall = miss["results_data"]["max_confidence"]
        .as_f64()
        .expect("conf");
    assert!((overall - best).abs() < 1e-6, "{miss}");
    assert!(miss["results_data"]["person_id"].is_null(), "{miss}");

    // Folder listing by analysis type.
    let list = srv
        .get(
            "/api/folders/?analyse.type=COLLECTION&with_analyses=true",
            Some(&a),
        )
        .json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2), "{list}");

    // Company B cannot search A's collection: neither by default nor by naming it.
    let (_, none) = check(&srv, &b, "obama3.jpg", json!({}));
    assert_eq!(none["state"], "FAILED", "{none}");
    let (_, named) = check(&srv, &b, "obama3.jpg", json!({"collection_id": cid}));
    assert_eq!(named["state"], "FAILED", "{named}");
    assert!(!named.to_string().contains(&obama));

    // The matched person cannot be deleted while the analysis exists.
    let r = srv.delete(&format!("/api/collections/{cid}/persons/{obama}"), Some(&a));
    let msg = r.assert_error(409, 4);
    assert!(msg.contains("analyses"), "{msg}");
    assert_eq!(
        r.json()["details"]["analysis_ids"],
        json!([hit["analysis_id"]])
    );
    // Grace was not matched: she can go.
    let r = srv.delete(&format!("/api/collections/{cid}/persons/{grace}"), Some(&a));
    assert_eq!(r.status, 204, "{}", r.text());

    // Restart: the index is rebuilt from the store and finds the same person.
    let srv = srv.restart();
    let (a, _) = srv.login(&a_email, PW);
    let (_, again) = check(&srv, &a, "obama3.jpg", json!({"collection_id": cid}));
    assert_eq!(again["resolution_status"], "DECLINED", "{again}");
    assert_eq!(again["results_media"][0]["person_id"], obama.as_str());
    let conf2 = again["results_media"][0]["results_data"]["max_confidence"]
        .as_f64()
        .expect("conf");
    assert!((conf2 - conf).abs() < 1e-6, "{conf} vs {conf2}");

    // Deleting the first matching analysis is not enough while the second one exists.
    let first = hit["analysis_id"].as_str().expect("analysis_id");
    let r = srv.delete(&format!("/api/analyses/{first}"), Some(&a));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = srv.delete(&format!("/api/collections/{cid}/persons/{obama}"), Some(&a));
    r.assert_error(409, 4);
    assert_eq!(
        r.json()["details"]["analysis_ids"],
        json!([again["analysis_id"]])
    );

    // Deleting the folders (and so their analyses) frees the person.
    for f in srv
        .get("/api/folders/?analyse.type=COLLECTION", Some(&a))
        .json()["items"]
        .as_array()
        .expect("items")
    {
        let id = f["folder_id"].as_str().expect("folder_id");
        let r = srv.delete(&format!("/api/folders/{id}"), Some(&a));
        assert!(r.status == 200 || r.status == 204, "{}", r.text());
    }
    let _ = hit_folder;
    let r = srv.delete(&format!("/api/collections/{cid}/persons/{obama}"), Some(&a));
    assert_eq!(r.status, 204, "{}", r.text());
}

/// COLLECTION analyses still queued or running when the server dies run again after the
/// restart, on the index rebuilt from the store, and report the enrolled person.
#[test]
fn queued_collection_checks_resume_after_a_crash() {
    let srv = TestServer::start_with(&[("FACELITE_ANALYSIS_WORKERS", "1")], &[]);
    let admin = srv.admin_token();
    let (_, a, a_email) = company_admin(&srv, &admin, "resume");
    let cid = srv
        .post_json("/api/collections/", Some(&a), &json!({"alias": "watch"}))
        .json()["collection_id"]
        .as_str()
        .expect("collection_id")
        .to_string();
    let obama = enrol(&srv, &a, &cid, &["obama.jpg", "obama2.jpg"]);
    let m = Multipart::new().file("photo1", "p.jpg", "image/jpeg", &data("obama3.jpg"));
    let folder = srv.post_multipart("/api/folders/", Some(&a), &m).json()["folder_id"]
        .as_str()
        .expect("folder_id")
        .to_string();
    // Several checks on one worker: most are still queued when the server dies.
    let r = srv.post_json(
        &format!("/api/folders/{folder}/analyses/"),
        Some(&a),
        &json!({"analyses": vec![json!({"type": "collection"}); 8]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let ids: Vec<String> = r
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x["analysis_id"].as_str().expect("id").to_string())
        .collect();
    let srv = srv.crash_and_restart();
    let (a, _) = srv.login(&a_email, PW);
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(120);
        let done = loop {
            let v = srv.get(&format!("/api/analyses/{id}"), Some(&a)).json();
            if v["state"] != "PROCESSING" {
                break v;
            }
            assert!(Instant::now() < deadline, "still PROCESSING: {v}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(done["resolution_status"], "DECLINED", "{done}");
        assert_eq!(
            done["results_media"][0]["person_id"],
            obama.as_str(),
            "{done}"
        );
    }
    let log = srv.log_text();
    assert!(log.contains("resuming"), "{log}");
    // Every one of them holds the person.
    let r = srv.delete(&format!("/api/collections/{cid}/persons/{obama}"), Some(&a));
    r.assert_error(409, 4);
    assert_eq!(
        r.json()["details"]["analysis_ids"].as_array().map(Vec::len),
        Some(ids.len())
    );
}

/// Every person an analysis matched at or above the threshold is held, not only each media's
/// best match: the runner-up cannot be deleted (which would leave its id dangling in
/// `results_data.matches`) until the analysis is gone.
#[test]
fn every_matched_person_is_held_not_only_the_best() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, a, _) = company_admin(&srv, &admin, "twice");
    let cid = srv
        .post_json("/api/collections/", Some(&a), &json!({"alias": "dup"}))
        .json()["collection_id"]
        .as_str()
        .expect("collection_id")
        .to_string();
    // The same man enrolled twice, as two persons.
    let one = enrol(&srv, &a, &cid, &["obama.jpg"]);
    let two = enrol(&srv, &a, &cid, &["obama2.jpg"]);
    let (folder, hit) = check(&srv, &a, "obama3.jpg", json!({}));
    assert_eq!(hit["resolution_status"], "DECLINED", "{hit}");
    let rm = &hit["results_media"][0];
    let mut matched: Vec<&str> = rm["results_data"]["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .filter_map(|m| m["person_id"].as_str())
        .collect();
    matched.sort_unstable();
    let mut want = vec![one.as_str(), two.as_str()];
    want.sort_unstable();
    assert_eq!(matched, want, "both persons match: {hit}");
    let best = rm["person_id"].as_str().expect("person_id");
    let runner_up = if best == one { &two } else { &one };
    assert_ne!(best, runner_up.as_str());

    for p in [runner_up.as_str(), best] {
        let r = srv.delete(&format!("/api/collections/{cid}/persons/{p}"), Some(&a));
        r.assert_error(409, 4);
        assert_eq!(
            r.json()["details"]["analysis_ids"],
            json!([hit["analysis_id"]]),
            "{p}"
        );
    }
    // Once the folder (and so the analysis) is deleted, both can go.
    let r = srv.delete(&format!("/api/folders/{folder}"), Some(&a));
    assert!(r.status == 200 || r.status == 204, "{}", r.text());
    for p in [runner_up.as_str(), best] {
        let r = srv.delete(&format!("/api/collections/{cid}/persons/{p}"), Some(&a));
        assert_eq!(r.status, 204, "{p}: {}", r.text());
    }
}
