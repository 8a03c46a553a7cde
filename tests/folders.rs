//! Folders, media, files and metadata over real HTTP: uploads with tags and metadata, the list
//! filters, roles for deletion, limits that refuse a request and store nothing, and tenant
//! isolation.

mod common;
mod flow_support;

use common::{data, Multipart, TestServer};
use flow_support::{company_user, form, stored_files};
use serde_json::{json, Value};

#[test]
fn upload_with_tags_and_metadata_then_read_media_and_files() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, client) = company_user(&srv, &admin, "acme", "CLIENT");
    let obama = data("obama.jpg");
    let f = form(
        &[
            ("photo1", "selfie.jpg", &obama, &["photo_selfie"]),
            ("untagged", "other.jpg", &data("grace_hopper.jpg"), &[]),
        ],
        json!({
            "folder:meta_data": {"customer_session_id": "sess-42", "partner_side_folder_id": "p-1"},
            "media:meta_data": {"photo1": {"camera": "front"}}
        }),
    );
    let r = srv.post_multipart("/api/folders/", Some(&client), &f);
    assert_eq!(r.status, 201, "{}", r.text());
    let folder = r.json();
    let fid = folder["folder_id"].as_str().expect("folder_id").to_string();
    assert_eq!(folder["resolution_status"], "INITIAL");
    assert_eq!(folder["meta_data"]["customer_session_id"], "sess-42");
    let media = folder["media"].as_array().expect("media");
    assert_eq!(media.len(), 2);
    assert_eq!(media[0]["media_type"], "IMAGE_FOLDER");
    assert_eq!(media[0]["tags"], json!(["photo_selfie"]));
    assert_eq!(media[0]["meta_data"]["camera"], "front");
    assert_eq!(media[1]["tags"], json!([]));
    // The file is served at its original_url, byte for byte, with the token only.
    let url = media[0]["original_url"].as_str().expect("url");
    let path = &url[url.find("/api/").expect("path")..];
    assert_eq!(srv.get(path, None).status, 401);
    let file = srv.get(path, Some(&client));
    assert_eq!(file.status, 200);
    assert_eq!(file.body, obama);
    assert_eq!(file.header("content-type"), Some("image/jpeg"));
    // Add media: a JSON array; untagged accepted; PATCH tags.
    let r = srv.post_multipart(
        &format!("/api/folders/{fid}/media"),
        Some(&client),
        &Multipart::new().file("media", "b.jpg", "image/jpeg", &data("biden.jpg")),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let added = r.json();
    let mid = added[0]["media_id"].as_str().expect("media_id").to_string();
    let r = srv.send_json(
        "PATCH",
        &format!("/api/media/{mid}/"),
        Some(&client),
        &json!({"tags": ["photo_id", "photo_id_front"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["tags"], json!(["photo_id", "photo_id_front"]));
    let r = srv.get(&format!("/api/folders/{fid}/media"), Some(&client));
    assert_eq!(r.json().as_array().map(Vec::len), Some(3));
    // Metadata sub-resources.
    let r = srv.send_json(
        "PATCH",
        &format!("/api/folders/{fid}/meta_data"),
        Some(&client),
        &json!({"client_iin": "123"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["customer_session_id"], "sess-42");
    assert_eq!(r.json()["client_iin"], "123");
    let r = srv.post_json(
        &format!("/api/media/{mid}/meta_data"),
        Some(&client),
        &json!({"k": 1}),
    );
    assert_eq!(r.json(), json!({"k": 1}));
    let r = srv.delete(&format!("/api/media/{mid}/meta_data"), Some(&client));
    assert_eq!(r.json(), json!({}));
    assert_eq!(
        srv.get(&format!("/api/folders/{fid}/meta_data"), Some(&client))
            .json()["client_iin"],
        "123"
    );
}

#[test]
fn list_filters_sorting_and_deletion_roles() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, client) = company_user(&srv, &admin, "listco", "CLIENT");
    let mut ids = Vec::new();
    for i in 0..3 {
        let f = form(
            &[],
            json!({"folder:meta_data": {"customer_session_id": format!("s{i}")}}),
        );
        let r = srv.post_multipart("/api/folders", Some(&client), &f);
        assert_eq!(r.status, 201, "{}", r.text());
        ids.push(r.json()["folder_id"].as_str().expect("id").to_string());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = srv.get(
        "/api/folders/?meta_data=customer_session_id==s1",
        Some(&client),
    );
    let items = r.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["folder_id"], ids[1].as_str());
    let r = srv.get(
        "/api/folders/?meta_data=customer_session_id!=s1",
        Some(&client),
    );
    assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(2));
    let r = srv.get(
        "/api/folders/?sorting=time_created%7Basc%7D&limit=2",
        Some(&client),
    );
    let v = r.json();
    assert_eq!(v["total"], 3);
    let got: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["folder_id"].as_str())
        .collect();
    assert_eq!(got, vec![ids[0].as_str(), ids[1].as_str()]);
    let r = srv.get(
        "/api/folders/?sorting=time_created%7Bdesc%7D&offset=2",
        Some(&client),
    );
    assert_eq!(r.json()["items"][0]["folder_id"], ids[0].as_str());
    let r = srv.get("/api/folders/?resolution_status=INITIAL", Some(&client));
    assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(3));
    let r = srv.get("/api/folders/?resolution_status=FINISHED", Some(&client));
    assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(0));
    let r = srv.get("/api/folders/?time_created.min=99999999999", Some(&client));
    assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(0));
    srv.get("/api/folders/?sorting=bogus", Some(&client))
        .assert_error(400, 4);
    // CLIENT may not delete; CLIENT_ADMIN of the company may.
    srv.delete(&format!("/api/folders/{}", ids[0]), Some(&client))
        .assert_error(403, 9);
    let (_, other_admin) = company_user(&srv, &admin, "otherco", "CLIENT_ADMIN");
    srv.delete(&format!("/api/folders/{}", ids[0]), Some(&other_admin))
        .assert_error(404, 10);
    let r = srv.delete(&format!("/api/folders/{}", ids[0]), Some(&admin));
    assert_eq!(r.status, 200, "{}", r.text());
    srv.get(&format!("/api/folders/{}", ids[0]), Some(&client))
        .assert_error(404, 10);
}

