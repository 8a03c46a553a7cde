//! `facelite analyze IMAGE...`: runs the vision pipeline offline and prints JSON.

use std::path::PathBuf;

use argh::FromArgs;

use crate::config::Config;

/// Analyze images offline: faces, landmarks, quality, liveness and pairwise similarity as JSON.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "analyze")]
pub struct AnalyzeCmd {
    /// image files (JPEG, PNG, WebP, BMP)
    #[argh(positional)]
    pub images: Vec<PathBuf>,
}

/// Analyzes `cmd.images` and prints one JSON document to stdout.
pub fn run(_cmd: AnalyzeCmd, _config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    Err("analyze is not available yet".into())
}
