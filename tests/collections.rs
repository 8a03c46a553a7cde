//! Collections (1:N) over real HTTP with the real face models and photos: enrolment with two
//! photos, refusals with reasons, roles, tenant isolation, deletion rules and restart.

mod common;

use common::{data, Multipart, TestServer};
use serde_json::{json, Value};

const PW: &str = "a-long-test-password-1";

/// Creates a company and a user of `user_type` in it; returns (company id, token).
fn company_user(
    srv: &TestServer,
    admin: &str,
    company: Option<&str>,
    name: &str,
    user_type: &str,
) -> (String, String) {
    let company = match company {
        Some(c) => c.to_string(),
        None => {
            let r = srv.post_json("/api/companies/", Some(admin), &json!({"name": name}));
            assert_eq!(r.status, 201, "company: {}", r.text());
            r.json()["company_id"]
                .as_str()
                .expect("company_id")
                .to_string()
        }
    };
    let email = format!(
        "{name}-{}@example.test",
        user_type.to_lowercase().replace(' ', "_")
    );
    let r = srv.post_json(
        "/api/users/",
        Some(admin),
        &json!({"email": email, "password": PW, "user_type": user_type, "company_id": company}),
    );
    assert_eq!(r.status, 201, "user: {}", r.text());
    let (token, _) = srv.login(&email, PW);
    (company, token)
}

fn person_form(files: &[(&str, &[u8])], meta: Value) -> Multipart {
    let mut m = Multipart::new();
    let mut tags = serde_json::Map::new();
    for (field, bytes) in files {
        m = m.file(field, &format!("{field}.jpg"), "image/jpeg", bytes);
        tags.insert(
            field.to_string(),
            json!(["photo_selfie", "orientation_portrait"]),
        );
    }
    m.text(
        "payload",
        &json!({"media:tags": tags, "person:meta_data": meta}).to_string(),
    )
}

/// Two photos side by side in one JPEG (two faces).
fn side_by_side(a: &[u8], b: &[u8]) -> Vec<u8> {
    let a = image::load_from_memory(a).expect("a").to_rgb8();
    let b = image::load_from_memory(b).expect("b").to_rgb8();
    let h = a.height().max(b.height());
    let mut out = image::RgbImage::new(a.width() + b.width(), h);
    image::imageops::overlay(&mut out, &a, 0, 0);
    image::imageops::overlay(&mut out, &b, i64::from(a.width()), 0);
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
        .encode_image(&out)
        .expect("jpeg");
    bytes
}

/// A flat grey picture (no face).
fn blank() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(400, 400, image::Rgb([128, 128, 128]));
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
        .encode_image(&img)
        .expect("jpeg");
    bytes
}

/// A photo shrunk so that its face is about 50 px wide (obama.jpg: 234 px in 910).
fn shrunk(a: &[u8]) -> Vec<u8> {
    let img = image::load_from_memory(a).expect("img").to_rgb8();
    let small = image::imageops::resize(
        &img,
        img.width() * 50 / 234,
        img.height() * 50 / 234,
        image::imageops::FilterType::CatmullRom,
    );
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
        .encode_image(&small)
        .expect("jpeg");
    bytes
}

/// A heavily blurred copy of a photo.
fn blurred(a: &[u8]) -> Vec<u8> {
    let img = image::load_from_memory(a).expect("img").to_rgb8();
    let small = image::imageops::resize(
        &img,
        img.width() / 12,
        img.height() / 12,
        image::imageops::FilterType::Triangle,
    );
    let big = image::imageops::resize(
        &small,
        img.width(),
        img.height(),
        image::imageops::FilterType::Triangle,
    );
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
        .encode_image(&big)
        .expect("jpeg");
    bytes
}

