//! What running one analysis produces, before it is stored (async mode) or answered inline
//! (instant mode), and the helpers QUALITY and BIOMETRY share: reading media bytes, sampling
//! frames and finding the subject in them, encoding best shots.

use image::RgbImage;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::analysis::face::{Backend, FaceEmbedding, FaceError, FaceObs, MeshOfFrame};
use crate::analysis::model::{MediaRec, MediaType, Resolution, State};
use crate::vision::mesh::MeshMeasures;

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

/// What is kept of one sampled frame once its pixels are dropped: the subject (or why not),
/// the frame's width, and (when asked for) the subject's dense landmarks and FaceMesh measures.
pub struct FrameSummary {
    pub index: usize,
    /// Frame width, pixels (relative face sizes).
    pub width: u32,
    pub face: Result<FaceObs, FaceError>,
    /// FaceMesh points of the subject (empty without a face, or when not asked for).
    pub mesh: Vec<[f32; 2]>,
    /// FaceMesh measures of the subject (`None` without a face, or when not asked for).
    pub measures: Option<MeshMeasures>,
}

/// A sampled video or shot set: a summary per frame (presentation order), and the one frame
/// kept whole, the best shot.
pub struct Examined {
    pub frames: Vec<FrameSummary>,
    /// The frame whose subject has the best face quality (ties: the later frame); `None`
    /// when no frame shows a face.
    pub best: Option<ExaminedFrame>,
}

/// Samples a video or shot set and finds the subject in every sampled frame (and its dense
/// landmarks with `with_mesh`).
///
/// Memory is bounded whatever `count` and the picture size: frames are examined one at a
/// time as they are decoded and only their summaries (about 6 KB each: the descriptor and 468
/// mesh points) are kept, plus the best frame's pixels. At most two RGB frames are alive at
/// once (the current one and the best so far): at the 1920x1920 media limit about 22 MB, plus
/// the video decoder's own reference pictures, which the codec level bounds and which do not
/// grow with `count`.
pub fn examine_frames(
    backend: &dyn Backend,
    bytes: &[u8],
    kind: MediaType,
    count: usize,
    with_mesh: bool,
) -> Result<Examined, FaceError> {
    let mut frames: Vec<FrameSummary> = Vec::new();
    let mut best: Option<ExaminedFrame> = None;
    backend.for_each_frame(bytes, kind, count, &mut |f| {
        let (face, (mesh, measures)) = if with_mesh {
            backend.analyze_with_mesh(&f.image)
        } else {
            (backend.analyze(&f.image), MeshOfFrame::default())
        };
        frames.push(FrameSummary {
            index: f.index,
            width: f.image.width(),
            face: face.clone(),
            mesh,
            measures,
        });
        if let Ok(obs) = &face {
            let better = match &best {
                None => true,
                Some(b) => {
                    let bq = b
                        .face
                        .as_ref()
                        .map(|x| x.quality)
                        .unwrap_or(f32::NEG_INFINITY);
                    obs.quality
                        .total_cmp(&bq)
                        .then(f.index.cmp(&b.index))
                        .is_gt()
                }
            };
            if better {
                best = Some(ExaminedFrame {
                    index: f.index,
                    image: f.image,
                    face,
                });
            }
        }
        Ok(())
    })?;
    if frames.is_empty() {
        return Err(FaceError::Undecodable("the media holds no frames".into()));
    }
    frames.sort_by_key(|f| f.index);
    Ok(Examined { frames, best })
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
    subject(backend, source, m, sample_frames).map(|s| s.0)
}

/// [`subject_embedding`] with the index of the frame it came from (`None` for a photo), so
/// that BIOMETRY can report which frame of a video it compared.
pub fn subject(
    backend: &dyn Backend,
    source: &dyn MediaSource,
    m: &MediaRec,
    sample_frames: usize,
) -> Result<(FaceEmbedding, Option<usize>), String> {
    let bytes = source.bytes(m)?;
    let (face, frame) = match m.media_type {
        MediaType::Image => (
            examine_image(backend, &bytes)
                .map_err(|e| e.to_string())?
                .face,
            None,
        ),
        MediaType::Video | MediaType::ShotsSet => {
            let examined = examine_frames(backend, &bytes, m.media_type, sample_frames, false)
                .map_err(|e| e.to_string())?;
            match examined.best {
                Some(f) => (f.face, Some(f.index)),
                None => (Err(FaceError::NoFace), None),
            }
        }
    };
    match face {
        Ok(f) => Ok((f.embedding, frame)),
        Err(FaceError::NoFace) => Err("no face found".into()),
        Err(e) => Err(e.to_string()),
    }
}
