//! The `facelite` command: `serve`, `version`, `admin ...`, `analyze IMAGE...`.

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use facelite::config::{Config, Overrides};

/// facelite: face liveness and biometry, Oz API compatible, in one binary.
#[derive(FromArgs)]
struct Cli {
    #[argh(subcommand)]
    cmd: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Serve(ServeCmd),
    Version(VersionCmd),
    Admin(facelite::cli::admin::AdminCmd),
    Analyze(facelite::cli::analyze::AnalyzeCmd),
}

/// Run the HTTP server (Oz API and Oz API Lite). Every flag can also be set in the config file
/// or as a FACELITE_* environment variable (FACELITE_LISTEN, FACELITE_DATA_DIR, ...).
#[derive(FromArgs)]
#[argh(subcommand, name = "serve")]
struct ServeCmd {
    /// address to listen on (default 127.0.0.1:8080; env FACELITE_LISTEN)
    #[argh(option)]
    listen: Option<std::net::SocketAddr>,
    /// directory for the store and media files (default ./facelite-data; env FACELITE_DATA_DIR)
    #[argh(option)]
    data_dir: Option<PathBuf>,
    /// TOML config file (env FACELITE_CONFIG); a missing file is an error unless it is the
    /// default /etc/facelite/facelite.toml
    #[argh(option)]
    config: Option<PathBuf>,
    /// PEM certificate chain; enables TLS together with --tls-key (env FACELITE_TLS_CERT)
    #[argh(option)]
    tls_cert: Option<PathBuf>,
    /// PEM private key (env FACELITE_TLS_KEY)
    #[argh(option)]
    tls_key: Option<PathBuf>,
    /// directory with a models manifest that replaces or adds face models (env
    /// FACELITE_MODELS_DIR)
    #[argh(option)]
    models_dir: Option<PathBuf>,
}

/// Print the version of facelite.
#[derive(FromArgs)]
#[argh(subcommand, name = "version")]
struct VersionCmd {}

/// The config file named by `--config` or FACELITE_CONFIG; the systemd unit's default path may
/// be absent.
fn config_file(flag: Option<PathBuf>) -> Option<PathBuf> {
    let optional_default = PathBuf::from("/etc/facelite/facelite.toml");
    match flag.or_else(|| std::env::var_os("FACELITE_CONFIG").map(PathBuf::from)) {
        Some(p) if p == optional_default && !p.exists() => None,
        other => other,
    }
}

/// Configuration for commands without their own flags: file from FACELITE_CONFIG, then env.
pub fn env_config() -> Result<Config, facelite::config::ConfigError> {
    Config::resolve(
        config_file(None).as_deref(),
        std::env::vars(),
        &Overrides::default(),
    )
}

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.cmd {
        Command::Serve(s) => {
            let overrides = Overrides {
                listen: s.listen,
                data_dir: s.data_dir,
                tls_cert: s.tls_cert,
                tls_key: s.tls_key,
                models_dir: s.models_dir,
            };
            Config::resolve(
                config_file(s.config).as_deref(),
                std::env::vars(),
                &overrides,
            )
            .map_err(Into::into)
            .and_then(|c| facelite::serve::run(c).map_err(Into::into))
        }
        Command::Version(_) => {
            println!("facelite {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Admin(a) => env_config()
            .map_err(Into::into)
            .and_then(|c| facelite::cli::admin::run(a, &c)),
        Command::Analyze(a) => env_config()
            .map_err(Into::into)
            .and_then(|c| facelite::cli::analyze::run(a, &c)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("facelite: error: {e}");
            ExitCode::FAILURE
        }
    }
}
