//! Settings, resolved once at start: defaults <- TOML config file <- `FACELITE_*` environment
//! <- command-line flags. Every limit of the service lives here so that an operator can find
//! and tune it in one place. Each section is a plain struct with `serde(default)` so a config
//! file only names what it changes.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub thresholds: ThresholdsConfig,
    pub lite: LiteConfig,
    pub vision: VisionConfig,
    pub media: MediaConfig,
    pub analysis: AnalysisConfig,
    pub webhooks: WebhooksConfig,
    pub collections: CollectionsConfig,
}

/// Listening, TLS, connection handling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; loopback by default because kiosks call it on localhost.
    pub listen: SocketAddr,
    /// Directory holding the redb store and media files.
    pub data_dir: PathBuf,
    /// PEM certificate chain; TLS is on when both this and `tls_key` are set.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// Seconds a new connection has to get its first request under way (first byte, protocol
    /// detection, the whole request head: the slowloris guard).
    pub header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may sit idle between requests before it is closed.
    pub keep_alive_secs: u64,
    /// Seconds a request body may go without a byte arriving; then 408.
    pub body_chunk_timeout_secs: u64,
    /// Seconds a client may go without reading while a response is sent; then it is closed.
    pub send_stall_secs: u64,
    /// Connections served at once. When all are taken, the longest-idle one is closed to make
    /// room; when none is idle, new ones wait in the kernel backlog.
    pub max_connections: usize,
    /// Connections one client address may hold at once (a quarter of `max_connections` by
    /// default); more from that address are closed at once.
    pub max_connections_per_client: usize,
    /// Public base URL used to build `original_url` links; derived from the Host header when
    /// unset.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./facelite-data"),
            tls_cert: None,
            tls_key: None,
            shutdown_grace_secs: 30,
            header_read_timeout_secs: 10,
            keep_alive_secs: 30,
            body_chunk_timeout_secs: 20,
            send_stall_secs: 30,
            max_connections: 256,
            max_connections_per_client: 64,
            public_url: None,
        }
    }
}

/// Sessions and passwords.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `OZ_SESSION_TTL`: sliding lifetime of a regular session, seconds (15 min).
    pub session_ttl_secs: u64,
    /// `OZ_SESSION_LONGLIVE_TTL`: lifetime of a service account's session, seconds (5 years).
    pub session_longlive_ttl_secs: u64,
    /// PBKDF2-HMAC-SHA256 iterations for new password hashes.
    pub pbkdf2_iterations: u32,
    /// Failed logins allowed for one account from one client address within
    /// `throttle_window_secs` (the key a guesser hits first).
    pub max_failed_logins: u32,
    /// Failed logins allowed for one account from all addresses together within the window: a
    /// ceiling against guessing spread over many addresses, far above `max_failed_logins` so
    /// that one guesser cannot lock the real user out from another address.
    pub max_failed_logins_per_account: u32,
    /// Failed logins allowed from one client address (an IPv6 /64) across all accounts within
    /// the window: stops one address trying a few guesses on many accounts.
    pub max_failed_logins_per_address: u32,
    /// Window of the login throttle, seconds.
    pub throttle_window_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl_secs: 15 * 60,
            session_longlive_ttl_secs: 5 * 365 * 24 * 3600,
            pbkdf2_iterations: 600_000,
            max_failed_logins: 10,
            max_failed_logins_per_account: 100,
            max_failed_logins_per_address: 30,
            throttle_window_secs: 300,
        }
    }
}

