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
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: 64 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            max_image_pixels: 40_000_000,
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
