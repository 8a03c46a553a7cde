//! The media layer's one error type: every way an upload can fail to become frames, typed so
//! the API layer can answer a precise status and the analysis a precise FAILED reason.

use std::time::Duration;

/// Why an upload could not be turned into frames. Messages say what was wrong and, where it
/// helps, which limit applied.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The bytes match no supported image, video or archive signature.
    #[error("unrecognised media format: {0}")]
    UnknownFormat(String),
    /// The container is known but its codec or a feature of it is not supported.
    #[error("unsupported media: {0}")]
    Unsupported(String),
    /// The file is damaged or truncated (a header, an index or a coded frame is invalid).
    #[error("corrupt or truncated media: {0}")]
    Corrupt(String),
    /// A size limit (file bytes, picture dimensions, inflated archive bytes) was exceeded.
    #[error("media too large: {0}")]
    TooLarge(String),
    /// A length limit (duration, number of frames to decode) was exceeded.
    #[error("media too long: {0}")]
    TooLong(String),
    /// A shot-set archive holds more entries than allowed.
    #[error("too many archive entries: {0}")]
    TooManyEntries(String),
    /// Decoding ran past its time budget.
    #[error("decoding took longer than the {0:?} allowed")]
    DeadlineExceeded(Duration),
    /// The file is valid but holds no picture to analyse.
    #[error("no frames in media: {0}")]
    NoFrames(String),
}

impl MediaError {
    /// Short machine-readable name of the variant (for `results_data` reasons and logs).
    pub fn kind(&self) -> &'static str {
        match self {
            MediaError::UnknownFormat(_) => "unknown_format",
            MediaError::Unsupported(_) => "unsupported",
            MediaError::Corrupt(_) => "corrupt",
            MediaError::TooLarge(_) => "too_large",
            MediaError::TooLong(_) => "too_long",
            MediaError::TooManyEntries(_) => "too_many_entries",
            MediaError::DeadlineExceeded(_) => "deadline_exceeded",
            MediaError::NoFrames(_) => "no_frames",
        }
    }
}

/// Runs third-party parsing/decoding code and turns a panic inside it into
/// `MediaError::Corrupt`: the video crates are young, and a malformed upload must never take
/// a worker down. `what` names the step for the message.
pub(crate) fn guard<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, MediaError>,
) -> Result<T, MediaError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "internal decoder failure".to_string());
            Err(MediaError::Corrupt(format!("{what} failed: {detail}")))
        }
    }
}
