//! `facelite admin ...`: offline account management on the store file.

use argh::FromArgs;

use crate::config::Config;

/// Offline account management (stop the server first: the store is locked while it runs).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "admin")]
pub struct AdminCmd {}

/// Runs an admin subcommand against the store in `config.server.data_dir`.
pub fn run(_cmd: AdminCmd, _config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    Err("admin commands are not available yet".into())
}