/// Limits on every input; each is checked before the expensive work.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body (any route), bytes.
    pub max_body_bytes: usize,
    /// Largest JSON body, bytes.
    pub max_json_bytes: usize,
    /// Largest decoded image, pixels.
    pub max_image_pixels: u64,
    /// Largest single uploaded file, bytes.
    pub max_file_bytes: usize,
    /// Largest multipart upload (all parts together), bytes.
    pub max_upload_bytes: usize,
    /// Files accepted in one upload request.
    pub max_files_per_request: usize,
    /// Media a folder may hold in total.
    pub max_media_per_folder: usize,
    /// Largest `payload` part (JSON), bytes.
    pub max_payload_bytes: usize,
    /// Entries a ZIP shot set may contain.
    pub max_zip_entries: usize,
    /// Total inflated size of a ZIP shot set, bytes.
    pub max_zip_inflated_bytes: u64,
    /// Analyses requested in one call.
    pub max_analyses_per_request: usize,
    /// Analyses a folder may hold in total.
    pub max_analyses_per_folder: usize,
    /// Folders returned by one list call (`limit` is capped to this).
    pub max_list_limit: usize,
    /// Memory budget of the whole process for request bodies held in memory, decoded images,
    /// inflated shot-set entries and video frames, MB. Work that does not fit waits briefly,
    /// then is refused (503, or 413 when it alone exceeds the budget).
    pub memory_mb: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: 64 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            max_image_pixels: 40_000_000,
            max_file_bytes: 32 * 1024 * 1024,
            max_upload_bytes: 64 * 1024 * 1024,
            max_files_per_request: 20,
            max_media_per_folder: 50,
            max_payload_bytes: 256 * 1024,
            max_zip_entries: 300,
            max_zip_inflated_bytes: 256 * 1024 * 1024,
            max_analyses_per_request: 10,
            max_analyses_per_folder: 200,
            max_list_limit: 1000,
            memory_mb: 512,
        }
    }
}

/// Operating points on the Oz score scales.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdsConfig {
    /// QUALITY: `confidence_spoofing >= liveness` => DECLINED.
    pub liveness: f32,
    /// BIOMETRY / Lite: `confidence >= match` => same person.
    pub r#match: f32,
    /// COLLECTION: best score `>= collection` => hit.
    pub collection: f32,
}

impl Default for ThresholdsConfig {
    fn default() -> Self {
        ThresholdsConfig {
            liveness: 0.5,
            r#match: 0.85,
            collection: 0.85,
        }
    }
}

/// Oz API Lite surface.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiteConfig {
    /// Serve `/version` and `/v1/face/...`.
    pub enabled: bool,
    /// Require a token on Lite routes; `None` = only when not listening on loopback.
    pub require_token: Option<bool>,
    /// Width of the `operator_required` band just below the match threshold (0 = none).
    pub operator_band: f32,
    /// Most candidates (`templates_n` / `samples_n` parts) one 1:N request may carry.
    pub max_candidates: usize,
}

impl Default for LiteConfig {
    fn default() -> Self {
        LiteConfig {
            enabled: true,
            require_token: None,
            operator_band: 0.0,
            max_candidates: 100,
        }
    }
}

/// The analysis job runner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Worker threads running analyses; 0 = number of CPU cores.
    pub workers: usize,
    /// Analyses waiting for a worker before new requests get 503.
    pub queue_capacity: usize,
    /// How long a single request (analyses in the create payload) or an instant request
    /// waits for its results before answering with what is there, seconds.
    pub sync_timeout_secs: u64,
    /// Frames sampled from a video or shot set for liveness and best shot.
    pub sample_frames: usize,
    /// Frames a video or shot set may hold; longer media are refused by the frame reader.
    pub max_video_frames: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            workers: 0,
            queue_capacity: 64,
            sync_timeout_secs: 120,
            sample_frames: 12,
            max_video_frames: 3000,
        }
    }
}

/// Webhook delivery (`resolution_endpoint`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// When set, every delivery carries `X-Facelite-Signature: sha256=<hex HMAC-SHA256 of
    /// "{X-Facelite-Timestamp}.{X-Facelite-Delivery}.{body}">` keyed with this secret (see
    /// `crate::webhook` and the README for how a receiver verifies it).
    pub secret: Option<String>,
    /// Seconds one delivery attempt may take (connect + send + response head).
    pub timeout_secs: u64,
    /// Delay before the first retry, seconds; doubles on every failure.
    pub initial_backoff_secs: u64,
    /// Longest delay between two attempts, seconds.
    pub max_backoff_secs: u64,
    /// A delivery is abandoned once this many hours passed since it was queued (>= 24).
    pub give_up_after_hours: u64,
    /// Undelivered notifications kept; beyond this the oldest is dropped (logged), so a dead
    /// endpoint cannot fill the disk.
    pub max_pending: usize,
    /// Deliveries attempted at once.
    pub concurrency: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            secret: None,
            timeout_secs: 10,
            initial_backoff_secs: 5,
            max_backoff_secs: 3600,
            give_up_after_hours: 48,
            max_pending: 10_000,
            concurrency: 4,
        }
    }
}

