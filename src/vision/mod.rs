//! Face models on the CPU with tract: detect, align, embed, landmarks, liveness, quality.
//!
//! The [`Engine`] owns one optimised tract plan per model input shape, built once at start from
//! the models embedded in the binary (or an operator's replacements from `--models-dir`), and is
//! shared by every worker thread behind an `Arc`. Pre- and post-processing live next to the model
//! that needs them: [`detect`] (CenterFace), [`embed`] (dlib ResNet), [`mesh`] (FaceMesh),
//! [`liveness`] (operator passive model). Image plumbing is in [`decode`], [`resize`] and
//! [`warp`]; scores for the API are in [`calibrate`].

pub mod calibrate;
pub mod decode;
pub mod detect;
pub mod embed;
mod engine;
pub mod fast_ops;
pub mod gestures;
mod jpeg_bands;
pub mod liveness;
pub mod manifest;
pub mod mesh;
pub mod model;
pub mod quality;
pub mod resize;
pub mod subject;
pub mod transpose;
pub mod unstride;
pub mod warp;

pub use engine::{Engine, FaceAnalysis};
pub use mesh::{Mesh, MeshMeasures};
pub use model::ModelInfo;
pub use quality::Quality;

use serde::Serialize;

/// Errors of the vision layer. Each variant is a distinct outcome the API reports differently
/// (a client error for bad images and missing faces, a server error for model failures).
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The bytes are not an image in a supported format, or the image data is corrupt/truncated.
    #[error("image could not be decoded: {0}")]
    Undecodable(String),
    /// The image header announces more pixels than the configured limit; nothing was decoded.
    #[error("image is {width}x{height} = {pixels} pixels, more than the limit of {limit}")]
    TooLarge {
        width: u32,
        height: u32,
        pixels: u64,
        limit: u64,
    },
    /// The memory budget cannot hold the decoded image now (or ever, when it alone exceeds it).
    #[error(transparent)]
    Memory(#[from] crate::memory::BudgetError),
    /// The image is too small to hold a face at all.
    #[error("image is {width}x{height} pixels; at least {min}x{min} is needed to look for a face")]
    ImageTooSmall { width: u32, height: u32, min: u32 },
    /// The detector found no face in the image.
    #[error("no face found in the image")]
    NoFace,
    /// The chosen face is smaller than the configured minimum for reliable analysis.
    #[error("the face is {size:.0} px wide, smaller than the minimum of {min} px; move closer to the camera or send a larger image")]
    FaceTooSmall { size: f32, min: u32 },
    /// Two embeddings from different models (or model versions) cannot be compared.
    #[error("embeddings come from different models ({a} vs {b}) and cannot be compared")]
    ModelMismatch { a: String, b: String },
    /// A still image was to be scored for passive liveness but no passive model is installed.
    #[error("{}", liveness::NO_PASSIVE_MODEL_MESSAGE)]
    NoPassiveModel,
    /// The operator's models directory or manifest is unusable.
    #[error("models directory: {0}")]
    Manifest(String),
    /// A model failed to load or run (a bug or a broken model file, not a client error).
    #[error("model {model}: {message}")]
    Model { model: String, message: String },
}

impl VisionError {
    /// Wraps a tract error with the model it came from.
    pub(crate) fn model(model: &str, err: impl std::fmt::Display) -> VisionError {
        VisionError::Model {
            model: model.to_string(),
            message: format!("{err:#}"),
        }
    }
}

/// One detected face, in pixels of the (orientation-corrected) image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Face {
    /// Box `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
    /// Left eye, right eye (image left first), nose tip, left and right mouth corner.
    pub landmarks5: [[f32; 2]; 5],
}

impl Face {
    /// Box width in pixels.
    pub fn width(&self) -> f32 {
        (self.bbox[2] - self.bbox[0]).max(0.0)
    }
    /// Box height in pixels.
    pub fn height(&self) -> f32 {
        (self.bbox[3] - self.bbox[1]).max(0.0)
    }
    /// Box area in square pixels.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    /// Distance between the eye centres in pixels (a size measure that ignores hair and chin).
    pub fn eye_distance(&self) -> f32 {
        let [l, r] = [self.landmarks5[0], self.landmarks5[1]];
        ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt()
    }
}

/// A face descriptor with the identity of the model that made it; only descriptors of the same
/// model id and version may be compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Embedding {
    pub model_id: String,
    pub model_version: String,
    /// L2-normalised vector.
    pub vector: Vec<f32>,
}
