//! Users, companies, passwords, sessions, roles and the tenant scope every request runs in.

pub mod bootstrap;

/// Errors of the accounts layer; mapped to the Oz error body in `api::error`.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("store error: {0}")]
    Store(String),
}
