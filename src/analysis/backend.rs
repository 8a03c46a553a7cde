//! The production [`Backend`]: the vision engine for faces, the media layer for frames.

use std::sync::Arc;

use image::RgbImage;

use crate::analysis::face::{Backend, FaceEmbedding, FaceError, FaceObs, SampledFrame};
use crate::analysis::model::MediaType;
use crate::config::Config;
use crate::media::{self, FrameLimits, MediaError};
use crate::vision::Engine;

/// Face models and frame reading as configured for this server.
pub struct VisionBackend {
    #[allow(dead_code)]
    engine: Arc<Engine>,
    max_pixels: u64,
    max_file_bytes: usize,
    max_video_frames: usize,
    max_zip_entries: usize,
    max_zip_inflated_bytes: u64,
}

impl VisionBackend {
    /// Wraps the loaded engine with the configured limits.
    pub fn new(engine: Arc<Engine>, config: &Config) -> VisionBackend {
        VisionBackend {
            engine,
            max_pixels: config.limits.max_image_pixels,
            max_file_bytes: config.limits.max_file_bytes,
            max_video_frames: config.analysis.max_video_frames,
            max_zip_entries: config.limits.max_zip_entries,
            max_zip_inflated_bytes: config.limits.max_zip_inflated_bytes,
        }
    }
}

const NOT_READY: &str = "the face engine of this build cannot analyse faces yet";

impl VisionBackend {
    fn limits(&self, count: usize, still: bool) -> FrameLimits {
        let mut l = FrameLimits {
            max_file_bytes: self.max_file_bytes,
            max_indexed_frames: self.max_video_frames.max(1),
            sample_count: count.max(1),
            max_zip_entries: self.max_zip_entries,
            max_zip_inflated_bytes: self.max_zip_inflated_bytes,
            ..FrameLimits::default()
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

fn media_error(e: MediaError) -> FaceError {
    match e {
        MediaError::TooLarge(_) | MediaError::TooLong(_) | MediaError::TooManyEntries(_) => {
            FaceError::TooLarge(e.to_string())
        }
        other => FaceError::Undecodable(other.to_string()),
    }
}

impl Backend for VisionBackend {
    fn decode_image(&self, bytes: &[u8]) -> Result<RgbImage, FaceError> {
        let mut frames = media::frames(bytes, &self.limits(1, true)).map_err(media_error)?;
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

    fn sample_frames(
        &self,
        bytes: &[u8],
        _kind: MediaType,
        count: usize,
    ) -> Result<Vec<SampledFrame>, FaceError> {
        let frames = media::frames(bytes, &self.limits(count, false)).map_err(media_error)?;
        Ok(frames
            .into_iter()
            .map(|f| SampledFrame {
                index: f.index,
                pts_secs: f.pts_secs,
                image: f.image,
            })
            .collect())
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
