//! Durability: an upload that got a 2xx survives `kill -9`; analyses that were PROCESSING when
//! the server died run again after the restart and every one reaches a final state.

mod common;
mod flow_support;

use common::{data, TestServer};
use flow_support::{company_user, form, wait_analysis};
use serde_json::json;

#[test]
fn uploads_survive_kill9_and_processing_jobs_resume() {
    let srv = TestServer::start_with(&[("FACELITE_ANALYSIS_WORKERS", "1")], &[]);
    let admin = srv.admin_token();
    let (_, t) = company_user(&srv, &admin, "durable", "CLIENT");
    let a = data("obama.jpg");
    let b = data("obama2.jpg");
    let f = form(
        &[("a", "a.jpg", &a, &[]), ("b", "b.jpg", &b, &[])],
        json!({}),
    );
    let folder = srv.post_multipart("/api/folders/", Some(&t), &f).json();
    let fid = folder["folder_id"].as_str().expect("id").to_string();
    let url = folder["media"][0]["original_url"]
        .as_str()
        .expect("url")
        .to_string();
    let path = url[url.find("/api/").expect("path")..].to_string();
    // Several analyses on one worker: most are still queued or running when the server dies.
    let r = srv.post_json(
        &format!("/api/folders/{fid}/analyses"),
        Some(&t),
        &json!({"analyses": [
            {"type": "biometry"}, {"type": "biometry"}, {"type": "biometry"},
            {"type": "biometry"}, {"type": "quality"}
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let ids: Vec<String> = r
        .json()
        .as_array()
        .expect("arr")
        .iter()
        .map(|x| x["analysis_id"].as_str().expect("id").to_string())
        .collect();
    let srv = srv.crash_and_restart();
    let t = srv
        .login("durable-client@example.test", "a-long-test-password-1")
        .0;
    // The upload is intact.
    let got = srv.get(&path, Some(&t));
    assert_eq!(got.status, 200);
    assert_eq!(got.body, a);
    // Every analysis reaches a final state with the right verdicts.
    for id in &ids {
        let done = wait_analysis(&srv, &t, id, 240);
        match done["type"].as_str() {
            Some("BIOMETRY") => {
                assert_eq!(done["state"], "FINISHED", "{done}");
                assert_eq!(done["resolution_status"], "SUCCESS", "{done}");
            }
            _ => assert_eq!(done["state"], "FAILED", "{done}"),
        }
    }
    let log = srv.log_text();
    assert!(
        log.contains("resuming"),
        "the restart resumed the PROCESSING jobs: {log}"
    );
    let folder = srv
        .get(&format!("/api/folders/{fid}?with_analyses=true"), Some(&t))
        .json();
    assert_ne!(folder["resolution_status"], "PROCESSING");
    // A graceful restart keeps everything as well.
    let srv = srv.restart();
    let t = srv
        .login("durable-client@example.test", "a-long-test-password-1")
        .0;
    assert_eq!(srv.get(&path, Some(&t)).body, a);
}
