//! What running one analysis produces, before it is stored (async mode) or answered inline
//! (instant mode), and the helpers QUALITY and BIOMETRY share: reading media bytes, sampling
//! frames and finding the subject in them, encoding best shots.

use image::RgbImage;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::analysis::face::{Backend, FaceEmbedding, FaceError, FaceObs};
use crate::analysis::model::{MediaRec, MediaType, Resolution, State};

/// Gives the bytes of a media (from the file store, or from memory in instant mode).
pub trait MediaSource {
    fn bytes(&self, media: &MediaRec) -> Result<Vec<u8>, String>;
}

/// The result for one consumed media.
#[derive(Debug, Clone)]
pub struct MediaOutcome {
    pub media_id: Uuid,
    pub media_type: MediaType,
    /// SUCCESS / DECLINED, or FAILED with `results_data.error`.
    pub resolution: Resolution,
    pub results_data: Value,
    /// Best shot as JPEG bytes.
    pub best_shot: Option<Vec<u8>>,
    /// COLLECTION: every person this media matched at or above the threshold, best first. The
    /// first is reported as `results_media[].person_id`; all of them keep the person from
    /// being deleted while the analysis exists.
    pub matched_persons: Vec<Uuid>,
}

/// The result of one analysis.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub state: State,
    /// The verdict when FINISHED.
    pub verdict: Option<Resolution>,
    pub results_data: Value,
    pub media: Vec<MediaOutcome>,
    pub error_message: Option<String>,
    /// Media the analysis consumed.
    pub source_media: Vec<Uuid>,
}

impl Outcome {
    /// A FAILED outcome with a reason.
    pub fn failed(reason: impl Into<String>, results_data: Map<String, Value>) -> Outcome {
        let reason = reason.into();
        let mut data = results_data;
        data.insert("error".into(), Value::String(reason.clone()));
        Outcome {
            state: State::Failed,
            verdict: None,
            results_data: Value::Object(data),
            media: Vec::new(),
            error_message: Some(reason),
            source_media: Vec::new(),
        }
    }
}

/// A media result that could not be computed.
pub fn failed_media(m: &MediaRec, reason: &str) -> MediaOutcome {
    MediaOutcome {
        media_id: m.media_id,
        media_type: m.media_type,
        resolution: Resolution::Failed,
        results_data: serde_json::json!({ "error": reason }),
        best_shot: None,
        matched_persons: Vec::new(),
    }
}

/// A frame with the subject found in it (or why not).
pub struct ExaminedFrame {
    pub index: usize,
    pub image: RgbImage,
    pub face: Result<FaceObs, FaceError>,
}

/// Decodes a still image and finds its subject.
pub fn examine_image(backend: &dyn Backend, bytes: &[u8]) -> Result<ExaminedFrame, FaceError> {
    let image = backend.decode_image(bytes)?;
    let face = backend.analyze(&image);
    Ok(ExaminedFrame {
        index: 0,
        image,
        face,
    })
}

/// Samples a video or shot set and finds the subject in every sampled frame.
pub fn examine_frames(
    backend: &dyn Backend,
    bytes: &[u8],
    kind: MediaType,
    count: usize,
) -> Result<Vec<ExaminedFrame>, FaceError> {
    let frames = backend.sample_frames(bytes, kind, count)?;
    if frames.is_empty() {
        return Err(FaceError::Undecodable("the media holds no frames".into()));
    }
    Ok(frames
        .into_iter()
        .map(|f| {
            let face = backend.analyze(&f.image);
            ExaminedFrame {
                index: f.index,
                image: f.image,
                face,
            }
        })
        .collect())
}

/// The frame whose face has the best quality.
pub fn best_frame(frames: &[ExaminedFrame]) -> Option<&ExaminedFrame> {
    frames.iter().filter(|f| f.face.is_ok()).max_by(|a, b| {
        let qa = a.face.as_ref().map(|f| f.quality).unwrap_or(0.0);
        let qb = b.face.as_ref().map(|f| f.quality).unwrap_or(0.0);
        qa.total_cmp(&qb)
    })
}

/// JPEG bytes of an image (quality 90), for best shots.
pub fn encode_jpeg(img: &RgbImage) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(img)
        .map_err(|e| format!("cannot encode the best shot: {e}"))?;
    Ok(out)
}

/// Short description of a media for error messages.
pub fn label(m: &MediaRec) -> String {
    format!("media {} ({})", m.media_id, m.original_name)
}

/// The subject's descriptor of a media: of the photo, or of the best frame of a video or shot
/// set (the frame with the best face quality among `sample_frames` evenly spread ones). The
/// error is the reason the client reads.
pub fn subject_embedding(
    backend: &dyn Backend,
    source: &dyn MediaSource,
    m: &MediaRec,
    sample_frames: usize,
) -> Result<FaceEmbedding, String> {
    let bytes = source.bytes(m)?;
    let face = match m.media_type {
        MediaType::Image => {
            examine_image(backend, &bytes)
                .map_err(|e| e.to_string())?
                .face
        }
        MediaType::Video | MediaType::ShotsSet => {
            let frames = examine_frames(backend, &bytes, m.media_type, sample_frames)
                .map_err(|e| e.to_string())?;
            match best_frame(&frames) {
                Some(f) => f.face.clone(),
                None => Err(FaceError::NoFace),
            }
        }
    };
    match face {
        Ok(f) => Ok(f.embedding),
        Err(FaceError::NoFace) => Err("no face found".into()),
        Err(e) => Err(e.to_string()),
    }
}
