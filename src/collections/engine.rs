//! The server's [`Enroller`]: the vision engine decodes the photo, detects every face, and the
//! rules of [`crate::collections::enrol`] decide whether the widest face may become a template.

use std::sync::Arc;

use crate::collections::enrol::{self, EnrolError, EnrolRules, Enrolled, Enroller, Refusal};
use crate::collections::model::TemplateRec;
use crate::collections::search::ModelKey;
use crate::config::Config;
use crate::vision::{Engine, VisionError};

/// Enrolment with the loaded face models and the configured limits.
pub struct EngineEnroller {
    engine: Arc<Engine>,
    rules: EnrolRules,
    max_pixels: u64,
}

impl EngineEnroller {
    /// Wraps the engine with the `[collections]` and `[limits]` settings.
    pub fn new(engine: Arc<Engine>, config: &Config) -> EngineEnroller {
        EngineEnroller {
            engine,
            rules: EnrolRules {
                min_face_px: config.collections.min_face_px,
                min_sharpness: config.collections.min_sharpness,
            },
            max_pixels: config.limits.max_image_pixels,
        }
    }
}

fn vision_error(e: VisionError) -> EnrolError {
    match e {
        VisionError::Undecodable(_) | VisionError::TooLarge { .. } => {
            EnrolError::Refused(Refusal::undecodable(e))
        }
        VisionError::ImageTooSmall { .. } | VisionError::FaceTooSmall { .. } => {
            EnrolError::Refused(Refusal {
                reason: "face_too_small",
                message: e.to_string(),
            })
        }
        VisionError::NoFace => EnrolError::Refused(Refusal {
            reason: "no_face",
            message: "no face was found in the image; send a photo showing the person's face"
                .into(),
        }),
        other => EnrolError::Internal(other.to_string()),
    }
}

impl Enroller for EngineEnroller {
    fn model(&self) -> ModelKey {
        let (id, version) = self.engine.embedding_model();
        ModelKey { id, version }
    }

    fn enrol(&self, bytes: &[u8]) -> Result<Enrolled, EnrolError> {
        let img = self
            .engine
            .decode_image(bytes, self.max_pixels)
            .map_err(vision_error)?;
        let faces = self.engine.detect(&img).map_err(vision_error)?;
        let widths: Vec<f32> = faces.iter().map(|f| f.width()).collect();
        let i = enrol::choose_face(&widths, &self.rules).map_err(EnrolError::Refused)?;
        let face = faces[i];
        let q = self.engine.quality(&img, &face);
        enrol::check_sharpness(q.sharpness_score, &self.rules).map_err(EnrolError::Refused)?;
        let emb = self.engine.embed(&img, &face).map_err(vision_error)?;
        Ok(Enrolled {
            template: TemplateRec {
                model_id: emb.model_id,
                model_version: emb.model_version,
                vector: emb.vector,
            },
            face_bbox: face.bbox,
        })
    }
}
