//! Settings, resolved once at start: defaults <- TOML config file <- `FACELITE_*` environment
//! <- command-line flags. Every limit of the service lives here so that an operator can find
//! and tune it in one place. Each section is a plain struct with `serde(default)` so a config
//! file only names what it changes.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub thresholds: ThresholdsConfig,
    pub lite: LiteConfig,
    pub vision: VisionConfig,
    pub analysis: AnalysisConfig,
    pub webhooks: WebhooksConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            thresholds: ThresholdsConfig::default(),
            lite: LiteConfig::default(),
            vision: VisionConfig::default(),
            analysis: AnalysisConfig::default(),
            webhooks: WebhooksConfig::default(),
        }
    }
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
    /// Seconds a client has to send the request head (slowloris guard).
    pub header_read_timeout_secs: u64,
    /// Connections served at once; more wait in the kernel backlog.
    pub max_connections: usize,
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
            max_connections: 256,
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
    /// Failed logins allowed per account or client address within `throttle_window_secs`.
    pub max_failed_logins: u32,
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
}

impl Default for LiteConfig {
    fn default() -> Self {
        LiteConfig {
            enabled: true,
            require_token: None,
            operator_band: 0.0,
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
    /// When set, every delivery carries `X-Facelite-Signature: sha256=<hex HMAC-SHA256 of the
    /// body>` keyed with this secret.
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VisionConfig {
    /// Directory with an operator's `manifest.toml` and ONNX files that replace or add to the
    /// embedded models (for example a passive liveness model).
    pub models_dir: Option<PathBuf>,
    /// Threads for inference workers; 0 = number of cores.
    pub threads: usize,
}
