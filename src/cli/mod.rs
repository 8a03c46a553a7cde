//! Offline subcommands of the `facelite` binary (besides `serve` and `version`).

pub mod admin;
pub mod analyze;
