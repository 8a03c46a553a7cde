//! The one place where errors of every layer become an HTTP status and an Oz error body
//! `{"error_code": int, "error_message": str, "details": any}`.
//!
//! Oz API Lite routes answer a different body (`{"code": "BPE-...", "message", "details"}`,
//! the Lite API); that mapping is kept in one place too: `crate::lite::error::LiteError`.

use http::{header, Response, StatusCode};

use crate::http::body::RespBody;
use serde_json::Value;

/// Oz API error codes. Kept numeric on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum ErrorCode {
    Unknown = 0,
    NotAllowed = 1,
    NotRealized = 2,
    InvalidStructure = 3,
    InvalidValue = 4,
    InvalidType = 5,
    AuthNotProvided = 6,
    AuthInvalid = 7,
    AuthExpired = 8,
    AuthForbidden = 9,
    NotExist = 10,
    ExternalService = 11,
    NoContainer = 13,
    ContainerUnpacking = 14,
}

/// An error answered to an `/api/...` client. Every handler returns this on failure; the
/// router serialises it once.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    /// Builds an error with no details.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// Attaches machine-readable details (which field, which limit...).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 400, code 3: the request's shape is wrong (missing field, bad JSON, bad multipart).
    pub fn structure(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidStructure,
            message,
        )
    }

    /// 400, code 4: a value is out of range or not allowed.
    pub fn value(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidValue, message)
    }

    /// 404, code 10: the object does not exist *for this caller* (tenant isolation answers
    /// the same as a missing object).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotExist, message)
    }

    /// 403, code 9: the caller's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::AuthForbidden, message)
    }

    /// 405, code 1.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::NotAllowed,
            message,
        )
    }

    /// 501, code 2: documented by the vendor, deliberately not implemented here.
    pub fn not_realized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, ErrorCode::NotRealized, message)
    }

    /// 413, code 4: an input exceeded a configured limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidValue,
            message,
        )
    }

    /// 503, code 0: the server is saturated (full queue); the client may retry later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unknown, message)
    }

    /// 408, code 0: the client stopped sending its request before it was complete.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, ErrorCode::Unknown, message)
    }

    /// 500, code 0. The message must not leak internals that help an attacker.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unknown,
            message,
        )
    }

    /// Serialises the Oz error body.
    pub fn into_response(self) -> Response<RespBody> {
        let body = serde_json::json!({
            "error_code": self.code as i64,
            "error_message": self.message,
            "details": self.details,
        });
        let mut resp = Response::new(RespBody::from(body.to_string()));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        resp
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

// Conversions from each layer's error type live below, one `impl From` per layer.

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as S;
        match e {
            S::NotFound { .. } => ApiError::not_found(e.to_string()),
            S::Locked { .. } => {
                eprintln!("facelite: {e}");
                ApiError::unavailable("the store is not available; try again later")
            }
            other => {
                // Details go to the log, not to the client.
                eprintln!("facelite: store error: {other}");
                ApiError::internal("internal storage error")
            }
        }
    }
}

impl From<crate::accounts::AccountsError> for ApiError {
    fn from(e: crate::accounts::AccountsError) -> Self {
        use crate::accounts::AccountsError as A;
        let msg = e.to_string();
        match e {
            A::Store(s) => s.into(),
            A::NoToken => ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::AuthNotProvided, msg),
            A::UnknownToken | A::InvalidCredentials | A::SessionNotFound => {
                ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::AuthInvalid, msg)
            }
            A::TokenExpired => ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::AuthExpired, msg),
            A::Throttled {
                retry_after_secs, ..
            } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::AuthForbidden, msg)
                .with_details(serde_json::json!({ "retry_after_secs": retry_after_secs })),
            A::RefreshForbidden | A::Forbidden(_) => ApiError::forbidden(msg),
            A::RefreshFieldMissing | A::Structure(_) => ApiError::structure(msg),
            A::Invalid(_) => ApiError::value(msg),
            A::Type(_) => ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidType, msg),
            A::Conflict(_) => ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidValue, msg),
            A::Crypto(_) | A::File { .. } | A::Task(_) => {
                eprintln!("facelite: accounts error: {msg}");
                ApiError::internal("internal error")
            }
        }
    }
}

impl From<crate::media::MediaError> for ApiError {
    /// An upload that cannot become frames is the client's problem (4xx): unknown or
    /// unsupported formats are a wrong type, a broken archive is an unpacking error, limits
    /// are out-of-range values; `details` names the media error kind.
    fn from(e: crate::media::MediaError) -> Self {
        use crate::media::MediaError as M;
        let (status, code) = match &e {
            M::UnknownFormat(_) | M::Unsupported(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::InvalidType)
            }
            M::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::InvalidValue),
            M::TooManyEntries(_) => (StatusCode::BAD_REQUEST, ErrorCode::ContainerUnpacking),
            M::Corrupt(_) | M::TooLong(_) | M::NoFrames(_) | M::DeadlineExceeded(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidValue)
            }
        };
        ApiError::new(status, code, e.to_string())
            .with_details(serde_json::json!({ "media_error": e.kind() }))
    }
}

impl From<crate::upload::UploadError> for ApiError {
    fn from(e: crate::upload::UploadError) -> Self {
        use crate::upload::UploadError;
        match e {
            UploadError::TooLarge(m) => ApiError::too_large(m),
            UploadError::Structure(m) => ApiError::structure(m),
            UploadError::Value(m) => ApiError::value(m),
            UploadError::Unsupported(m) => ApiError::new(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidType,
                m,
            ),
            UploadError::Stalled(m) => ApiError::timeout(m),
            UploadError::Memory(e) => e.into(),
            UploadError::Io(m) => {
                eprintln!("facelite: upload I/O error: {m}");
                ApiError::internal("cannot store the upload; see the server log")
            }
        }
    }
}

impl From<crate::analysis::repo::RepoError> for ApiError {
    fn from(e: crate::analysis::repo::RepoError) -> Self {
        eprintln!("facelite: store error: {e}");
        ApiError::internal("store error; see the server log")
    }
}

impl From<crate::analysis::access::AccessError> for ApiError {
    fn from(e: crate::analysis::access::AccessError) -> Self {
        use crate::analysis::access::AccessError as E;
        match e {
            E::NotFound { .. } => ApiError::not_found(e.to_string()),
            E::OwnerChange { .. } => ApiError::value(e.to_string()),
            E::Repo(r) => r.into(),
        }
    }
}

impl From<crate::collections::CollectionsError> for ApiError {
    fn from(e: crate::collections::CollectionsError) -> Self {
        use crate::collections::CollectionsError as E;
        match e {
            E::Store(m) | E::Io(m) => {
                eprintln!("facelite: collections: {m}");
                ApiError::internal("store error; see the server log")
            }
            E::NotFound(m) => ApiError::not_found(m),
            E::Forbidden(m) => ApiError::forbidden(m),
            E::Structure(m) => ApiError::structure(m),
            E::Invalid(m) => ApiError::value(m),
            E::TooLarge(m) => ApiError::too_large(m),
            E::Stalled(m) => ApiError::timeout(m),
            E::Conflict { message, details } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidValue, message)
                    .with_details(details)
            }
            E::Unusable { message, details } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidValue,
                message,
            )
            .with_details(details),
        }
    }
}

impl From<crate::memory::BudgetError> for ApiError {
    fn from(e: crate::memory::BudgetError) -> Self {
        match e {
            crate::memory::BudgetError::TooLarge { .. } => ApiError::too_large(e.to_string()),
            crate::memory::BudgetError::Busy { .. } => ApiError::unavailable(e.to_string()),
        }
    }
}
