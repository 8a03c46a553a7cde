//! Users, companies, passwords, sessions, roles and the tenant scope every request runs in.
//!
//! * [`authenticate`] turns a request's token into a [`Principal`]; every `/api/...` handler
//!   except login calls it first, then works inside `Scope::of(&principal)`.
//! * [`login`] checks credentials (with [`throttle`]) and opens a [`session`].
//! * [`permissions`] decides who may administer companies and users; [`tenant`] decides what
//!   a caller can see at all.

pub mod bootstrap;
pub mod companies;
pub mod password;
pub mod permissions;
pub mod principal;
pub mod session;
pub mod tenant;
pub mod throttle;
pub mod token;
pub mod users;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::api::error::ApiError;
use crate::app::App;
use crate::http::router::Ctx;
use crate::store::StoreError;
use principal::Principal;

/// The request header carrying the access token.
pub const TOKEN_HEADER: &str = "x-forensic-access-token";
/// The misspelt variant found in one vendor page, accepted as well.
pub const TOKEN_HEADER_MISSPELT: &str = "x-forensics-access-token";

/// The exact vendor message of a refresh without `expire_token`.
pub const REFRESH_FIELD_MISSING: &str =
    "Could not locate field for key_path expire_token from provided dict data";

/// Errors of the accounts layer; mapped to the Oz error body in `api::error`.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 401, code 6.
    #[error("no access token: send it in the X-Forensic-Access-Token header")]
    NoToken,
    /// 401, code 7.
    #[error("the access token is not valid")]
    UnknownToken,
    /// 401, code 8.
    #[error("the access token has expired; log in again")]
    TokenExpired,
    /// 401, code 7 (same answer for an unknown email and a wrong password).
    #[error("email or password is incorrect")]
    InvalidCredentials,
    /// 429, code 9.
    #[error("too many failed logins for this {what}; try again in {retry_after_secs} s")]
    Throttled {
        what: &'static str,
        retry_after_secs: u64,
    },
    /// 400, code 3, the vendor's message.
    #[error("{REFRESH_FIELD_MISSING}")]
    RefreshFieldMissing,
    /// 401, code 7, the vendor's message.
    #[error("Session not found")]
    SessionNotFound,
    /// 403, code 9, the vendor's message.
    #[error("You have not access to refresh this session")]
    RefreshForbidden,
    /// 403, code 9.
    #[error("{0}")]
    Forbidden(String),
    /// 400, code 3: a required field is missing or the body has the wrong shape.
    #[error("{0}")]
    Structure(String),
    /// 400, code 4: a value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// 400, code 5: a field has the wrong JSON type.
    #[error("{0}")]
    Type(String),
    /// 409, code 4: the change collides with existing data (taken email, non-empty company).
    #[error("{0}")]
    Conflict(String),
    /// 500: the system random generator failed.
    #[error("{0}")]
    Crypto(String),
    /// 500: a file of the first start could not be written.
    #[error("could not write {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// 500: a blocking task (password hashing) was lost.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// Current time, UNIX milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Current time, UNIX seconds.
pub(crate) fn now_secs() -> i64 {
    i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX)
}

/// Authenticates a request from its `X-Forensic-Access-Token` (or the misspelt
/// `X-Forensics-Access-Token`) header, extending the session's sliding expiry.
/// Errors: code 6 (no token), 7 (unknown token), 8 (expired).
pub async fn authenticate(ctx: &Ctx) -> Result<Principal, ApiError> {
    let raw = ctx
        .headers
        .get(TOKEN_HEADER)
        .or_else(|| ctx.headers.get(TOKEN_HEADER_MISSPELT))
        .ok_or(AccountsError::NoToken)?;
    let token = raw
        .to_str()
        .map_err(|_| AccountsError::UnknownToken)?
        .trim();
    if token.is_empty() {
        return Err(AccountsError::NoToken.into());
    }
    let user = session::authenticate_token(&ctx.app.store, &ctx.app.config.auth, token)?;
    Ok(user.principal())
}

/// Hashes a new password off the async runtime (PBKDF2 at 600k iterations takes a while).
pub async fn hash_password(
    password: String,
    iterations: u32,
) -> Result<password::PasswordHash, AccountsError> {
    password::validate_new(&password)?;
    tokio::task::spawn_blocking(move || password::hash(&password, iterations))
        .await
        .map_err(|e| AccountsError::Task(e.to_string()))?
}

/// Checks credentials and opens a session. Throttled per account and client address, per
/// account and per client address (see [`throttle`]): the attempt is reserved in the throttle
/// before the password is checked, so parallel guesses cannot overrun the limits. An unknown
/// email costs the same time as a wrong password.
pub async fn login(
    app: &App,
    email: &str,
    password: &str,
    client: IpAddr,
) -> Result<(session::Issued, users::User), AccountsError> {
    let auth = &app.config.auth;
    let limits = throttle::Limits::of(auth);
    let reservation = app
        .login_throttle
        .reserve(email, client, &limits, Instant::now())
        .map_err(|(which, retry)| AccountsError::Throttled {
            what: which.what(),
            retry_after_secs: retry.as_secs().max(1),
        })?;
    let found = app.store.read(|tx| users::find_by_email(tx, email))?;
    let iters = auth.pbkdf2_iterations;
    let (pw, stored) = (
        password.to_string(),
        found.as_ref().map(|u| u.password.clone()),
    );
    let ok = tokio::task::spawn_blocking(move || match stored {
        Some(h) => password::verify(&pw, &h),
        None => {
            password::decoy_verify(&pw, iters);
            false
        }
    })
    .await
    .map_err(|e| AccountsError::Task(e.to_string()))?;
    let user = match (ok, found) {
        (true, Some(u)) => u,
        // The reservation stays, as this failure.
        _ => return Err(AccountsError::InvalidCredentials),
    };
    app.login_throttle.succeeded(reservation);
    if password::needs_rehash(&user.password, iters) {
        let h = hash_password(password.to_string(), iters).await;
        if let Ok(h) = h {
            users::upgrade_password_hash(&app.store, user.user_id, &user.password, h)?;
        }
    }
    let issued = session::login(&app.store, auth, &user)?;
    Ok((issued, user))
}
