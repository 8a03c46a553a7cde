//! Face descriptor: align the face to the embedder's canonical chip with a similarity transform
//! on the 5 landmarks, run the net, L2-normalise. Default: the dlib ResNet (face-api port), 128-d.

use image::RgbImage;

use super::model::{run, ModelInfo, Parsed, Plan};
use super::resize::{Layout, Normalize};
use super::warp::{similarity, warp_to_tensor, Affine};
use super::{Embedding, Face, VisionError};

/// dlib's 150-px face chip (padding 0.25) for CenterFace's 5 points: left eye, right eye, nose,
/// left and right mouth corner. Derived from dlib's mean face (eye centres = mean of points
/// 36-41 / 42-47, nose tip 30, mouth corners 48/54; coordinate = (0.25 + v) / 1.5 x 150).
pub const DLIB_150_TEMPLATE: [[f32; 2]; 5] = [
    [47.549, 46.599],
    [100.476, 46.599],
    [74.013, 76.563],
    [50.415, 103.023],
    [97.610, 103.023],
];

/// ArcFace's 112-px template (same point order), for operator embedders trained on it.
pub const ARCFACE_112_TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// How an embedder wants its input.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedderSpec {
    pub width: usize,
    pub height: usize,
    pub layout: Layout,
    pub norm: Normalize,
    /// Where the 5 landmarks go in the chip.
    pub template: [[f32; 2]; 5],
}

impl Default for EmbedderSpec {
    /// face-api recognition net: 150x150 NHWC raw RGB (the mean is subtracted inside the graph).
    fn default() -> Self {
        EmbedderSpec {
            width: 150,
            height: 150,
            layout: Layout::Nhwc,
            norm: Normalize::RAW_RGB,
            template: DLIB_150_TEMPLATE,
        }
    }
}

/// A loaded embedder.
pub struct Embedder {
    pub info: ModelInfo,
    spec: EmbedderSpec,
    plan: Plan,
}

impl Embedder {
    /// Parses and optimises the model for the spec's pinned input.
    pub fn new(info: ModelInfo, bytes: &[u8], spec: EmbedderSpec) -> Result<Embedder, VisionError> {
        let plan =
            Parsed::new(&info.name, bytes)?.plan(&spec.layout.shape(spec.width, spec.height))?;
        Ok(Embedder { info, spec, plan })
    }

    /// The aligned, normalised chip tensor for `face` (exposed for tensor dumps and benches).
    pub fn chip(&self, img: &RgbImage, face: &Face) -> Result<Vec<f32>, VisionError> {
        let to_chip = self.alignment(face)?;
        let s = &self.spec;
        warp_to_tensor(img, &to_chip, s.width, s.height, s.layout, &s.norm)
            .ok_or_else(|| VisionError::model(&self.info.name, "degenerate alignment"))
    }

    /// Image -> chip similarity transform fitted to the landmarks.
    pub fn alignment(&self, face: &Face) -> Result<Affine, VisionError> {
        similarity(&face.landmarks5, &self.spec.template)
            .ok_or_else(|| VisionError::model(&self.info.name, "landmarks are degenerate"))
    }

    /// Model input shape.
    pub fn shape(&self) -> [usize; 4] {
        self.spec.layout.shape(self.spec.width, self.spec.height)
    }

    /// Runs the net on a prepared chip tensor and L2-normalises the descriptor.
    pub fn embed_chip(
        &self,
        chip: Vec<f32>,
        executor: &tract_linalg::multithread::Executor,
    ) -> Result<Embedding, VisionError> {
        let outputs = run(&self.info.name, &self.plan, executor, &self.shape(), chip)?;
        let (_, raw) = outputs
            .into_iter()
            .next()
            .ok_or_else(|| VisionError::model(&self.info.name, "no output"))?;
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return Err(VisionError::model(
                &self.info.name,
                "descriptor is zero or not finite",
            ));
        }
        Ok(Embedding {
            model_id: self.info.name.clone(),
            model_version: self.model_version(),
            vector: raw.iter().map(|v| v / norm).collect(),
        })
    }

    /// Version string embeddings carry: the declared version plus the weights' hash prefix, so
    /// descriptors of different weights are never compared even under the same name.
    pub fn model_version(&self) -> String {
        format!("{}+{}", self.info.version, &self.info.sha256[..12])
    }

    /// Aligns and embeds one face.
    pub fn embed(
        &self,
        img: &RgbImage,
        face: &Face,
        executor: &tract_linalg::multithread::Executor,
    ) -> Result<Embedding, VisionError> {
        let chip = self.chip(img, face)?;
        self.embed_chip(chip, executor)
    }
}
