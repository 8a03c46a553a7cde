//! The production [`Backend`]: the vision engine for faces, the media layer for frames.

use std::sync::Arc;

use image::RgbImage;

use crate::analysis::face::{Backend, FaceEmbedding, FaceError, FaceObs, SampledFrame};
use crate::analysis::model::MediaType;
use crate::config::Config;
use crate::vision::Engine;

/// Face models and frame reading as configured for this server.
pub struct VisionBackend {
    #[allow(dead_code)]
    engine: Arc<Engine>,
    max_pixels: u64,
}

impl VisionBackend {
    /// Wraps the loaded engine with the configured limits.
    pub fn new(engine: Arc<Engine>, config: &Config) -> VisionBackend {
        VisionBackend {
            engine,
            max_pixels: config.limits.max_image_pixels,
        }
    }
}

const NOT_READY: &str = "the face engine of this build cannot analyse faces yet";

impl Backend for VisionBackend {
    fn decode_image(&self, bytes: &[u8]) -> Result<RgbImage, FaceError> {
        let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| FaceError::Undecodable(e.to_string()))?;
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| FaceError::Undecodable(e.to_string()))?;
        if u64::from(w) * u64::from(h) > self.max_pixels {
            return Err(FaceError::TooLarge(format!("{w}x{h} pixels")));
        }
        image::load_from_memory(bytes)
            .map(|i| i.to_rgb8())
            .map_err(|e| FaceError::Undecodable(e.to_string()))
    }

    fn sample_frames(
        &self,
        _bytes: &[u8],
        _kind: MediaType,
        _count: usize,
    ) -> Result<Vec<SampledFrame>, FaceError> {
        Err(FaceError::Undecodable(
            "video frame reading is not available in this build".into(),
        ))
    }

    fn analyze(&self, _img: &RgbImage) -> Result<FaceObs, FaceError> {
        Err(FaceError::Model(NOT_READY.into()))
    }

    fn passive_liveness(&self, _img: &RgbImage, _face: &FaceObs) -> Result<f32, FaceError> {
        Err(FaceError::NoPassiveModel)
    }

    fn mesh(&self, _img: &RgbImage, _face: &FaceObs) -> Result<Vec<[f32; 2]>, FaceError> {
        Err(FaceError::Model(NOT_READY.into()))
    }

    fn match_confidence(&self, _a: &FaceEmbedding, _b: &FaceEmbedding) -> Result<f32, FaceError> {
        Err(FaceError::Model(NOT_READY.into()))
    }
}
