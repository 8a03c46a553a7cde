//! QUALITY (liveness) analysis. Per media a `confidence_spoofing` (1 = attack):
//!
//! * still images: only an installed passive model scores them; without one the media FAILS
//!   with "no passive liveness model installed; send a video or shot set, or install a model";
//! * videos and shot sets: the frame-based check of [`crate::analysis::video_liveness`] over
//!   `analysis.sample_frames` frames spread evenly over the media, plus the gesture its tag
//!   requests ([`crate::vision::gestures`]; `video_selfie_eyes` reads up to
//!   `BLINK_SAMPLE_FRAMES` frames). Aggregation and thresholds: docs/liveness.md. Frames are
//!   examined one at a time as they are decoded; only their measures and the best frame's
//!   pixels are kept, so memory does not grow with the frame count
//!   ([`crate::analysis::outcome::examine_frames`]). With an installed passive model the best
//!   shot is scored too, and `confidence_spoofing = max(motion/gesture score, passive score)`:
//!   the model can decline a video the motion checks pass, never pass one they decline.
//!
//! The analysis FINISHES only when every eligible media was scored; the verdict is DECLINED if
//! any score reaches the liveness threshold, else SUCCESS. Any media that could not be scored
//! makes the analysis FAIL (it never passes on partial evidence). With `extract_best_shot`
//! (default true) the frame with the best face quality is kept as a JPEG.

use serde_json::{json, Map, Value};

use crate::analysis::face::{Backend, FaceError};
use crate::analysis::model::{MediaRec, MediaType, Resolution, State};
use crate::analysis::outcome::{
    encode_jpeg, examine_frames, examine_image, failed_media, label, FrameSummary, MediaOutcome,
    MediaSource, Outcome,
};
use crate::analysis::rules::Selection;
use crate::analysis::verdicts;
use crate::analysis::video_liveness::{self, FrameObs, Liveness};
use crate::vision::gestures::{self, Gesture, GestureFrame};

/// Options of a QUALITY analysis (`params`).
#[derive(Debug, Clone)]
pub struct QualityParams {
    pub extract_best_shot: bool,
    pub liveness_threshold: f32,
    pub sample_frames: usize,
}

/// Runs QUALITY over the selected media.
pub fn run(
    backend: &dyn Backend,
    source: &dyn MediaSource,
    sel: &Selection<'_>,
    p: &QualityParams,
) -> Outcome {
    let mut base = Map::new();
    base.insert("skipped_media".into(), sel.skipped_json());
    if sel.eligible.is_empty() {
        return Outcome::failed(
            "no eligible media for QUALITY: upload a selfie video, shot set or photo (document photos tagged photo_id* are not liveness media)",
            base,
        );
    }
    let mut media = Vec::new();
    for m in &sel.eligible {
        media.push(one(backend, source, m, p));
    }
    let failures: Vec<String> = media
        .iter()
        .zip(&sel.eligible)
        .filter(|(o, _)| o.resolution == Resolution::Failed)
        .map(|(o, m)| {
            format!(
                "{}: {}",
                label(m),
                o.results_data["error"].as_str().unwrap_or("failed")
            )
        })
        .collect();
    let scores: Vec<f32> = media
        .iter()
        .filter_map(|o| o.results_data["confidence_spoofing"].as_f64())
        .map(|s| s as f32)
        .collect();
    let source_media = sel.eligible.iter().map(|m| m.media_id).collect();
    if !failures.is_empty() {
        let mut out = Outcome::failed(failures.join("; "), base);
        out.media = media;
        out.source_media = source_media;
        return out;
    }
    let worst = scores.iter().copied().fold(0.0f32, f32::max);
    base.insert("confidence_spoofing".into(), json!(worst));
    Outcome {
        state: State::Finished,
        // A media declined by a missing gesture declines the analysis whatever its score.
        verdict: Some(
            if media.iter().any(|o| o.resolution == Resolution::Declined) {
                Resolution::Declined
            } else {
                verdicts::quality(&scores, p.liveness_threshold)
            },
        ),
        results_data: Value::Object(base),
        media,
        error_message: None,
        source_media,
    }
}

