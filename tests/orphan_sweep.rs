//! Orphans are swept: files written just before a crash and never referenced by a record (an
//! upload or a best shot whose transaction never committed, a person image likewise) are
//! removed at the next start; every referenced file still downloads byte for byte.

mod common;
mod flow_support;

use std::path::{Path, PathBuf};

use common::{data, Multipart, TestServer};
use flow_support::{company_user, form, wait_analysis};
use serde_json::{json, Value};
use uuid::Uuid;

/// The path part (`/api/...`) of a served URL.
fn api_path(url: &Value) -> String {
    let url = url.as_str().expect("url");
    url[url.find("/api/").expect("api path")..].to_string()
}

fn plant(path: PathBuf, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("plant");
    path
}

fn files_under(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn unreferenced_files_are_removed_at_start_and_referenced_ones_kept() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (company, t) = company_user(&srv, &admin, "sweep", "CLIENT_ADMIN");

    // Referenced files of every kind: two uploads, a video and its best shot, a person image.
    let (a, b) = (data("obama.jpg"), data("biden.jpg"));
    let r = srv.post_multipart(
        "/api/folders/",
        Some(&t),
        &form(
            &[("a", "a.jpg", &a, &[]), ("b", "b.jpg", &b, &[])],
            json!({}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let folder = r.json();
    let folder_id = folder["folder_id"].as_str().expect("id").to_string();
    let mut expected: Vec<(String, Vec<u8>)> = vec![
        (api_path(&folder["media"][0]["original_url"]), a.clone()),
        (api_path(&folder["media"][1]["original_url"]), b.clone()),
    ];
    let clip = data("media/gesture_turn.mp4");
    let r = srv.post_multipart(
        "/api/folders/",
        Some(&t),
        &form(
            &[(
                "video1",
                "turn.mp4",
                &clip,
                &["video_selfie", "video_selfie_left"],
            )],
            json!({}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let video = r.json();
    let video_folder = video["folder_id"].as_str().expect("id").to_string();
    expected.push((api_path(&video["media"][0]["original_url"]), clip.clone()));
    let r = srv.post_json(
        &format!("/api/folders/{video_folder}/analyses/"),
        Some(&t),
        &json!({"analyses": [{"type": "quality", "params": {"extract_best_shot": true}}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let done = wait_analysis(
        &srv,
        &t,
        r.json()[0]["analysis_id"].as_str().expect("id"),
        240,
    );
    assert_eq!(done["state"], "FINISHED", "{done}");
    let shot_path = api_path(&done["results_media"][0]["output_images"][0]["original_url"]);
    let shot = srv.get(&shot_path, Some(&t));
    assert_eq!(shot.status, 200);
    expected.push((shot_path, shot.body.clone()));

    let r = srv.post_json(
        "/api/collections/",
        Some(&t),
        &json!({"alias": "watchlist"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let collection = r.json()["collection_id"].as_str().expect("id").to_string();
    let face = data("obama2.jpg");
    let person = Multipart::new()
        .file("image1", "image1.jpg", "image/jpeg", &face)
        .text(
            "payload",
            &json!({"media:tags": {"image1": ["photo_selfie", "orientation_portrait"]}})
                .to_string(),
        );
    let r = srv.post_multipart(
        &format!("/api/collections/{collection}/persons/"),
        Some(&t),
        &person,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    expected.push((
        api_path(&r.json()["images"][0]["original_url"]),
        face.clone(),
    ));

    for (path, bytes) in &expected {
        let got = srv.get(path, Some(&t));
        assert_eq!(got.status, 200, "{path}: {}", got.text());
        assert_eq!(&got.body, bytes, "{path}");
    }

    // A crash, then the files a crash between file write and commit leaves behind.
    let mut srv = srv;
    srv.kill9();
    let dir = srv.data_dir.clone();
    let media = dir.join("media");
    let folder_dir = media.join(&company).join(&folder_id);
    assert!(
        files_under(&folder_dir) == 2,
        "the uploads live in {}",
        folder_dir.display()
    );
    let stray_folder = Uuid::new_v4().to_string();
    let planted = [
        // An upload into an existing folder that never committed.
        plant(folder_dir.join(format!("{}.jpg", Uuid::new_v4())), &a),
        // A best shot whose result was never stored.
        plant(
            media
                .join(&company)
                .join(&video_folder)
                .join(format!("{}.jpg", Uuid::new_v4())),
            &shot.body,
        ),
        // A new folder's upload whose transaction never committed.
        plant(
            media
                .join(&company)
                .join(&stray_folder)
                .join(format!("{}.mp4", Uuid::new_v4())),
            &clip,
        ),
        // A person image whose record never committed.
        plant(
            dir.join("collections")
                .join(&company)
                .join(&collection)
                .join(format!("{}.jpg", Uuid::new_v4())),
            &face,
        ),
    ];
    let planted_bytes = (a.len() + shot.body.len() + clip.len() + face.len()) as u64;

    let srv = srv.restart();
    for p in &planted {
        assert!(!p.exists(), "{} was not swept", p.display());
    }
    assert!(
        !media.join(&company).join(&stray_folder).exists(),
        "the emptied folder directory is removed too"
    );
    let log = srv.log_text();
    assert!(
        log.contains(&format!(
            "facelite: sweep: removed 4 unreferenced files ({planted_bytes} bytes)"
        )),
        "{log}"
    );
    // Everything referenced is intact.
    let t = srv
        .login("sweep-client_admin@example.test", "a-long-test-password-1")
        .0;
    for (path, bytes) in &expected {
        let got = srv.get(path, Some(&t));
        assert_eq!(got.status, 200, "{path}: {}", got.text());
        assert_eq!(&got.body, bytes, "{path} changed");
    }
    assert_eq!(files_under(&folder_dir), 2);

    // A clean restart finds nothing more to remove.
    let srv = srv.restart();
    assert!(
        srv.log_text()
            .contains("facelite: sweep: removed 0 unreferenced files (0 bytes)"),
        "{}",
        srv.log_text()
    );
}