#[test]
fn collections_persons_refusals_roles_tenants_and_restart() {
    let srv = TestServer::start();
    let admin = srv.admin_token();
    let (a_co, a_admin) = company_user(&srv, &admin, None, "acme", "CLIENT_ADMIN");
    let (_, a_client) = company_user(&srv, &admin, Some(&a_co), "acme", "CLIENT");
    let (b_co, b_admin) = company_user(&srv, &admin, None, "bravo", "CLIENT_ADMIN");

    // Who may create: the company's CLIENT_ADMIN (company defaults to its own), ADMIN with a
    // company_id; not a CLIENT, not another company's admin.
    srv.post_json(
        "/api/collections/",
        Some(&a_client),
        &json!({"alias": "blacklist"}),
    )
    .assert_error(403, 9);
    srv.post_json(
        "/api/collections/",
        Some(&b_admin),
        &json!({"alias": "x", "company_id": a_co}),
    )
    .assert_error(403, 9);
    srv.post_json("/api/collections/", Some(&admin), &json!({"alias": "x"}))
        .assert_error(400, 3);
    let r = srv.post_json(
        "/api/collections/",
        Some(&a_admin),
        &json!({"alias": "blacklist"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let coll = r.json();
    assert_eq!(coll["company_id"], a_co.as_str());
    assert_eq!(coll["alias"], "blacklist");
    let cid = coll["collection_id"].as_str().expect("id").to_string();
    srv.post_json(
        "/api/collections",
        Some(&a_admin),
        &json!({"alias": "blacklist"}),
    )
    .assert_error(409, 4);

    // The meta_data sub-resource: managers change it, the company reads it.
    let meta = format!("/api/collections/{cid}/meta_data");
    let r = srv.send_json("POST", &meta, Some(&a_admin), &json!({"source": "police"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = srv.send_json("PATCH", &meta, Some(&a_admin), &json!({"level": 2}));
    assert_eq!(r.json(), json!({"source": "police", "level": 2}));
    assert_eq!(
        srv.get(&meta, Some(&a_client)).json(),
        json!({"source": "police", "level": 2})
    );
    srv.send_json("PATCH", &meta, Some(&a_client), &json!({"x": 1}))
        .assert_error(403, 9);
    srv.get(&meta, Some(&b_admin)).assert_error(404, 10);
    srv.send_json("PATCH", &meta, Some(&a_admin), &json!([1]))
        .assert_error(400, 3);
    let r = srv.delete(&meta, Some(&a_admin));
    assert_eq!(r.json(), json!({}));
    let r = srv.send_json(
        "PATCH",
        &meta,
        Some(&a_admin),
        &json!({"list": "blacklist"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        srv.get(&format!("/api/collections/{cid}"), Some(&a_client))
            .json()["meta_data"],
        json!({"list": "blacklist"})
    );

    // Enrol a person with two photos.
    let obama = data("obama.jpg");
    let obama2 = data("obama2.jpg");
    let started = std::time::Instant::now();
    let r = srv.post_multipart(
        &format!("/api/collections/{cid}/persons/"),
        Some(&a_admin),
        &person_form(
            &[("image1", &obama), ("image2", &obama2)],
            json!({"person_info": {"first_name": "Barack", "last_name": "Obama"}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    eprintln!(
        "enrolment of 2 photos over HTTP: {} ms",
        started.elapsed().as_millis()
    );
    let person = r.json();
    let pid = person["person_id"].as_str().expect("person_id").to_string();
    assert_eq!(person["meta_data"]["person_info"]["last_name"], "Obama");
    let images = person["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    assert_eq!(
        images[0]["tags"],
        json!(["photo_selfie", "orientation_portrait"])
    );
    let file = srv.get(
        images[0]["original_url"]
            .as_str()
            .expect("url")
            .trim_start_matches(&srv.url("")),
        Some(&a_client),
    );
    assert_eq!(file.status, 200);
    assert_eq!(file.body, obama);

    // Refusals say why.
    let several = side_by_side(&data("obama.jpg"), &data("biden.jpg"));
    let cases: [(&str, Vec<u8>); 4] = [
        ("no_face", blank()),
        ("several_faces", several),
        ("too_blurry", blurred(&data("grace_hopper.jpg"))),
        ("face_too_small", shrunk(&data("obama.jpg"))),
    ];
    for (reason, bytes) in cases {
        let r = srv.post_multipart(
            &format!("/api/collections/{cid}/persons/"),
            Some(&a_admin),
            &person_form(&[("photo", &bytes)], json!({})),
        );
        let msg = r.assert_error(422, 4);
        assert_eq!(r.json()["details"]["reason"], reason, "{msg}");
        assert!(msg.contains("photo"), "{msg}");
    }
    let r = srv.get(&format!("/api/collections/{cid}/persons/"), Some(&a_client));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["total"], 1, "refused images created nobody");

    // A CLIENT reads but does not change.
    srv.delete(
        &format!("/api/collections/{cid}/persons/{pid}"),
        Some(&a_client),
    )
    .assert_error(403, 9);
    let got = srv.get(
        &format!("/api/collections/{cid}/persons/{pid}"),
        Some(&a_client),
    );
    assert_eq!(got.status, 200);

    // Tenant isolation: B sees nothing of A.
    srv.get(&format!("/api/collections/{cid}"), Some(&b_admin))
        .assert_error(404, 10);
    srv.get(
        &format!("/api/collections/{cid}/persons/{pid}"),
        Some(&b_admin),
    )
    .assert_error(404, 10);
    srv.delete(&format!("/api/collections/{cid}"), Some(&b_admin))
        .assert_error(404, 10);
    let listed = srv.get("/api/collections/", Some(&b_admin)).json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0));
    let all = srv.get("/api/collections/", Some(&admin)).json();
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
    let r = srv.post_json(
        "/api/collections/",
        Some(&admin),
        &json!({"alias": "blacklist", "company_id": b_co}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let b_cid = r.json()["collection_id"].as_str().expect("id").to_string();

    // More images; delete one.
    let r = srv.post_multipart(
        &format!("/api/collections/{cid}/persons/{pid}/images/"),
        Some(&a_admin),
        &person_form(&[("more", &data("obama3.jpg"))], json!({})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let extra = r.json()[0]["person_image_id"]
        .as_str()
        .expect("id")
        .to_string();
    let list = srv
        .get(
            &format!("/api/collections/{cid}/persons/{pid}/images"),
            Some(&a_admin),
        )
        .json();
    assert_eq!(list["total"], 3);
    let r = srv.delete(
        &format!("/api/collections/{cid}/persons/{pid}/images/{extra}"),
        Some(&a_admin),
    );
    assert_eq!(r.status, 204, "{}", r.text());

    // A collection with persons cannot be deleted.
    srv.delete(&format!("/api/collections/{cid}"), Some(&a_admin))
        .assert_error(409, 4);

    // Restart keeps collections, persons and images.
    let srv = srv.restart();
    let (a_admin, _) = srv.login("acme-client_admin@example.test", PW);
    let p = srv.get(
        &format!("/api/collections/{cid}/persons/{pid}"),
        Some(&a_admin),
    );
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(p.json()["images"].as_array().map(Vec::len), Some(2));
    assert!(
        srv.log_text().contains("collections: 2 templates"),
        "{}",
        srv.log_text()
    );

    // Deleting the person deletes its images; then the collection can go.
    let kept = p.json()["images"][0]["original_url"]
        .as_str()
        .expect("url")
        .trim_start_matches(&srv.url(""))
        .to_string();
    assert_eq!(srv.get(&kept, Some(&a_admin)).status, 200);
    let r = srv.delete(
        &format!("/api/collections/{cid}/persons/{pid}"),
        Some(&a_admin),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    srv.get(
        &format!("/api/collections/{cid}/persons/{pid}"),
        Some(&a_admin),
    )
    .assert_error(404, 10);
    srv.get(&kept, Some(&a_admin)).assert_error(404, 10);
    let r = srv.delete(&format!("/api/collections/{cid}/"), Some(&a_admin));
    assert_eq!(r.status, 204, "{}", r.text());
    let admin = srv.admin_token();
    let r = srv.delete(&format!("/api/collections/{b_cid}"), Some(&admin));
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(!srv
        .data_dir
        .join("collections")
        .join(&a_co)
        .join(&cid)
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some()));
}