fn one(
    backend: &dyn Backend,
    source: &dyn MediaSource,
    m: &MediaRec,
    p: &QualityParams,
) -> MediaOutcome {
    let bytes = match source.bytes(m) {
        Ok(b) => b,
        Err(e) => return failed_media(m, &e),
    };
    match m.media_type {
        MediaType::Image => still(backend, &bytes, m, p),
        MediaType::Video | MediaType::ShotsSet => moving(backend, &bytes, m, p),
    }
}

fn still(backend: &dyn Backend, bytes: &[u8], m: &MediaRec, p: &QualityParams) -> MediaOutcome {
    let frame = match examine_image(backend, bytes) {
        Ok(f) => f,
        Err(e) => return failed_media(m, &e.to_string()),
    };
    let face = match &frame.face {
        Ok(f) => f,
        Err(FaceError::NoFace) => return failed_media(m, "no face found in the image"),
        Err(e) => return failed_media(m, &e.to_string()),
    };
    let score = match backend.passive_liveness(&frame.image, face) {
        Ok(s) => s,
        Err(e) => return failed_media(m, &e.to_string()),
    };
    let best_shot = if p.extract_best_shot {
        encode_jpeg(&frame.image).ok()
    } else {
        None
    };
    MediaOutcome {
        media_id: m.media_id,
        media_type: m.media_type,
        resolution: verdicts::quality_one(score, p.liveness_threshold),
        results_data: json!({
            "confidence_spoofing": score,
            "method": "passive_model",
            "face_count": face.face_count,
        }),
        best_shot,
        matched_persons: Vec::new(),
    }
}

/// What the liveness and gesture checks see of each examined frame: the subject's dense
/// landmarks and eye distance, and its FaceMesh measures and relative size (empty for frames
/// without a face). `frames` come from [`examine_frames`] with the mesh asked for.
pub fn observe(frames: &[FrameSummary]) -> (Vec<FrameObs>, Vec<GestureFrame>) {
    let mut obs = Vec::with_capacity(frames.len());
    let mut gframes = Vec::with_capacity(frames.len());
    for f in frames {
        let (o, g) = match &f.face {
            Ok(face) => {
                let width = f.width.max(1) as f32;
                let o = FrameObs {
                    index: f.index,
                    face_count: face.face_count,
                    eye_distance: face.eye_distance(),
                    mesh: f.mesh.clone(),
                };
                let g = GestureFrame {
                    index: f.index,
                    measures: f.measures,
                    face_size: face.eye_distance() / width,
                };
                (o, g)
            }
            Err(_) => (
                FrameObs {
                    index: f.index,
                    face_count: 0,
                    eye_distance: 0.0,
                    mesh: Vec::new(),
                },
                GestureFrame {
                    index: f.index,
                    measures: None,
                    face_size: 0.0,
                },
            ),
        };
        obs.push(o);
        gframes.push(g);
    }
    (obs, gframes)
}

