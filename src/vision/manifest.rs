//! The operator's `manifest.toml` in `--models-dir`: which ONNX files to load as which kind of
//! model, and how each wants its input. It lets a deployment install a certified passive
//! liveness model, or replace the embedded detector/embedder/mesh, without rebuilding.
//!
//! ```toml
//! [[model]]
//! kind = "passive_liveness"   # detector | embedder | mesh | passive_liveness
//! file = "minifasnet.onnx"    # relative to the models directory
//! name = "minifasnet-v2"
//! version = "1.0"
//! input = [80, 80]            # width, height
//! layout = "NCHW"             # or "NHWC"
//! channels = "BGR"            # or "RGB"
//! mean = [0.0, 0.0, 0.0]      # value = (pixel - mean) * scale, per channel in `channels` order
//! scale = [1.0, 1.0, 1.0]
//! crop_scale = 2.7            # passive_liveness / mesh: square crop = box side x crop_scale
//! output = "logits"           # passive_liveness: "logits" (softmax applied) or "probabilities"
//! live_class = 1              # passive_liveness: index of the "live" class
//! ```
//! Embedder extras: `template = "dlib150" | "arcface112"` (scaled to `input`). Detector extras:
//! `fallback_input = [W, H]`; a detector must have CenterFace's output layout. Mesh: FaceMesh's.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::detect::DetectorSpec;
use super::embed::{EmbedderSpec, ARCFACE_112_TEMPLATE, DLIB_150_TEMPLATE};
use super::liveness::PassiveSpec;
use super::mesh::MeshSpec;
use super::model::ModelKind;
use super::resize::{Layout, Normalize};
use super::VisionError;

/// File name looked up in the models directory.
pub const MANIFEST_FILE: &str = "manifest.toml";
/// Largest model file accepted, bytes.
pub const MAX_MODEL_BYTES: u64 = 512 << 20;

/// The manifest file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub model: Vec<ModelEntry>,
}

/// Channel order of the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Channels {
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
}

/// How a passive model's output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Logits,
    Probabilities,
}

/// One `[[model]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub kind: ModelKind,
    pub file: PathBuf,
    pub name: String,
    pub version: String,
    /// Width, height.
    pub input: [usize; 2],
    pub fallback_input: Option<[usize; 2]>,
    pub layout: Layout,
    pub channels: Channels,
    #[serde(default)]
    pub mean: [f32; 3],
    #[serde(default = "ones")]
    pub scale: [f32; 3],
    pub crop_scale: Option<f32>,
    pub output: Option<OutputKind>,
    pub live_class: Option<usize>,
    pub template: Option<String>,
}

fn ones() -> [f32; 3] {
    [1.0; 3]
}

/// A manifest entry with its file read and its spec validated.
pub struct Loaded {
    pub entry: ModelEntry,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl Manifest {
    /// Reads `dir/manifest.toml` and every file it names.
    pub fn load(dir: &Path) -> Result<Vec<Loaded>, VisionError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| VisionError::Manifest(format!("{}: {e}", path.display())))?;
        let manifest: Manifest = toml::from_str(&text)
            .map_err(|e| VisionError::Manifest(format!("{}: {e}", path.display())))?;
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for entry in manifest.model {
            if seen.contains(&entry.kind) {
                return Err(VisionError::Manifest(format!(
                    "{}: more than one model of kind {}",
                    path.display(),
                    entry.kind.as_str()
                )));
            }
            seen.push(entry.kind);
            entry.validate()?;
            let file = dir.join(&entry.file);
            let size = std::fs::metadata(&file)
                .map_err(|e| VisionError::Manifest(format!("{}: {e}", file.display())))?
                .len();
            if size > MAX_MODEL_BYTES {
                return Err(VisionError::Manifest(format!(
                    "{}: {size} bytes, more than the {MAX_MODEL_BYTES}-byte limit",
                    file.display()
                )));
            }
            let bytes = std::fs::read(&file)
                .map_err(|e| VisionError::Manifest(format!("{}: {e}", file.display())))?;
            out.push(Loaded {
                entry,
                path: file,
                bytes,
            });
        }
        Ok(out)
    }
}

impl ModelEntry {
    fn err(&self, msg: impl std::fmt::Display) -> VisionError {
        VisionError::Manifest(format!(
            "model {:?} ({}): {msg}",
            self.name,
            self.kind.as_str()
        ))
    }

    fn validate(&self) -> Result<(), VisionError> {
        let [w, h] = self.input;
        if !(1..=4096).contains(&w) || !(1..=4096).contains(&h) {
            return Err(self.err(format!("input {w}x{h} outside 1..4096")));
        }
        if self.scale.iter().chain(&self.mean).any(|v| !v.is_finite()) {
            return Err(self.err("mean/scale must be finite numbers"));
        }
        if let Some(c) = self.crop_scale {
            if !(c.is_finite() && c > 0.0 && c <= 10.0) {
                return Err(self.err("crop_scale must be in (0, 10]"));
            }
        }
        match self.kind {
            ModelKind::PassiveLiveness if self.live_class.is_none() || self.output.is_none() => {
                return Err(self.err("passive_liveness needs `output` and `live_class`"));
            }
            ModelKind::Mesh if w != h => return Err(self.err("mesh input must be square")),
            ModelKind::Detector if w % 32 != 0 || h % 32 != 0 => {
                return Err(self.err("detector input sides must be multiples of 32"))
            }
            _ => {}
        }
        Ok(())
    }

    fn norm(&self) -> Normalize {
        Normalize {
            mean: self.mean,
            scale: self.scale,
            bgr: self.channels == Channels::Bgr,
        }
    }

    /// Detector spec from this entry.
    pub fn detector_spec(&self) -> DetectorSpec {
        DetectorSpec {
            primary: (self.input[0], self.input[1]),
            fallback: self.fallback_input.map(|[w, h]| (w, h)),
            layout: self.layout,
            norm: self.norm(),
            transpose_portrait: super::detect::transpose_pays(),
        }
    }

    /// Embedder spec from this entry (template scaled to the input size).
    pub fn embedder_spec(&self) -> Result<EmbedderSpec, VisionError> {
        let (template, base) = match self.template.as_deref() {
            None | Some("dlib150") => (DLIB_150_TEMPLATE, 150.0),
            Some("arcface112") => (ARCFACE_112_TEMPLATE, 112.0),
            Some(other) => return Err(self.err(format!("unknown template {other:?}"))),
        };
        let (sx, sy) = (self.input[0] as f32 / base, self.input[1] as f32 / base);
        Ok(EmbedderSpec {
            width: self.input[0],
            height: self.input[1],
            layout: self.layout,
            norm: self.norm(),
            template: template.map(|[x, y]| [x * sx, y * sy]),
        })
    }

    /// Mesh spec from this entry.
    pub fn mesh_spec(&self) -> MeshSpec {
        MeshSpec {
            size: self.input[0],
            layout: self.layout,
            norm: self.norm(),
            crop_scale: self.crop_scale.unwrap_or(1.4),
        }
    }

    /// Passive liveness spec from this entry.
    pub fn passive_spec(&self) -> PassiveSpec {
        PassiveSpec {
            width: self.input[0],
            height: self.input[1],
            layout: self.layout,
            norm: self.norm(),
            crop_scale: self.crop_scale.unwrap_or(1.0),
            output: self.output.unwrap_or(OutputKind::Probabilities),
            live_class: self.live_class.unwrap_or(0),
        }
    }
}
