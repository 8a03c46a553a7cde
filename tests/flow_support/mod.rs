//! Helpers shared by the flow tests (folders, analyses, webhooks, restart): company users,
//! polling for final states, a tiny webhook receiver, and the file count of a data dir.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{Multipart, TestServer};

/// Creates a company and a user of it with `user_type`; returns (company_id, token).
pub fn company_user(
    srv: &TestServer,
    admin: &str,
    name: &str,
    user_type: &str,
) -> (String, String) {
    let r = srv.post_json("/api/companies/", Some(admin), &json!({"name": name}));
    assert!(
        r.status == 200 || r.status == 201,
        "create company: {}",
        r.text()
    );
    let company = r.json()["company_id"]
        .as_str()
        .expect("company_id")
        .to_string();
    let email = format!(
        "{}-{}@example.test",
        name,
        user_type.to_lowercase().replace(' ', "_")
    );
    let password = "a-long-test-password-1";
    let r = srv.post_json(
        "/api/users/",
        Some(admin),
        &json!({
            "email": email, "password": password, "user_type": user_type,
            "company_id": company, "first_name": "T", "last_name": "User"
        }),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "create user: {}",
        r.text()
    );
    let (token, _) = srv.login(&email, password);
    (company, token)
}

/// A folder upload form: `(field, file name, bytes, tags)` per file plus optional extra
/// payload keys.
pub fn form(files: &[(&str, &str, &[u8], &[&str])], extra: Value) -> Multipart {
    let mut tags = serde_json::Map::new();
    let mut m = Multipart::new();
    for (field, name, bytes, t) in files {
        m = m.file(field, name, "application/octet-stream", bytes);
        if !t.is_empty() {
            tags.insert(field.to_string(), json!(t));
        }
    }
    let mut payload = json!({"media:tags": tags});
    if let (Value::Object(p), Value::Object(x)) = (&mut payload, extra) {
        for (k, v) in x {
            p.insert(k, v);
        }
    }
    m.text("payload", &payload.to_string())
}

/// Polls `GET /api/analyses/{id}` until it leaves PROCESSING (at most `secs`).
pub fn wait_analysis(srv: &TestServer, token: &str, id: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = srv.get(&format!("/api/analyses/{id}"), Some(token));
        assert_eq!(r.status, 200, "poll: {}", r.text());
        let v = r.json();
        if v["state"] != "PROCESSING" {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "analysis {id} still PROCESSING: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Files under `<data_dir>/media` and `<data_dir>/tmp`.
pub fn stored_files(data_dir: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }
    walk(&data_dir.join("media")) + walk(&data_dir.join("tmp"))
}

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1: answers the scripted statuses in order (the last one
/// repeats) and records every request.
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start(statuses: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let got: Arc<Mutex<Vec<Received>>> = Arc::new(Mutex::new(Vec::new()));
        let got2 = got.clone();
        std::thread::spawn(move || {
            let mut n = 0usize;
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let status = *statuses.get(n).or(statuses.last()).unwrap_or(&200);
                n += 1;
                let mut reader = BufReader::new(s.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                let len = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let reason = if status < 300 { "OK" } else { "Error" };
                let _ = s.write_all(
                    format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
                got2.lock().expect("lock").push(Received {
                    path,
                    headers,
                    body,
                    answered: status,
                });
            }
        });
        Receiver { addr, got }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Waits until at least `n` requests arrived (at most `secs`); returns them.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.got.lock().expect("lock").clone();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
