//! Users, companies, passwords, sessions, roles and the tenant scope every request runs in.

pub mod bootstrap;
pub mod principal;
pub mod tenant;

use crate::api::error::ApiError;
use crate::http::router::Ctx;
use principal::Principal;

/// Errors of the accounts layer; mapped to the Oz error body in `api::error`.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("store error: {0}")]
    Store(String),
}

/// Authenticates a request from its `X-Forensic-Access-Token` (or the misspelt
/// `X-Forensics-Access-Token`) header, extending the session's sliding expiry.
/// Errors: code 6 (no token), 7 (unknown token), 8 (expired).
pub async fn authenticate(_ctx: &Ctx) -> Result<Principal, ApiError> {
    Err(ApiError::new(
        http::StatusCode::UNAUTHORIZED,
        crate::api::error::ErrorCode::AuthNotProvided,
        "authentication is not available yet",
    ))
}
