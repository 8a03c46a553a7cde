//! The production [`Backend`]: the vision engine for faces, the media layer for frames.

use std::sync::Arc;

use image::RgbImage;

use crate::analysis::face::{
    Backend, FaceEmbedding, FaceError, FaceObs, MeshOfFrame, SampledFrame,
};
use crate::analysis::model::MediaType;
use crate::config::Config;
use crate::media::{self, FrameLimits, MediaError};
use crate::vision::Mesh;
use crate::vision::{calibrate, Embedding, Engine, Face, FaceAnalysis, VisionError};

/// Face models and frame reading as configured for this server.
pub struct VisionBackend {
    engine: Arc<Engine>,
    max_pixels: u64,
    /// The configured frame limits; each call sets its sample count.
    frames: FrameLimits,
}

impl VisionBackend {
    /// Wraps the loaded engine with the configured limits.
    pub fn new(engine: Arc<Engine>, config: &Config) -> VisionBackend {
        VisionBackend {
            engine,
            max_pixels: config.limits.max_image_pixels,
            frames: FrameLimits::from_config(config),
        }
    }
}

impl VisionBackend {
    fn limits(&self, count: usize, still: bool) -> FrameLimits {
        let mut l = FrameLimits {
            sample_count: count.max(1),
            ..self.frames.clone()
        };
        if still {
            // Phone photos are larger than video frames; their pixel count was bounded by
            // `limits.max_image_pixels` at upload and is checked again after decoding.
            l.max_width = 16384;
            l.max_height = 16384;
        }
        l
    }
}

/// The analyses see a media failure as "too large" (a limit) or "undecodable" (anything else).
impl From<MediaError> for FaceError {
    fn from(e: MediaError) -> FaceError {
        match e {
            MediaError::TooLarge(_) | MediaError::TooLong(_) | MediaError::TooManyEntries(_) => {
                FaceError::TooLarge(e.to_string())
            }
            other => FaceError::Undecodable(other.to_string()),
        }
    }
}

impl Backend for VisionBackend {
    fn decode_image(&self, bytes: &[u8]) -> Result<RgbImage, FaceError> {
        // JPEGs take the engine's decoder: zune-jpeg directly, in bands on the inference pool
        // where the file allows (see `vision::decode`). The rest go through the media layer.
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return self
                .engine
                .decode_image(bytes, self.max_pixels)
                .map_err(vision_error);
        }
        let mut frames = media::frames(bytes, &self.limits(1, true))?;
        let img = frames
            .pop()
            .map(|f| f.image)
            .ok_or_else(|| FaceError::Undecodable("no picture in the image".into()))?;
        let pixels = u64::from(img.width()) * u64::from(img.height());
        if pixels > self.max_pixels {
            return Err(FaceError::TooLarge(format!(
                "{}x{} pixels, more than the limit of {}",
                img.width(),
                img.height(),
                self.max_pixels
            )));
        }
        Ok(img)
    }

    fn for_each_frame(
        &self,
        bytes: &[u8],
        _kind: MediaType,
        count: usize,
        visit: &mut dyn FnMut(SampledFrame) -> Result<(), FaceError>,
    ) -> Result<(), FaceError> {
        media::for_each_frame(bytes, &self.limits(count, false), |f| {
            visit(SampledFrame {
                index: f.index,
                pts_secs: f.pts_secs,
                image: f.image,
            })
        })?;
        Ok(())
    }

    fn analyze(&self, img: &RgbImage) -> Result<FaceObs, FaceError> {
        let a = self.engine.analyze(img).map_err(vision_error)?;
        Ok(observed(a))
    }

    fn analyze_with_mesh(&self, img: &RgbImage) -> (Result<FaceObs, FaceError>, MeshOfFrame) {
        match self.engine.analyze_with_mesh(img) {
            Ok((a, Ok(m))) => (Ok(observed(a)), measured(m)),
            Ok((a, Err(_))) => (Ok(observed(a)), MeshOfFrame::default()),
            Err(e) => (Err(vision_error(e)), MeshOfFrame::default()),
        }
    }

    fn passive_liveness(&self, img: &RgbImage, face: &FaceObs) -> Result<f32, FaceError> {
        self.engine
            .passive_liveness(img, &subject(face))
            .map_err(vision_error)
    }

    fn mesh(&self, img: &RgbImage, face: &FaceObs) -> Result<Vec<[f32; 2]>, FaceError> {
        let m = self
            .engine
            .mesh(img, &subject(face))
            .map_err(vision_error)?;
        Ok(m.points.iter().map(|p| [p[0], p[1]]).collect())
    }

    fn mesh_measured(&self, img: &RgbImage, face: &FaceObs) -> Result<MeshOfFrame, FaceError> {
        let m = self
            .engine
            .mesh(img, &subject(face))
            .map_err(vision_error)?;
        Ok(measured(m))
    }

    fn match_confidence(&self, a: &FaceEmbedding, b: &FaceEmbedding) -> Result<f32, FaceError> {
        calibrate::match_confidence(&embedding(a), &embedding(b)).map_err(vision_error)
    }
}

/// What the analyses keep of the engine's analysis of a frame.
fn observed(a: FaceAnalysis) -> FaceObs {
    FaceObs {
        face_count: a.face_count,
        bbox: a.subject.bbox,
        score: a.subject.score,
        landmarks5: a.subject.landmarks5,
        embedding: FaceEmbedding {
            model_id: a.embedding.model_id,
            model_version: a.embedding.model_version,
            vector: a.embedding.vector,
        },
        quality: a.quality.score,
    }
}

/// The points (x, y) and measures of a mesh.
fn measured(m: Mesh) -> MeshOfFrame {
    let points = m.points.iter().map(|p| [p[0], p[1]]).collect();
    (points, Some(m.measures))
}

fn subject(f: &FaceObs) -> Face {
    Face {
        bbox: f.bbox,
        score: f.score,
        landmarks5: f.landmarks5,
    }
}

fn embedding(e: &FaceEmbedding) -> Embedding {
    Embedding {
        model_id: e.model_id.clone(),
        model_version: e.model_version.clone(),
        vector: e.vector.clone(),
    }
}

fn vision_error(e: VisionError) -> FaceError {
    match e {
        VisionError::NoFace => FaceError::NoFace,
        VisionError::NoPassiveModel => FaceError::NoPassiveModel,
        VisionError::Undecodable(m) => FaceError::Undecodable(m),
        e @ VisionError::TooLarge { .. } => FaceError::TooLarge(e.to_string()),
        e @ VisionError::Memory(crate::memory::BudgetError::TooLarge { .. }) => {
            FaceError::TooLarge(e.to_string())
        }
        e @ (VisionError::ImageTooSmall { .. }
        | VisionError::FaceTooSmall { .. }
        | VisionError::ModelMismatch { .. }) => FaceError::Unusable(e.to_string()),
        e => FaceError::Model(e.to_string()),
    }
}
