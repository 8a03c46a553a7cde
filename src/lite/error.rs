//! The one place where Lite failures become an HTTP status and a Lite error body
//! `{"code": "BPE-002003", "message": "...", "details": ...}`. Lite clients parse a
//! string code, so this is deliberately a different shape from the Oz `/api` body that
//! `api::error::ApiError` writes; no Lite route ever answers with the Oz body (except the
//! server's own 404/500 outside any Lite handler).

use http::{header, HeaderValue, Response, StatusCode};
use serde_json::Value;

use super::template::TemplateError;
use crate::vision::VisionError;

/// Which code prefix an error carries: biometry (`/v1/face/pattern/...`, `/version`) or
/// liveness (`/v1/face/liveness/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `BPE-`: biometric processor errors.
    Biometry,
    /// `LDE-`: liveness detection errors.
    Liveness,
}

impl Family {
    fn prefix(self) -> &'static str {
        match self {
            Family::Biometry => "BPE",
            Family::Liveness => "LDE",
        }
    }
}

/// The Lite API's failure classes, plus facelite's documented extensions (auth, missing
/// passive model). The numeric part of the code and the HTTP status follow from the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 001001, 500: a bug or a model failure.
    Internal,
    /// 001002, 503: the liveness model this method needs is not installed.
    ModelUnavailable,
    /// 002001, 400 (415 would be more HTTP-like, but the Lite scheme answers 400).
    ContentType,
    /// 002002, 405.
    Method,
    /// 002003, 400 (413 when the image is over a limit): the image cannot be read.
    Sample,
    /// 002004, 400: the template cannot be read or belongs to another model.
    Template,
    /// 002005, 400: a multipart part has a content type that does not fit its field.
    PartContentType,
    /// 002006, 401/403: a token is required and was missing or not accepted (facelite).
    Auth,
    /// 003001, 400: a face was found but no template/score could be made from it.
    Extraction,
    /// 003002, 400.
    NoFace,
    /// 003003, 400.
    ManyFaces,
}

impl Kind {
    fn number(self) -> &'static str {
        match self {
            Kind::Internal => "001001",
            Kind::ModelUnavailable => "001002",
            Kind::ContentType => "002001",
            Kind::Method => "002002",
            Kind::Sample => "002003",
            Kind::Template => "002004",
            Kind::PartContentType => "002005",
            Kind::Auth => "002006",
            Kind::Extraction => "003001",
            Kind::NoFace => "003002",
            Kind::ManyFaces => "003003",
        }
    }

    fn default_status(self) -> StatusCode {
        match self {
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::ModelUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Method => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Auth => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A Lite failure. Built by kind (the family is set by the route that answers), rendered once
/// by [`LiteError::into_response`].
#[derive(Debug, Clone)]
pub struct LiteError {
    pub family: Family,
    pub kind: Kind,
    pub status: StatusCode,
    pub message: String,
    pub details: Value,
}

impl LiteError {
    /// An error of `kind` with its usual status, in the biometry family until
    /// [`LiteError::in_family`] says otherwise.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        LiteError {
            family: Family::Biometry,
            kind,
            status: kind.default_status(),
            message: message.into(),
            details: Value::Null,
        }
    }

    /// Moves the error into the family of the route that answers it.
    pub fn in_family(mut self, family: Family) -> Self {
        self.family = family;
        self
    }

    /// Overrides the HTTP status (413 for an over-limit image, 403 for a refused role).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Attaches machine-readable details (which part, which candidate, the face count...).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The wire code, e.g. `BPE-002004`.
    pub fn code(&self) -> String {
        format!("{}-{}", self.family.prefix(), self.kind.number())
    }

    /// Serialises the Lite error body with its status.
    pub fn into_response(self) -> Response<crate::http::body::RespBody> {
        let body = serde_json::json!({
            "code": self.code(),
            "message": self.message,
            "details": self.details,
        });
        let mut resp = Response::new(crate::http::body::RespBody::from(body.to_string()));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

impl std::fmt::Display for LiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code(), self.message)
    }
}

impl std::error::Error for LiteError {}

impl From<TemplateError> for LiteError {
    fn from(e: TemplateError) -> Self {
        LiteError::new(Kind::Template, e.to_string())
    }
}

impl From<VisionError> for LiteError {
    fn from(e: VisionError) -> Self {
        let msg = e.to_string();
        match e {
            VisionError::Undecodable(_) => LiteError::new(Kind::Sample, msg),
            VisionError::TooLarge { .. } => {
                LiteError::new(Kind::Sample, msg).with_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            VisionError::ImageTooSmall { .. } | VisionError::FaceTooSmall { .. } => {
                LiteError::new(Kind::Extraction, msg)
            }
            VisionError::NoFace => LiteError::new(Kind::NoFace, msg),
            VisionError::Memory(crate::memory::BudgetError::TooLarge { .. }) => {
                LiteError::new(Kind::Sample, msg).with_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            VisionError::Memory(crate::memory::BudgetError::Busy { .. }) => {
                LiteError::new(Kind::Internal, msg).with_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            VisionError::ModelMismatch { .. } => LiteError::new(Kind::Template, msg),
            VisionError::NoPassiveModel => LiteError::new(Kind::ModelUnavailable, msg),
            VisionError::Manifest(_) | VisionError::Model { .. } => {
                LiteError::new(Kind::Internal, msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_the_kind_and_family() {
        let e = LiteError::new(Kind::Template, "x");
        assert_eq!(e.code(), "BPE-002004");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = LiteError::new(Kind::Method, "x").in_family(Family::Liveness);
        assert_eq!(e.code(), "LDE-002002");
        assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED);
        let e: LiteError = VisionError::NoFace.into();
        assert_eq!(e.code(), "BPE-003002");
        let resp = LiteError::new(Kind::Internal, "boom").into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
