//! Passive (single-image) liveness: a slot for an operator-installed anti-spoofing classifier.
//! No licence-clean passive model exists to ship, so without one the engine answers
//! [`VisionError::NoPassiveModel`] - never an invented score. Liveness on videos and shot sets
//! (gestures, motion) is built on [`super::mesh`] by the analysis layer.

use image::RgbImage;

use super::manifest::OutputKind;
use super::model::{run, ModelInfo, Parsed, Plan};
use super::resize::{Layout, Normalize};
use super::warp::{warp_to_tensor, Affine};
use super::{Face, VisionError};

/// Exact text of the error for a still image when no passive model is installed.
pub const NO_PASSIVE_MODEL_MESSAGE: &str =
    "no passive liveness model installed; send a video or shot set, or install a model";

/// How a passive model wants its input and how its output is read.
#[derive(Debug, Clone, PartialEq)]
pub struct PassiveSpec {
    pub width: usize,
    pub height: usize,
    pub layout: Layout,
    pub norm: Normalize,
    /// The crop is the detector box scaled by this factor about its centre (per axis), moved to
    /// stay inside the image and shrunk if it cannot (the Silent-Face convention).
    pub crop_scale: f32,
    pub output: OutputKind,
    pub live_class: usize,
}

/// An operator's passive liveness classifier.
pub struct PassiveModel {
    pub info: ModelInfo,
    spec: PassiveSpec,
    plan: Plan,
}

impl PassiveModel {
    /// Parses and optimises the model for its pinned input.
    pub fn new(
        info: ModelInfo,
        bytes: &[u8],
        spec: PassiveSpec,
    ) -> Result<PassiveModel, VisionError> {
        let plan =
            Parsed::new(&info.name, bytes)?.plan(&spec.layout.shape(spec.width, spec.height))?;
        Ok(PassiveModel { info, spec, plan })
    }

    /// Image -> model input transform for `face`.
    pub fn crop_transform(&self, img: &RgbImage, face: &Face) -> Affine {
        let (iw, ih) = (img.width() as f32, img.height() as f32);
        let [x1, y1, x2, y2] = face.bbox;
        let (bw, bh) = ((x2 - x1).max(1.0), (y2 - y1).max(1.0));
        let s = self
            .spec
            .crop_scale
            .min((ih - 1.0).max(1.0) / bh)
            .min((iw - 1.0).max(1.0) / bw);
        let (cw, ch) = (bw * s, bh * s);
        let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        let left = (cx - cw / 2.0).clamp(0.0, (iw - cw).max(0.0));
        let top = (cy - ch / 2.0).clamp(0.0, (ih - ch).max(0.0));
        let (sx, sy) = (self.spec.width as f32 / cw, self.spec.height as f32 / ch);
        // Crop pixel edges [left, left + cw) map onto output pixel edges [0, width).
        Affine([
            sx,
            0.0,
            (0.5 - left) * sx - 0.5,
            0.0,
            sy,
            (0.5 - top) * sy - 0.5,
        ])
    }

    /// Attack probability in `[0, 1]` for `face` (1 = attack): `1 - p(live class)`.
    pub fn score(
        &self,
        img: &RgbImage,
        face: &Face,
        executor: &tract_linalg::multithread::Executor,
    ) -> Result<f32, VisionError> {
        let name = &self.info.name;
        let s = &self.spec;
        let t = self.crop_transform(img, face);
        let data = warp_to_tensor(img, &t, s.width, s.height, s.layout, &s.norm)
            .ok_or_else(|| VisionError::model(name, "degenerate crop"))?;
        let outputs = run(
            name,
            &self.plan,
            executor,
            &s.layout.shape(s.width, s.height),
            data,
        )?;
        let (_, out) = outputs
            .into_iter()
            .next()
            .ok_or_else(|| VisionError::model(name, "no output"))?;
        if s.live_class >= out.len() {
            return Err(VisionError::model(
                name,
                format!(
                    "live_class {} but the output has {} values",
                    s.live_class,
                    out.len()
                ),
            ));
        }
        let probs = match s.output {
            OutputKind::Probabilities => out,
            OutputKind::Logits => softmax(&out),
        };
        let live = probs[s.live_class];
        if !live.is_finite() {
            return Err(VisionError::model(name, "output is not finite"));
        }
        Ok((1.0 - live).clamp(0.0, 1.0))
    }
}

/// Numerically stable softmax.
pub fn softmax(v: &[f32]) -> Vec<f32> {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}