/// Face models.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VisionConfig {
    /// Directory with an operator's `manifest.toml` and ONNX files that replace or add to the
    /// embedded models (for example a passive liveness model).
    pub models_dir: Option<PathBuf>,
    /// Threads for inference workers; 0 = number of cores.
    pub threads: usize,
    /// Threads inside one analysis: the detector's and an operator model's layers are split
    /// across them, and the embedder and the mesh model run side by side; 1 = none. Worth 2 on
    /// an idle 2+ core box; with several busy workers, 1 wastes nothing. The embedded mesh
    /// model runs on one thread, where a split costs more than it saves.
    pub inference_threads: usize,
    /// Smallest subject face (detector box width, pixels) analysed; smaller gives "face too small".
    pub min_face_px: u32,
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            models_dir: None,
            threads: 0,
            inference_threads: 1,
            min_face_px: 40,
        }
    }
}

/// Video and shot-set decoding limits (see `media::FrameLimits`, built from this section with
/// `analysis.max_video_frames`, `analysis.sample_frames` and the `[limits]` file and ZIP bounds,
/// which are not repeated here).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Longest accepted video, seconds.
    pub max_duration_secs: f64,
    /// Most frames decoded per video (sampled frames and the frames they depend on).
    pub max_frames_decoded: usize,
    /// Widest accepted video/shot picture, pixels.
    pub max_width: u32,
    /// Tallest accepted video/shot picture, pixels.
    pub max_height: u32,
    /// Wall-clock budget for decoding one upload, seconds.
    pub max_decode_secs: u64,
    /// Assumed seconds between shots of a shot set (a ZIP carries no timing).
    pub shot_interval_secs: f64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            max_duration_secs: 60.0,
            max_frames_decoded: 900,
            max_width: 1920,
            max_height: 1920,
            max_decode_secs: 30,
            shot_interval_secs: 0.1,
        }
    }
}

/// Collections (1:N): what a person image must be, and how many there may be.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectionsConfig {
    /// Images one person may have (also bounds one upload request).
    pub max_images_per_person: usize,
    /// Largest person image, bytes.
    pub max_image_bytes: usize,
    /// Narrowest accepted face box in a person image, pixels.
    pub min_face_px: f32,
    /// Lowest accepted sharpness component (vision quality, `v / (v + 60)` of the Laplacian
    /// variance of the face patch) of a person image. Measured with `facelite analyze`: the
    /// sharp photos of tests/data score 0.94 to 0.98, grace_hopper.jpg blurred with a Gaussian
    /// of sigma 3 / 6 / 10 px scores 0.85 / 0.53 / 0.22, and shrunk 12x and enlarged back 0.34;
    /// 0.4 refuses the last two, whose face detail is gone.
    pub min_sharpness: f32,
    /// Persons a COLLECTION analysis reports per media at most (`params.decision_count`
    /// may ask for fewer or more, up to 100).
    pub decision_count: usize,
}

impl Default for CollectionsConfig {
    fn default() -> Self {
        CollectionsConfig {
            max_images_per_person: 16,
            max_image_bytes: 15 * 1024 * 1024,
            min_face_px: 60.0,
            min_sharpness: 0.4,
            decision_count: 10,
        }
    }
}

/// Settings given on the command line; each wins over file and environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub models_dir: Option<PathBuf>,
}

