//! What the analyses need from the vision and media layers, as one small trait. Workers hold an
//! `Arc<dyn Backend>`; the real implementation ([`crate::analysis::backend`]) calls the face
//! models and the frame reader, and unit tests of the analysis logic use a scripted fake.

use image::RgbImage;

use crate::analysis::model::MediaType;
use crate::vision::mesh::MeshMeasures;

/// The face chosen in one image (the subject), with what the analyses use.
#[derive(Debug, Clone)]
pub struct FaceObs {
    /// Faces the detector found in the image.
    pub face_count: usize,
    /// Subject box `[x1, y1, x2, y2]` in pixels.
    pub bbox: [f32; 4],
    /// Detector score of the subject.
    pub score: f32,
    /// Left eye, right eye, nose, left and right mouth corner.
    pub landmarks5: [[f32; 2]; 5],
    /// Identity descriptor of the subject.
    pub embedding: FaceEmbedding,
    /// Image quality of the face in `[0, 1]` (higher is better); picks best shots.
    pub quality: f32,
}

impl FaceObs {
    /// Distance between the eye centres, pixels (a scale that ignores hair and chin).
    pub fn eye_distance(&self) -> f32 {
        let [l, r] = [self.landmarks5[0], self.landmarks5[1]];
        ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt()
    }
}

/// A descriptor and the model that made it (only equal models compare).
#[derive(Debug, Clone, PartialEq)]
pub struct FaceEmbedding {
    pub model_id: String,
    pub model_version: String,
    pub vector: Vec<f32>,
}

/// A decoded frame of a video or shot set.
pub struct SampledFrame {
    /// Index of the frame in the media.
    pub index: usize,
    /// Presentation time, seconds.
    pub pts_secs: f64,
    pub image: RgbImage,
}

/// Why a face operation could not produce a result. Each is reported to the client as the
/// reason of a FAILED result, never turned into a score.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FaceError {
    #[error("the media could not be decoded: {0}")]
    Undecodable(String),
    #[error("the media is too large: {0}")]
    TooLarge(String),
    #[error("no face found")]
    NoFace,
    #[error("{0}")]
    Unusable(String),
    #[error("no passive liveness model installed; send a video or shot set, or install a model")]
    NoPassiveModel,
    #[error("face model error: {0}")]
    Model(String),
}

/// A frame subject's FaceMesh points and measures; empty without them.
pub type MeshOfFrame = (Vec<[f32; 2]>, Option<MeshMeasures>);

/// Face models and frame reading, as the analyses use them. Implementations must be
/// thread-safe: every worker thread calls the same instance.
pub trait Backend: Send + Sync {
    /// Decodes a still image (EXIF orientation applied, pixel limit enforced).
    fn decode_image(&self, bytes: &[u8]) -> Result<RgbImage, FaceError>;
    /// Up to `count` frames spread evenly over a video or shot set, handed to `visit` one at
    /// a time as they are decoded (not necessarily in presentation order), so that callers
    /// keep only what they need of each frame and memory does not grow with `count`. An error
    /// from `visit` stops decoding and is returned.
    fn for_each_frame(
        &self,
        bytes: &[u8],
        kind: MediaType,
        count: usize,
        visit: &mut dyn FnMut(SampledFrame) -> Result<(), FaceError>,
    ) -> Result<(), FaceError>;
    /// Detects the subject face and computes its descriptor and quality.
    fn analyze(&self, img: &RgbImage) -> Result<FaceObs, FaceError>;
    /// Passive (single image) liveness, `confidence_spoofing` scale (1 = attack).
    /// [`FaceError::NoPassiveModel`] when the operator installed none.
    fn passive_liveness(&self, img: &RgbImage, face: &FaceObs) -> Result<f32, FaceError>;
    /// Dense landmarks (FaceMesh, 468 points, image pixels, x/y).
    fn mesh(&self, img: &RgbImage, face: &FaceObs) -> Result<Vec<[f32; 2]>, FaceError>;
    /// Dense landmarks plus the FaceMesh measures (pose, eye and mouth opening) that the
    /// gesture checks compare across frames. The default has no measures (scripted fakes).
    fn mesh_measured(&self, img: &RgbImage, face: &FaceObs) -> Result<MeshOfFrame, FaceError> {
        Ok((self.mesh(img, face)?, None))
    }
    /// [`Backend::analyze`] and, when a subject is found, [`Backend::mesh_measured`] (empty
    /// when the mesh fails), as video liveness needs them for every frame. The engine runs
    /// the two models side by side when it has more than one inference thread.
    fn analyze_with_mesh(&self, img: &RgbImage) -> (Result<FaceObs, FaceError>, MeshOfFrame) {
        let face = self.analyze(img);
        let mesh = match &face {
            Ok(obs) => self.mesh_measured(img, obs).unwrap_or_default(),
            Err(_) => MeshOfFrame::default(),
        };
        (face, mesh)
    }
    /// Calibrated match confidence in `[0, 1]` (1 = same person, 0.85 operating point).
    fn match_confidence(&self, a: &FaceEmbedding, b: &FaceEmbedding) -> Result<f32, FaceError>;
}
