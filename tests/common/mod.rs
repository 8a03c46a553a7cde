//! Test harness: starts the real `facelite` binary on 127.0.0.1:0 with a temp data dir and
//! talks HTTP/1.1 to it over a real socket with a tiny blocking client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Admin account created on first start of every test server.
pub const ADMIN_EMAIL: &str = "admin@facelite.test";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A running server process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Keeps the temp dir alive as long as the server (None when the dir is borrowed).
    _tmp: Option<Arc<tempfile::TempDir>>,
    child: Option<Child>,
    /// Everything the server wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
    envs: Vec<(String, String)>,
    args: Vec<String>,
}

impl TestServer {
    /// Starts a server with a fresh data dir and default settings.
    pub fn start() -> TestServer {
        Self::start_with(&[], &[])
    }

    /// Starts a server with extra environment variables and `serve` arguments.
    pub fn start_with(envs: &[(&str, &str)], args: &[&str]) -> TestServer {
        let tmp = Arc::new(tempfile::tempdir().expect("temp dir"));
        let data_dir = tmp.path().join("data");
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Self::spawn(Some(tmp), data_dir, envs, args)
    }

    fn spawn(
        tmp: Option<Arc<tempfile::TempDir>>,
        data_dir: PathBuf,
        envs: Vec<(String, String)>,
        args: Vec<String>,
    ) -> TestServer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_facelite"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&args)
            .env("FACELITE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("FACELITE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("FACELITE_AUTH_PBKDF2_ITERATIONS", "1000")
            .env_remove("FACELITE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn facelite");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut l) = log2.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
                if !sent {
                    if let Some(rest) = line
                        .split("listening on ")
                        .nth(1)
                        .and_then(|r| r.split("://").nth(1))
                    {
                        if let Ok(a) = rest.trim().parse::<SocketAddr>() {
                            let _ = tx.send(a);
                            sent = true;
                        }
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let l = log.lock().map(|l| l.clone()).unwrap_or_default();
                panic!("server did not start; log:\n{l}");
            }
        };
        TestServer {
            addr,
            data_dir,
            _tmp: tmp,
            child: Some(child),
            log,
            envs,
            args,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGKILL (a crash) and waits.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Stops (SIGTERM) and starts again on the same data dir (new port).
    pub fn restart(mut self) -> TestServer {
        self.stop();
        let tmp = self._tmp.take();
        let data_dir = self.data_dir.clone();
        let envs = std::mem::take(&mut self.envs);
        let args = std::mem::take(&mut self.args);
        Self::spawn(tmp, data_dir, envs, args)
    }

    /// Kills (SIGKILL) and starts again on the same data dir.
    pub fn crash_and_restart(mut self) -> TestServer {
        self.kill9();
        let tmp = self._tmp.take();
        let data_dir = self.data_dir.clone();
        let envs = std::mem::take(&mut self.envs);
        let args = std::mem::take(&mut self.args);
        Self::spawn(tmp, data_dir, envs, args)
    }

    /// A copy of the server's stderr so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits (up to 10 s) until the server's stderr contains `needle`; returns whether it did.
    pub fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.log_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// GET with an optional token.
    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        http("GET", &self.url(path), &token_header(token), b"")
    }

    /// DELETE with an optional token.
    pub fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        http("DELETE", &self.url(path), &token_header(token), b"")
    }

    /// Request with a JSON body.
    pub fn send_json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Resp {
        let mut h = token_header(token);
        h.push(("Content-Type".into(), "application/json".into()));
        http(method, &self.url(path), &h, body.to_string().as_bytes())
    }

    /// POST with a JSON body.
    pub fn post_json(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> Resp {
        self.send_json("POST", path, token, body)
    }

    /// POST a multipart form.
    pub fn post_multipart(&self, path: &str, token: Option<&str>, form: &Multipart) -> Resp {
        let (ct, body) = form.build();
        let mut h = token_header(token);
        h.push(("Content-Type".into(), ct));
        http("POST", &self.url(path), &h, &body)
    }

    /// Logs in and returns (access_token, expire_token).
    pub fn login(&self, email: &str, password: &str) -> (String, String) {
        let r = self.post_json(
            "/api/authorize/auth/",
            None,
            &serde_json::json!({"credentials": {"email": email, "password": password}}),
        );
        assert_eq!(r.status, 200, "login failed: {}", r.text());
        let j = r.json();
        (
            j["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
            j["expire_token"]
                .as_str()
                .expect("expire_token")
                .to_string(),
        )
    }

    /// Logs in as the built-in admin; returns the access token.
    pub fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).0
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn token_header(token: Option<&str>) -> Vec<(String, String)> {
    token
        .map(|t| vec![("X-Forensic-Access-Token".to_string(), t.to_string())])
        .unwrap_or_default()
}

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// Body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Body as lossy text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// First header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an Oz error body with this HTTP status and error_code; returns the message.
    pub fn assert_error(&self, status: u16, code: i64) -> String {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        let j = self.json();
        assert_eq!(
            j["error_code"].as_i64(),
            Some(code),
            "error_code; body: {j}"
        );
        j["error_message"].as_str().unwrap_or_default().to_string()
    }
}

/// Sends one HTTP/1.1 request on a new connection (`Connection: close`) and reads the reply.
pub fn http(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> Resp {
    let rest = url.strip_prefix("http://").expect("http:// url");
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(300))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    read_response(&mut s)
}

/// Reads one response from a stream that the server closes afterwards.
pub fn read_response(s: &mut impl Read) -> Resp {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

/// Parses a raw HTTP/1.1 response (Content-Length, chunked, or to EOF).
pub fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..nl]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        data = &data[nl + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

/// A multipart/form-data body under construction.
#[derive(Default, Clone)]
pub struct Multipart {
    parts: Vec<(String, Option<String>, String, Vec<u8>)>,
}

impl Multipart {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file part.
    pub fn file(mut self, field: &str, filename: &str, content_type: &str, data: &[u8]) -> Self {
        self.parts.push((
            field.to_string(),
            Some(filename.to_string()),
            content_type.to_string(),
            data.to_vec(),
        ));
        self
    }

    /// Adds a text part (e.g. `payload`).
    pub fn text(mut self, field: &str, value: &str) -> Self {
        self.parts.push((
            field.to_string(),
            None,
            "text/plain".to_string(),
            value.as_bytes().to_vec(),
        ));
        self
    }

    /// (Content-Type header value, body).
    pub fn build(&self) -> (String, Vec<u8>) {
        let boundary = "facelite-test-boundary-7d1f9a";
        let mut body = Vec::new();
        for (field, filename, ct, data) in &self.parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match filename {
                Some(f) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{field}\"; filename=\"{f}\"\r\n"
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{field}\"\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(format!("Content-Type: {ct}\r\n\r\n").as_bytes());
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }
}

/// Path of a file in tests/data.
pub fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

/// Bytes of a file in tests/data.
pub fn data(name: &str) -> Vec<u8> {
    std::fs::read(data_path(name)).unwrap_or_else(|e| panic!("tests/data/{name}: {e}"))
}