fn moving(backend: &dyn Backend, bytes: &[u8], m: &MediaRec, p: &QualityParams) -> MediaOutcome {
    let requested = Gesture::from_tags(&m.tags);
    // A blink is shorter than the gap between a dozen evenly spread samples: read densely.
    let count = if requested.contains(&Gesture::Blink) {
        p.sample_frames.max(gestures::BLINK_SAMPLE_FRAMES)
    } else {
        p.sample_frames
    };
    let examined = match examine_frames(backend, bytes, m.media_type, count, true) {
        Ok(f) => f,
        Err(e) => return failed_media(m, &e.to_string()),
    };
    let (obs, gframes) = observe(&examined.frames);
    match video_liveness::assess(&obs) {
        Liveness::Unjudged { reason, cues } => {
            let mut o = failed_media(m, &reason);
            o.results_data["cues"] = cues;
            o
        }
        Liveness::Scored {
            confidence_spoofing: parallax_score,
            cues,
        } => {
            let mut checks = Vec::new();
            for g in &requested {
                match gestures::check(*g, &gframes) {
                    Some(c) => checks.push(c),
                    None => {
                        let mut o = failed_media(
                            m,
                            &format!(
                                "gesture {} could not be judged: fewer than {} frames with face measures",
                                g.tag(),
                                gestures::MIN_FRAMES
                            ),
                        );
                        o.results_data["cues"] = cues;
                        return o;
                    }
                }
            }
            // Aggregation (docs/liveness.md): the worst of every requested gesture's score and,
            // unless only non-rigid gestures (smile, blink) were requested, the parallax score;
            // a gesture that did not happen declines on its own.
            let parallax_required = requested.is_empty() || requested.iter().any(|g| g.is_rigid());
            let base = if parallax_required {
                parallax_score
            } else {
                0.0
            };
            let motion_score = checks.iter().map(|c| c.score).fold(base, f32::max);
            // An installed passive model also scores the best shot, and can only make the
            // verdict stricter: confidence_spoofing = max(motion/gesture score, passive score).
            // Without a model there is no passive term (`passive_score: null`); a model that
            // fails makes the media FAIL rather than pass on partial evidence.
            let best = examined.best.as_ref();
            let passive_score = match best.map(|b| (b, &b.face)) {
                Some((b, Ok(face))) => match backend.passive_liveness(&b.image, face) {
                    Ok(s) => Some(s),
                    Err(FaceError::NoPassiveModel) => None,
                    Err(e) => {
                        let mut o =
                            failed_media(m, &format!("passive liveness on the best shot: {e}"));
                        o.results_data["cues"] = cues;
                        return o;
                    }
                },
                _ => None,
            };
            let confidence_spoofing = passive_score.map_or(motion_score, |s| motion_score.max(s));
            let passive_attack = passive_score.is_some_and(|s| s >= p.liveness_threshold);
            let no_depth = parallax_required && parallax_score >= p.liveness_threshold;
            let gesture_missing = checks.iter().any(|c| !c.passed);
            let resolution = if gesture_missing {
                Resolution::Declined
            } else {
                verdicts::quality_one(confidence_spoofing, p.liveness_threshold)
            };
            let gesture_json: Vec<Value> = checks
                .iter()
                .map(|c| {
                    json!({
                        "requested": c.gesture.tag(),
                        "passed": c.passed,
                        "progress": c.progress,
                        "score": c.score,
                        "observed": c.observed,
                    })
                })
                .collect();
            let best_shot = if p.extract_best_shot {
                best.and_then(|f| encode_jpeg(&f.image).ok())
            } else {
                None
            };
            let mut data = json!({
                "confidence_spoofing": confidence_spoofing,
                "parallax_score": parallax_score,
                "parallax_required": parallax_required,
                "motion_score": motion_score,
                "passive_score": passive_score,
                "best_shot_frame": best.map(|f| f.index),
                "cues": cues,
                "gestures": gesture_json,
            });
            if gesture_missing {
                let missing: Vec<&str> = checks
                    .iter()
                    .filter(|c| !c.passed)
                    .map(|c| c.gesture.tag())
                    .collect();
                data["decline_reason"] = json!(format!(
                    "requested gesture not observed: {}",
                    missing.join(", ")
                ));
            } else if no_depth {
                data["decline_reason"] = json!(format!(
                    "no 3-D head motion seen: the face moved like a flat picture (parallax {:.3} of the eye distance, {} needed); turn the head, or request a gesture",
                    cues["parallax"].as_f64().unwrap_or(0.0),
                    video_liveness::PARALLAX_MID
                ));
            } else if passive_attack {
                data["decline_reason"] = json!(format!(
                    "the passive liveness model scored the best shot as an attack ({:.3})",
                    passive_score.unwrap_or(1.0)
                ));
            }
            MediaOutcome {
                media_id: m.media_id,
                media_type: m.media_type,
                resolution,
                results_data: data,
                best_shot,
                matched_persons: Vec::new(),
            }
        }
    }
}