#[test]
fn refused_uploads_store_nothing() {
    let srv = TestServer::start_with(
        &[
            ("FACELITE_LIMITS_MAX_FILE_BYTES", "300000"),
            ("FACELITE_LIMITS_MAX_FILES_PER_REQUEST", "2"),
            ("FACELITE_LIMITS_MAX_IMAGE_PIXELS", "2000000"),
        ],
        &[],
    );
    let admin = srv.admin_token();
    let (_, client) = company_user(&srv, &admin, "limits", "CLIENT");
    let small = data("grace_hopper.jpg");
    let cases: Vec<(Multipart, u16, i64, &str)> = vec![
        // Payload names a part that does not exist.
        (
            Multipart::new()
                .file("photo1", "a.jpg", "image/jpeg", &small)
                .text("payload", r#"{"media:tags":{"video2":["video_selfie"]}}"#),
            400,
            4,
            "video2",
        ),
        // Not an image, whatever the client claims.
        (
            Multipart::new().file(
                "photo1",
                "a.jpg",
                "image/jpeg",
                b"this is not an image at all",
            ),
            415,
            5,
            "not a supported",
        ),
        // Too big a file (biden.jpg is 353 kB > 300 kB).
        (
            Multipart::new().file("photo1", "b.jpg", "image/jpeg", &data("biden.jpg")),
            413,
            4,
            "exceeds",
        ),
        // Too many files.
        (
            Multipart::new()
                .file("a", "a.jpg", "image/jpeg", &small)
                .file("b", "b.jpg", "image/jpeg", &small)
                .file("c", "c.jpg", "image/jpeg", &small),
            413,
            4,
            "files",
        ),
        // Broken payload JSON after a valid file.
        (
            Multipart::new()
                .file("photo1", "a.jpg", "image/jpeg", &small)
                .text("payload", "{not json"),
            400,
            3,
            "payload",
        ),
        // Truncated JPEG header.
        (
            Multipart::new().file("photo1", "a.jpg", "image/jpeg", &small[..40]),
            400,
            4,
            "readable",
        ),
    ];
    for (i, (f, status, code, needle)) in cases.into_iter().enumerate() {
        let r = srv.post_multipart("/api/folders/", Some(&client), &f);
        let msg = r.assert_error(status, code);
        assert!(msg.contains(needle), "case {i}: {msg}");
    }
    // A body that is not multipart at all, claiming to be.
    let r = common::http(
        "POST",
        &srv.url("/api/folders/"),
        &[
            ("X-Forensic-Access-Token".into(), client.clone()),
            (
                "Content-Type".into(),
                "multipart/form-data; boundary=zzz".into(),
            ),
        ],
        b"garbage without boundaries",
    );
    assert!(r.status >= 400 && r.status < 500, "{}", r.text());
    // Nothing was stored: no folder, no file, no staging leftovers.
    let r = srv.get("/api/folders/", Some(&client));
    assert_eq!(r.json()["total"], 0, "{}", r.text());
    assert_eq!(stored_files(&srv.data_dir), 0);
    // And a valid upload still works.
    let r = srv.post_multipart(
        "/api/folders/",
        Some(&client),
        &Multipart::new().file("p", "a.jpg", "image/jpeg", &small),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(stored_files(&srv.data_dir), 1);
}

#[test]
fn tenants_cannot_see_each_others_folders_media_files_or_analyses() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, a) = company_user(&srv, &admin, "companya", "CLIENT");
    let (_, b) = company_user(&srv, &admin, "companyb", "CLIENT_ADMIN");
    let r = srv.post_multipart(
        "/api/folders/",
        Some(&a),
        &form(
            &[("p", "a.jpg", &data("obama.jpg"), &["photo_selfie"])],
            json!({}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let folder = r.json();
    let fid = folder["folder_id"].as_str().expect("id");
    let mid = folder["media"][0]["media_id"].as_str().expect("mid");
    let url = folder["media"][0]["original_url"].as_str().expect("url");
    let file_path = &url[url.find("/api/").expect("path")..];
    let r = srv.post_json(
        &format!("/api/folders/{fid}/analyses/"),
        Some(&a),
        &json!({"analyses": [{"type": "quality"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let aid = r.json()[0]["analysis_id"]
        .as_str()
        .expect("aid")
        .to_string();
    for path in [
        format!("/api/folders/{fid}"),
        format!("/api/folders/{fid}/media"),
        format!("/api/folders/{fid}/analyses"),
        format!("/api/folders/{fid}/meta_data"),
        format!("/api/media/{mid}"),
        format!("/api/analyses/{aid}"),
        file_path.to_string(),
    ] {
        srv.get(&path, Some(&b)).assert_error(404, 10);
        assert_eq!(srv.get(&path, Some(&a)).status, 200, "{path}");
    }
    srv.delete(&format!("/api/folders/{fid}"), Some(&b))
        .assert_error(404, 10);
    let r = srv.get("/api/folders/", Some(&b));
    assert_eq!(r.json()["items"], Value::Array(vec![]));
    // The ADMIN sees everything.
    assert_eq!(
        srv.get(&format!("/api/folders/{fid}"), Some(&admin)).status,
        200
    );
}

#[test]
fn media_and_analyses_lists_across_folders_page_sort_and_filter() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, client) = company_user(&srv, &admin, "pagesco", "CLIENT");
    let photo = data("obama.jpg");
    let mut media = Vec::new();
    let mut folders = Vec::new();
    for (i, tag) in ["photo_selfie", "photo_id", "photo_selfie"]
        .iter()
        .enumerate()
    {
        let f = form(
            &[("p", "a.jpg", &photo, &[tag])],
            json!({"media:meta_data": {"p": {"n": format!("m{i}")}}}),
        );
        let r = srv.post_multipart("/api/folders/", Some(&client), &f);
        assert_eq!(r.status, 201, "{}", r.text());
        let v = r.json();
        folders.push(v["folder_id"].as_str().expect("fid").to_string());
        media.push(v["media"][0]["media_id"].as_str().expect("mid").to_string());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let list_ids = |path: &str, key: &str| -> (Vec<String>, Value) {
        let r = srv.get(path, Some(&client));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let v = r.json();
        let ids = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i[key].as_str().unwrap_or_default().to_string())
            .collect();
        (ids, v)
    };
    // Newest first by default; paging keeps the total.
    let (ids, v) = list_ids("/api/media/?limit=2", "media_id");
    assert_eq!(ids, vec![media[2].clone(), media[1].clone()]);
    assert_eq!(v["total"], 3);
    let (ids, _) = list_ids(
        "/api/media/?sorting=time_created%7Basc%7D&offset=1",
        "media_id",
    );
    assert_eq!(ids, vec![media[1].clone(), media[2].clone()]);
    let (ids, _) = list_ids("/api/media/?tag=photo_id", "media_id");
    assert_eq!(ids, vec![media[1].clone()]);
    let (ids, _) = list_ids("/api/media/?meta_data=n==m0", "media_id");
    assert_eq!(ids, vec![media[0].clone()]);
    let (ids, _) = list_ids(&format!("/api/media/?folder_id={}", folders[2]), "media_id");
    assert_eq!(ids, vec![media[2].clone()]);
    let (_, v) = list_ids("/api/media/?total_omit=true", "media_id");
    assert!(v.get("total").is_none(), "{v}");
    srv.get("/api/media/?limit=x", Some(&client))
        .assert_error(400, 4);
    srv.get("/api/media/?folder_id=nope", Some(&client))
        .assert_error(400, 4);

    // Analyses of every folder, with the folder analyses filters.
    let mut analyses = Vec::new();
    for (i, f) in folders.iter().enumerate() {
        let kind = if i == 1 { "biometry" } else { "quality" };
        let r = srv.post_json(
            &format!("/api/folders/{f}/analyses/"),
            Some(&client),
            &json!({"analyses": [{"type": kind}]}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        analyses.push(
            r.json()[0]["analysis_id"]
                .as_str()
                .expect("aid")
                .to_string(),
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (ids, v) = list_ids("/api/analyses/", "analysis_id");
    assert_eq!(
        ids,
        vec![
            analyses[2].clone(),
            analyses[1].clone(),
            analyses[0].clone()
        ]
    );
    assert_eq!(v["total"], 3);
    assert_eq!(v["items"][0]["folder_id"], folders[2].as_str());
    let (ids, _) = list_ids("/api/analyses/?type=BIOMETRY", "analysis_id");
    assert_eq!(ids, vec![analyses[1].clone()]);
    let (ids, _) = list_ids(
        "/api/analyses/?type.exclude=biometry&limit=1",
        "analysis_id",
    );
    assert_eq!(ids, vec![analyses[2].clone()]);
    let (ids, _) = list_ids(
        &format!("/api/analyses/?folder_id={}", folders[0]),
        "analysis_id",
    );
    assert_eq!(ids, vec![analyses[0].clone()]);
}

#[test]
fn folder_list_filters_by_analysis_type_and_refuses_unknown_types() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (_, client) = company_user(&srv, &admin, "typeco", "CLIENT");
    let photo = data("obama.jpg");
    let mut folders = Vec::new();
    for kind in ["quality", "biometry", "quality", ""] {
        let f = form(&[("p", "a.jpg", &photo, &["photo_selfie"])], json!({}));
        let r = srv.post_multipart("/api/folders/", Some(&client), &f);
        assert_eq!(r.status, 201, "{}", r.text());
        let fid = r.json()["folder_id"].as_str().expect("fid").to_string();
        if !kind.is_empty() {
            let r = srv.post_json(
                &format!("/api/folders/{fid}/analyses/"),
                Some(&client),
                &json!({"analyses": [{"type": kind}]}),
            );
            assert_eq!(r.status, 201, "{}", r.text());
        }
        folders.push(fid);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ids = |path: &str| -> Vec<String> {
        let r = srv.get(path, Some(&client));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let mut ids: Vec<String> = r.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["folder_id"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(ids("/api/folders/").len(), 4);
    assert_eq!(
        ids("/api/folders/?analyse.type=BIOMETRY"),
        vec![folders[1].clone()]
    );
    assert_eq!(
        ids("/api/folders/?analyse.type=QUALITY"),
        sorted(vec![folders[0].clone(), folders[2].clone()])
    );
    assert_eq!(
        ids("/api/folders/?analyse.type=quality,BIOMETRY"),
        sorted(folders[..3].to_vec())
    );
    assert!(ids("/api/folders/?analyse.type=COLLECTION").is_empty());
    // An unknown type is a bad parameter, not a silently dropped filter.
    let msg = srv
        .get("/api/folders/?analyse.type=BIOMETRYY", Some(&client))
        .assert_error(400, 4);
    assert!(msg.contains("BIOMETRYY"), "{msg}");
    srv.get("/api/folders/?analyse.type=quality,nope", Some(&client))
        .assert_error(400, 4);
}

#[test]
fn deleting_a_media_removes_it_and_its_file_for_company_admins_only() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (company, cadmin) = company_user(&srv, &admin, "mediadel", "CLIENT_ADMIN");
    let r = srv.post_json(
        "/api/users/",
        Some(&admin),
        &json!({
            "email": "mediadel-plain@example.test", "password": "a-long-test-password-1",
            "user_type": "CLIENT", "company_id": company, "first_name": "T", "last_name": "U"
        }),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let (client, _) = srv.login("mediadel-plain@example.test", "a-long-test-password-1");
    let (_, stranger) = company_user(&srv, &admin, "mediadel2", "CLIENT_ADMIN");
    let f = form(
        &[
            ("keep", "a.jpg", &data("grace_hopper.jpg"), &[]),
            ("drop", "b.jpg", &data("obama.jpg"), &["photo_selfie"]),
        ],
        json!({}),
    );
    let r = srv.post_multipart("/api/folders/", Some(&client), &f);
    assert_eq!(r.status, 201, "{}", r.text());
    let folder = r.json();
    let fid = folder["folder_id"].as_str().expect("fid").to_string();
    let mid = folder["media"][1]["media_id"]
        .as_str()
        .expect("mid")
        .to_string();
    let url = folder["media"][1]["original_url"].as_str().expect("url");
    let file_path = url[url.find("/api/").expect("path")..].to_string();
    assert_eq!(stored_files(&srv.data_dir), 2);
    // A CLIENT may not delete; another company does not see the media.
    srv.delete(&format!("/api/media/{mid}"), Some(&client))
        .assert_error(403, 9);
    srv.delete(&format!("/api/media/{mid}"), Some(&stranger))
        .assert_error(404, 10);
    assert_eq!(srv.get(&file_path, Some(&client)).status, 200);
    // The company administrator may: the media, its file and its bytes are gone.
    let r = srv.delete(&format!("/api/media/{mid}"), Some(&cadmin));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["deleted"], true);
    srv.get(&format!("/api/media/{mid}"), Some(&client))
        .assert_error(404, 10);
    srv.get(&file_path, Some(&client)).assert_error(404, 10);
    srv.delete(&format!("/api/media/{mid}"), Some(&cadmin))
        .assert_error(404, 10);
    let media = srv
        .get(&format!("/api/folders/{fid}/media"), Some(&client))
        .json();
    assert_eq!(media.as_array().map(Vec::len), Some(1), "{media}");
    assert_ne!(media[0]["media_id"], mid.as_str());
    assert_eq!(stored_files(&srv.data_dir), 1);
}

/// A PNG whose header claims `w` x `h` pixels (the pixel data is never read).
fn png_header_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    // 8-bit RGB, deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // An empty IDAT and IEND, so the file is structurally complete.
    for chunk in [&b"IDAT"[..], &b"IEND"[..]] {
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(&crc32(chunk).to_be_bytes());
    }
    out
}

#[test]
fn pixel_total_bytes_and_zip_entry_limits_refuse_and_store_nothing() {
    let srv = TestServer::start_with(
        &[
            ("FACELITE_LIMITS_MAX_UPLOAD_BYTES", "400000"),
            ("FACELITE_LIMITS_MAX_ZIP_ENTRIES", "4"),
        ],
        &[],
    );
    let admin = srv.admin_token();
    let (_, client) = company_user(&srv, &admin, "biglimits", "CLIENT");
    let huge = png_header_claiming(100_000, 100_000);
    assert!(huge.len() < 100, "a tiny file claiming 10^10 pixels");
    let shots = data("media/shots.zip");
    let cases: Vec<(&str, Multipart, &str)> = vec![
        (
            "pixels",
            Multipart::new().file("photo1", "huge.png", "image/png", &huge),
            "pixels",
        ),
        (
            "total bytes",
            Multipart::new()
                .file("a", "a.jpg", "image/jpeg", &data("obama.jpg"))
                .file("b", "b.jpg", "image/jpeg", &data("obama2.jpg")),
            "limit",
        ),
        (
            "zip entries",
            Multipart::new().file("shots", "shots.zip", "application/zip", &shots),
            "entries",
        ),
    ];
    for (what, f, needle) in cases {
        for path in ["/api/folders/", "/api/instant/folders/"] {
            let r = srv.post_multipart(path, Some(&client), &f);
            let msg = r.assert_error(413, 4);
            assert!(msg.contains(needle), "{what} on {path}: {msg}");
        }
    }
    let r = srv.get("/api/folders/", Some(&client));
    assert_eq!(r.json()["total"], 0, "{}", r.text());
    assert_eq!(stored_files(&srv.data_dir), 0);
    // Under the limits the same kinds of media are accepted.
    let r = srv.post_multipart(
        "/api/folders/",
        Some(&client),
        &Multipart::new()
            .file("p", "a.png", "image/png", &png_header_claiming(64, 64))
            .file(
                "s",
                "s.zip",
                "application/zip",
                &data("media/shots_png.zip"),
            ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(stored_files(&srv.data_dir), 2);
}