/// Why the configuration could not be resolved; the message names the source and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {reason}")]
    Parse { path: String, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Environment variables that stand for a command-line flag (and the vendor's session TTL
/// names, so an Oz-style environment carries over).
const FLAG_ENV: &[(&str, &str, &str)] = &[
    ("FACELITE_LISTEN", "server", "listen"),
    ("FACELITE_DATA_DIR", "server", "data_dir"),
    ("FACELITE_TLS_CERT", "server", "tls_cert"),
    ("FACELITE_TLS_KEY", "server", "tls_key"),
    ("FACELITE_MODELS_DIR", "vision", "models_dir"),
    ("OZ_SESSION_TTL", "auth", "session_ttl_secs"),
    (
        "OZ_SESSION_LONGLIVE_TTL",
        "auth",
        "session_longlive_ttl_secs",
    ),
];

/// Section names, for `FACELITE_<SECTION>_<KEY>` variables.
const SECTIONS: &[&str] = &[
    "server",
    "auth",
    "limits",
    "thresholds",
    "lite",
    "vision",
    "media",
    "analysis",
    "webhooks",
    "collections",
];

/// Variables with the `FACELITE_` prefix that are not configuration keys.
const NON_CONFIG_ENV: &[&str] = &[
    "FACELITE_CONFIG",
    "FACELITE_ADMIN_EMAIL",
    "FACELITE_ADMIN_PASSWORD",
];

impl Config {
    /// Resolves defaults <- `file` <- environment (`env`) <- `overrides`, then validates.
    /// `FACELITE_<SECTION>_<KEY>` sets any key (e.g. `FACELITE_AUTH_SESSION_TTL_SECS=60`);
    /// values are read as TOML scalars when they parse as such, else as strings.
    pub fn resolve(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut merged = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            merged = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
        }
        for (name, value) in env {
            if let Some((section, key)) = env_key(&name) {
                set(&mut merged, &section, &key, scalar(&value));
            }
        }
        let o = overrides;
        let path_value = |p: &PathBuf| toml::Value::String(p.display().to_string());
        if let Some(v) = o.listen {
            set(
                &mut merged,
                "server",
                "listen",
                toml::Value::String(v.to_string()),
            );
        }
        if let Some(v) = &o.data_dir {
            set(&mut merged, "server", "data_dir", path_value(v));
        }
        if let Some(v) = &o.tls_cert {
            set(&mut merged, "server", "tls_cert", path_value(v));
        }
        if let Some(v) = &o.tls_key {
            set(&mut merged, "server", "tls_key", path_value(v));
        }
        if let Some(v) = &o.models_dir {
            set(&mut merged, "vision", "models_dir", path_value(v));
        }
        let config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        let t = &self.thresholds;
        for (name, v) in [
            ("liveness", t.liveness),
            ("match", t.r#match),
            ("collection", t.collection),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(&format!("thresholds.{name} must be within 0..1, got {v}"));
            }
        }
        if self.auth.pbkdf2_iterations == 0 {
            return bad("auth.pbkdf2_iterations must be positive");
        }
        if self.auth.session_ttl_secs == 0 || self.auth.session_longlive_ttl_secs == 0 {
            return bad("session TTLs must be positive");
        }
        let a = &self.auth;
        if a.max_failed_logins == 0
            || a.max_failed_logins_per_account == 0
            || a.max_failed_logins_per_address == 0
        {
            return bad("auth.max_failed_logins(_per_account, _per_address) must be positive");
        }
        if self.limits.memory_mb < 64 {
            return bad("limits.memory_mb must be at least 64");
        }
        if self.server.max_connections == 0 || self.server.max_connections_per_client == 0 {
            return bad(
                "server.max_connections and server.max_connections_per_client must be positive",
            );
        }
        if self.limits.max_body_bytes == 0 || self.limits.max_json_bytes == 0 {
            return bad("limits.max_body_bytes and limits.max_json_bytes must be positive");
        }
        if !(0.0..=1.0).contains(&self.lite.operator_band) {
            return bad("lite.operator_band must be within 0..1");
        }
        if self.analysis.queue_capacity == 0 || self.analysis.sample_frames == 0 {
            return bad("analysis.queue_capacity and analysis.sample_frames must be positive");
        }
        if self.webhooks.give_up_after_hours < 24 {
            return bad("webhooks.give_up_after_hours must be at least 24 (retries last a day)");
        }
        if self.webhooks.concurrency == 0 || self.webhooks.max_pending == 0 {
            return bad("webhooks.concurrency and webhooks.max_pending must be positive");
        }
        Ok(())
    }
}

/// Maps an environment variable name to (section, key), or `None` when it is not ours.
fn env_key(name: &str) -> Option<(String, String)> {
    if let Some((_, s, k)) = FLAG_ENV.iter().find(|(n, _, _)| *n == name) {
        return Some((s.to_string(), k.to_string()));
    }
    let rest = name.strip_prefix("FACELITE_")?;
    if NON_CONFIG_ENV.contains(&name) {
        return None;
    }
    let lower = rest.to_ascii_lowercase();
    SECTIONS.iter().find_map(|s| {
        lower
            .strip_prefix(s)
            .and_then(|k| k.strip_prefix('_'))
            .filter(|k| !k.is_empty())
            .map(|k| (s.to_string(), k.to_string()))
    })
}

/// Reads an environment value as a TOML scalar (number, bool) or else a string.
fn scalar(v: &str) -> toml::Value {
    match format!("v = {v}").parse::<toml::Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(
                x @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)),
            ) => x,
            _ => toml::Value::String(v.to_string()),
        },
        Err(_) => toml::Value::String(v.to_string()),
    }
}

