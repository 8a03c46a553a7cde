//! The Lite work without HTTP: image bytes -> the subject's embedding, template bytes <->
//! embedding, two embeddings -> score, image -> attack probability. Synchronous and CPU-bound:
//! the API calls these on the blocking pool; the bench calls them directly to show what the
//! HTTP layer adds.
//!
//! Face rule (the same for every Lite method): the image must show exactly one face. No face
//! is `*-003002`; more than one is `*-003003` with the count in `details` - a 1:1 check on a
//! photo of several people would be ambiguous about whom it verified. A face smaller than
//! `vision.min_face_px` is `*-003001` (nothing reliable can be extracted from it).

use super::error::{Kind, LiteError};
use super::template::Template;
use crate::vision::{calibrate, Embedding, Engine, Face, VisionError};

/// Version string of the inference engine, reported as `tfss` by `/version`.
pub fn engine_version(engine: &Engine) -> String {
    let (id, version) = engine.embedding_model();
    format!(
        "facelite-vision/{} ({id} {version})",
        env!("CARGO_PKG_VERSION")
    )
}

/// Refuses images with several faces, reporting how many were found.
fn require_single_face(face_count: usize) -> Result<(), LiteError> {
    if face_count > 1 {
        return Err(LiteError::new(
            Kind::ManyFaces,
            format!("{face_count} faces found; the sample must show exactly one person"),
        )
        .with_details(serde_json::json!({ "face_count": face_count })));
    }
    Ok(())
}

/// Image bytes -> the embedding of its one face.
pub fn embed_image(engine: &Engine, image: &[u8], max_pixels: u64) -> Result<Embedding, LiteError> {
    let img = engine.decode_image(image, max_pixels)?;
    let analysis = engine.analyze(&img)?;
    require_single_face(analysis.face_count)?;
    Ok(analysis.embedding)
}

/// Embedding -> template bytes (the documented format in [`super::template`]).
pub fn template_bytes(embedding: Embedding) -> Result<Vec<u8>, LiteError> {
    let t = Template::new(embedding).map_err(|e| {
        LiteError::new(
            Kind::Extraction,
            format!("template could not be built: {e}"),
        )
    })?;
    Ok(t.to_bytes())
}

/// Template bytes -> embedding, refusing templates of any model other than the engine's
/// current embedder (their scores would be meaningless).
pub fn read_template(engine: &Engine, bytes: &[u8]) -> Result<Embedding, LiteError> {
    let t = Template::from_bytes(bytes)?;
    let (id, version) = engine.embedding_model();
    t.require_model(&id, &version)?;
    Ok(t.embedding)
}

/// Same-person confidence on the Oz scale (1 = same, 0.85 = operating point).
pub fn score(a: &Embedding, b: &Embedding) -> Result<f32, LiteError> {
    Ok(calibrate::match_confidence(a, b)?)
}

/// `LDE-001002` (503) when no passive liveness model is installed: still-image liveness
/// needs one, and no score is ever made up without it.
pub fn require_passive_model(engine: &Engine) -> Result<(), LiteError> {
    if engine.has_passive_model() {
        Ok(())
    } else {
        Err(VisionError::NoPassiveModel.into())
    }
}

/// Image bytes -> attack probability of its one face from the passive model. `min_face_px`
/// is `vision.min_face_px`, the same floor `analyze` applies to biometry.
pub fn attack_score(
    engine: &Engine,
    image: &[u8],
    max_pixels: u64,
    min_face_px: u32,
) -> Result<f32, LiteError> {
    require_passive_model(engine)?;
    let img = engine.decode_image(image, max_pixels)?;
    let faces = engine.detect(&img)?;
    require_single_face(faces.len())?;
    let face: Face = *faces.first().ok_or(VisionError::NoFace)?;
    if face.width() < min_face_px as f32 {
        return Err(VisionError::FaceTooSmall {
            size: face.width(),
            min: min_face_px,
        }
        .into());
    }
    Ok(engine.passive_liveness(&img, &face)?)
}

/// Biometry health: the server only runs with its detector and embedder loaded, so this is
/// ready (0) and names the embedder templates are made with.
pub fn pattern_health(engine: &Engine) -> (i32, String) {
    let (id, version) = engine.embedding_model();
    (0, format!("ready; templates are made with {id} {version}"))
}

/// Liveness health: ready (0) only with a passive model installed, else 3 and why.
pub fn liveness_health(engine: &Engine) -> (i32, String) {
    if engine.has_passive_model() {
        let name = engine
            .models()
            .into_iter()
            .find(|m| m.kind == crate::vision::model::ModelKind::PassiveLiveness)
            .map(|m| format!("{} {}", m.name, m.version))
            .unwrap_or_default();
        (0, format!("ready; passive liveness model {name}"))
    } else {
        (
            3,
            crate::vision::liveness::NO_PASSIVE_MODEL_MESSAGE.to_string(),
        )
    }
}