fn set(root: &mut toml::Table, section: &str, key: &str, value: toml::Value) {
    let entry = root
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    if let toml::Value::Table(t) = entry {
        t.insert(key.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_defaults_file_env_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\ndata_dir = \"/from/file\"\n[auth]\nsession_ttl_secs = 60\n",
        )
        .expect("write");
        let env = vec![
            ("FACELITE_DATA_DIR".to_string(), "/from/env".to_string()),
            (
                "FACELITE_AUTH_PBKDF2_ITERATIONS".to_string(),
                "1000".to_string(),
            ),
            ("FACELITE_THRESHOLDS_MATCH".to_string(), "0.9".to_string()),
            ("FACELITE_ADMIN_EMAIL".to_string(), "a@b".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let o = Overrides {
            data_dir: Some(PathBuf::from("/from/flag")),
            ..Overrides::default()
        };
        let c = Config::resolve(Some(&file), env, &o).expect("resolve");
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.server.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(c.auth.session_ttl_secs, 60);
        assert_eq!(c.auth.pbkdf2_iterations, 1000);
        assert!((c.thresholds.r#match - 0.9).abs() < 1e-6);
        assert_eq!(c.thresholds.liveness, 0.5);
    }

    /// The README's configuration listing is what operators copy from: it must name every key
    /// with its real default, and nothing that does not exist.
    #[test]
    fn readme_lists_every_key_with_its_default() {
        let readme = include_str!("../README.md");
        let after = readme
            .split("All keys with their defaults:")
            .nth(1)
            .expect("README has the configuration listing");
        let block = after
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("the listing is a toml block");
        let listed: Config = toml::from_str(block).expect("the listing parses as a config");
        let listed = serde_json::to_value(&listed).expect("listed to json");
        let defaults = serde_json::to_value(Config::default()).expect("defaults to json");
        assert_eq!(listed, defaults, "README listing differs from the defaults");
        let table: toml::Table = toml::from_str(block).expect("listing as a table");
        let sections = defaults.as_object().expect("config is an object");
        for (section, keys) in sections {
            for (key, value) in keys.as_object().expect("section is an object") {
                let present = table
                    .get(section)
                    .and_then(|t| t.as_table())
                    .is_some_and(|t| t.contains_key(key));
                if value.is_null() {
                    assert!(
                        block.contains(&format!("# {key} = ")),
                        "README listing lacks the commented optional key [{section}] {key}"
                    );
                } else {
                    assert!(present, "README listing lacks [{section}] {key}");
                }
            }
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let env = vec![("FACELITE_AUTH_NO_SUCH_KEY".to_string(), "1".to_string())];
        let e = Config::resolve(None, env, &Overrides::default()).expect_err("unknown key");
        assert!(e.to_string().contains("no_such_key"), "{e}");
        let env = vec![(
            "FACELITE_THRESHOLDS_LIVENESS".to_string(),
            "1.5".to_string(),
        )];
        assert!(Config::resolve(None, env, &Overrides::default()).is_err());
        let env = vec![("FACELITE_LISTEN".to_string(), "not-an-address".to_string())];
        assert!(Config::resolve(None, env, &Overrides::default()).is_err());
    }
}
