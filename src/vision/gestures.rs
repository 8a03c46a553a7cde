//! Active liveness gestures: from the FaceMesh measures of a video's sampled frames, did the
//! action the media's tag asked for actually happen? Pure logic, no models; see
//! `docs/liveness.md` for the thresholds, the sign conventions and what each check addresses.
//!
//! Every check compares the frames with a **neutral baseline**: the median of the measure over
//! the first [`BASELINE_SHARE`] of the face frames (at least one frame), because a capture starts
//! with the subject looking at the camera and then performs the action. The check's *progress*
//! is the largest change in the requested direction divided by the threshold, so `progress >= 1`
//! means the gesture happened. Its score on the `confidence_spoofing` scale is
//! `2^-progress` (1 = nothing happened, 0.5 exactly at the threshold, 0.25 at twice it).

use serde::Serialize;
use serde_json::{json, Value};

use super::mesh::MeshMeasures;

/// Share of the face frames (from the start) whose median is the neutral baseline.
pub const BASELINE_SHARE: f32 = 0.25;
/// Head turn: yaw change needed, degrees.
pub const YAW_MIN_DEG: f32 = 15.0;
/// Nod down / look up: pitch change needed, degrees.
pub const PITCH_MIN_DEG: f32 = 10.0;
/// Smile: relative growth of the mouth width (mouth corners / outer eye corners) needed.
pub const SMILE_MIN_GROWTH: f32 = 0.10;
/// Blink: the eye aspect ratio must drop by this share of the baseline ...
pub const BLINK_MIN_DROP: f32 = 0.35;
/// ... and afterwards come back to at least this share of the baseline.
pub const BLINK_RECOVER: f32 = 0.80;
/// Zoom: relative change of the face size (inter-ocular distance / frame width) needed.
pub const ZOOM_MIN_CHANGE: f32 = 0.25;
/// Frames decoded for a blink check: a blink lasts 100-300 ms (3-9 frames at 30 fps), which an
/// evenly spread sample of a dozen frames usually misses, so every frame up to this many is read.
/// Memory does not grow with it: frames are examined one at a time as they are decoded and only
/// their measures (a few KB each) are kept, plus one frame's pixels for the best shot
/// (`analysis::outcome::examine_frames`: at most two RGB frames alive, ~22 MB at 1920x1920).
pub const BLINK_SAMPLE_FRAMES: usize = 90;

/// The action a liveness media asks for, from its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gesture {
    /// The subject turns the head to their own left (`video_selfie_left`).
    TurnLeft,
    /// The subject turns the head to their own right (`video_selfie_right`).
    TurnRight,
    /// Chin down (`video_selfie_down`).
    Down,
    /// Chin up / look up (`video_selfie_high`).
    Up,
    /// Smile (`video_selfie_smile`).
    Smile,
    /// Close and reopen the eyes (`video_selfie_eyes`).
    Blink,
    /// Bring the phone closer: the face grows (`video_selfie_zoom_in`).
    ZoomIn,
    /// Move the phone away: the face shrinks (`video_selfie_zoom_out`).
    ZoomOut,
}

impl Gesture {
    /// The gesture a tag requests; `None` for tags without one (`video_selfie`,
    /// `video_selfie_blank`, `video_selfie_scan`, anything else): those are judged on presence
    /// and parallax only.
    pub fn from_tag(tag: &str) -> Option<Gesture> {
        Some(match tag {
            "video_selfie_left" => Gesture::TurnLeft,
            "video_selfie_right" => Gesture::TurnRight,
            "video_selfie_down" => Gesture::Down,
            "video_selfie_high" => Gesture::Up,
            "video_selfie_smile" => Gesture::Smile,
            "video_selfie_eyes" => Gesture::Blink,
            "video_selfie_zoom_in" => Gesture::ZoomIn,
            "video_selfie_zoom_out" => Gesture::ZoomOut,
            _ => return None,
        })
    }

    /// All gestures requested by a media's tags (in tag order, without repeats).
    pub fn from_tags<S: AsRef<str>>(tags: &[S]) -> Vec<Gesture> {
        let mut out = Vec::new();
        for g in tags.iter().filter_map(|t| Gesture::from_tag(t.as_ref())) {
            if !out.contains(&g) {
                out.push(g);
            }
        }
        out
    }

    /// True for gestures that move the head as a rigid body (turns, tilts, zoom): a tilted or
    /// moved photo imitates their measures, so they count as liveness evidence only together with
    /// the 3-D parallax of `analysis::video_liveness`. A smile or a blink deforms the face, which
    /// a flat photo cannot do, so they stand as evidence on their own.
    pub fn is_rigid(self) -> bool {
        !matches!(self, Gesture::Smile | Gesture::Blink)
    }

    /// The tag name, for reports.
    pub fn tag(self) -> &'static str {
        match self {
            Gesture::TurnLeft => "video_selfie_left",
            Gesture::TurnRight => "video_selfie_right",
            Gesture::Down => "video_selfie_down",
            Gesture::Up => "video_selfie_high",
            Gesture::Smile => "video_selfie_smile",
            Gesture::Blink => "video_selfie_eyes",
            Gesture::ZoomIn => "video_selfie_zoom_in",
            Gesture::ZoomOut => "video_selfie_zoom_out",
        }
    }
}

/// What one sampled frame contributes to the gesture checks.
#[derive(Debug, Clone, Copy)]
pub struct GestureFrame {
    /// Index of the frame in the media.
    pub index: usize,
    /// Mesh measures of the subject; `None` when no face/mesh was found in the frame.
    pub measures: Option<MeshMeasures>,
    /// Face size: inter-ocular distance / frame width (0 when no face).
    pub face_size: f32,
}

/// The verdict of one gesture check with the numbers behind it.
#[derive(Debug, Clone)]
pub struct GestureCheck {
    pub gesture: Gesture,
    pub passed: bool,
    /// Largest change in the requested direction / threshold (>= 1 passes).
    pub progress: f32,
    /// `2^-progress` on the `confidence_spoofing` scale.
    pub score: f32,
    /// Baseline, extremes and the frame where the action peaked, for `results_data`.
    pub observed: Value,
}

/// Frames needed before a gesture is judged (baseline + at least one later frame).
pub const MIN_FRAMES: usize = 2;

/// Checks one gesture over the frames (in media order). `None` when fewer than [`MIN_FRAMES`]
/// frames have measures: there is nothing to judge, and no score is made up.
pub fn check(gesture: Gesture, frames: &[GestureFrame]) -> Option<GestureCheck> {
    let series: Vec<(usize, f32)> = frames
        .iter()
        .filter_map(|f| {
            let m = f.measures?;
            let v = match gesture {
                Gesture::TurnLeft | Gesture::TurnRight => m.yaw,
                Gesture::Down | Gesture::Up => m.pitch,
                Gesture::Smile => m.smile_width,
                Gesture::Blink => m.eye_openness,
                Gesture::ZoomIn | Gesture::ZoomOut => f.face_size,
            };
            v.is_finite().then_some((f.index, v))
        })
        .collect();
    if series.len() < MIN_FRAMES {
        return None;
    }
    let base = baseline(&series);
    let (progress, peak, observed) = match gesture {
        Gesture::TurnLeft => signed(&series, base, 1.0, YAW_MIN_DEG, "yaw_deg"),
        Gesture::TurnRight => signed(&series, base, -1.0, YAW_MIN_DEG, "yaw_deg"),
        Gesture::Up => signed(&series, base, 1.0, PITCH_MIN_DEG, "pitch_deg"),
        Gesture::Down => signed(&series, base, -1.0, PITCH_MIN_DEG, "pitch_deg"),
        Gesture::Smile => relative(&series, base, 1.0, SMILE_MIN_GROWTH, "smile_width"),
        Gesture::ZoomIn => relative(&series, base, 1.0, ZOOM_MIN_CHANGE, "face_size"),
        Gesture::ZoomOut => relative(&series, base, -1.0, ZOOM_MIN_CHANGE, "face_size"),
        Gesture::Blink => blink(&series, base),
    };
    let progress = if progress.is_finite() {
        progress.max(0.0)
    } else {
        0.0
    };
    let mut observed = observed;
    if let Value::Object(o) = &mut observed {
        o.insert("frames".into(), json!(series.len()));
        o.insert("peak_frame".into(), json!(peak));
    }
    Some(GestureCheck {
        gesture,
        passed: progress >= 1.0,
        progress,
        score: 2f32.powf(-progress),
        observed,
    })
}

/// Median of the first [`BASELINE_SHARE`] of the series.
fn baseline(series: &[(usize, f32)]) -> f32 {
    let n = ((series.len() as f32 * BASELINE_SHARE).ceil() as usize).clamp(1, series.len());
    let mut head: Vec<f32> = series[..n].iter().map(|s| s.1).collect();
    head.sort_by(f32::total_cmp);
    if n % 2 == 1 {
        head[n / 2]
    } else {
        (head[n / 2 - 1] + head[n / 2]) / 2.0
    }
}

fn range(series: &[(usize, f32)]) -> (f32, f32) {
    series
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s.1), hi.max(s.1))
        })
}

/// Largest `direction * (v - base)` over the series / `threshold` (an absolute change).
fn signed(
    series: &[(usize, f32)],
    base: f32,
    direction: f32,
    threshold: f32,
    name: &str,
) -> (f32, usize, Value) {
    let (peak, change) = series
        .iter()
        .map(|&(i, v)| (i, direction * (v - base)))
        .fold((series[0].0, f32::NEG_INFINITY), |a, b| {
            if b.1 > a.1 {
                b
            } else {
                a
            }
        });
    let (lo, hi) = range(series);
    let observed = json!({
        "measure": name,
        "baseline": base,
        "min": lo,
        "max": hi,
        "change": direction * change,
        "threshold": direction * threshold,
    });
    (change / threshold, peak, observed)
}

/// Largest relative change `direction * (v / base - 1)` over the series / `threshold`.
fn relative(
    series: &[(usize, f32)],
    base: f32,
    direction: f32,
    threshold: f32,
    name: &str,
) -> (f32, usize, Value) {
    let (lo, hi) = range(series);
    if base <= 1e-6 {
        return (
            0.0,
            series[0].0,
            json!({ "measure": name, "baseline": base }),
        );
    }
    let (peak, change) = series
        .iter()
        .map(|&(i, v)| (i, direction * (v / base - 1.0)))
        .fold((series[0].0, f32::NEG_INFINITY), |a, b| {
            if b.1 > a.1 {
                b
            } else {
                a
            }
        });
    let observed = json!({
        "measure": name,
        "baseline": base,
        "min": lo,
        "max": hi,
        "relative_change": direction * change,
        "threshold": direction * threshold,
    });
    (change / threshold, peak, observed)
}

/// Blink: the deepest drop of the eye aspect ratio below the baseline (relative, / the needed
/// [`BLINK_MIN_DROP`]) counts only if a later frame reopens to [`BLINK_RECOVER`] x baseline;
/// eyes that close and stay closed, or a sequence that starts closed, are no blink.
fn blink(series: &[(usize, f32)], base: f32) -> (f32, usize, Value) {
    let (lo, hi) = range(series);
    if base <= 1e-6 {
        return (
            0.0,
            series[0].0,
            json!({ "measure": "eye_openness", "baseline": base }),
        );
    }
    let mut best = (0.0f32, series[0].0);
    for (k, &(i, v)) in series.iter().enumerate() {
        let drop = 1.0 - v / base;
        let reopened = series[k + 1..].iter().any(|s| s.1 >= BLINK_RECOVER * base);
        if reopened && drop > best.0 {
            best = (drop, i);
        }
    }
    let observed = json!({
        "measure": "eye_openness",
        "baseline": base,
        "min": lo,
        "max": hi,
        "relative_drop_with_reopen": best.0,
        "threshold": BLINK_MIN_DROP,
        "recover_share": BLINK_RECOVER,
    });
    (best.0 / BLINK_MIN_DROP, best.1, observed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(yaw: f32, pitch: f32, smile: f32, ear: f32) -> MeshMeasures {
        MeshMeasures {
            yaw,
            pitch,
            roll: 0.0,
            eye_openness: ear,
            eye_openness_left: ear,
            eye_openness_right: ear,
            mouth_opening: 0.05,
            smile_width: smile,
        }
    }

    fn frames(ms: &[MeshMeasures]) -> Vec<GestureFrame> {
        ms.iter()
            .enumerate()
            .map(|(i, m)| GestureFrame {
                index: i,
                measures: Some(*m),
                face_size: 0.2,
            })
            .collect()
    }

    fn yaws(v: &[f32]) -> Vec<GestureFrame> {
        frames(&v.iter().map(|y| m(*y, 0.0, 1.0, 0.28)).collect::<Vec<_>>())
    }

    #[test]
    fn turn_passes_only_in_its_direction() {
        let left = yaws(&[1.0, -1.0, 0.5, 8.0, 17.0, 25.0, 30.0, 28.0]);
        let l = check(Gesture::TurnLeft, &left).expect("judged");
        assert!(l.passed && l.progress > 1.5, "{:?}", l);
        assert!(l.score < 0.5);
        let r = check(Gesture::TurnRight, &left).expect("judged");
        assert!(!r.passed && r.score > 0.9, "{:?}", r);
        let right = yaws(&[0.0, 0.0, -10.0, -20.0, -24.0]);
        assert!(check(Gesture::TurnRight, &right).expect("judged").passed);
        assert!(!check(Gesture::TurnLeft, &right).expect("judged").passed);
    }

    #[test]
    fn jitter_below_the_threshold_is_no_turn() {
        let still = yaws(&[0.0, 2.0, -3.0, 4.0, -2.0, 5.0, 1.0, -4.0]);
        for g in [Gesture::TurnLeft, Gesture::TurnRight] {
            let c = check(g, &still).expect("judged");
            assert!(!c.passed, "{:?}", c);
            assert!(c.score > 0.6);
        }
    }

    #[test]
    fn score_is_two_to_the_minus_progress() {
        let c = check(Gesture::TurnLeft, &yaws(&[0.0, YAW_MIN_DEG])).expect("judged");
        assert!((c.progress - 1.0).abs() < 1e-5);
        assert!((c.score - 0.5).abs() < 1e-5);
        assert!(c.passed);
    }

    #[test]
    fn pitch_down_and_up() {
        let down = frames(&[m(0.0, 2.0, 1.0, 0.28), m(0.0, -15.0, 1.0, 0.28)]);
        assert!(check(Gesture::Down, &down).expect("judged").passed);
        assert!(!check(Gesture::Up, &down).expect("judged").passed);
    }

    #[test]
    fn smile_needs_the_mouth_to_widen() {
        let smile = frames(&[
            m(0.0, 0.0, 0.80, 0.28),
            m(0.0, 0.0, 0.81, 0.28),
            m(0.0, 0.0, 0.95, 0.28),
        ]);
        assert!(check(Gesture::Smile, &smile).expect("judged").passed);
        let flat = frames(&[m(0.0, 0.0, 0.80, 0.28), m(0.0, 0.0, 0.83, 0.28)]);
        assert!(!check(Gesture::Smile, &flat).expect("judged").passed);
    }

    #[test]
    fn blink_must_close_and_reopen() {
        let ear = |v: &[f32]| frames(&v.iter().map(|e| m(0.0, 0.0, 1.0, *e)).collect::<Vec<_>>());
        assert!(
            check(Gesture::Blink, &ear(&[0.28, 0.29, 0.10, 0.27]))
                .expect("judged")
                .passed
        );
        // closes and never reopens
        assert!(
            !check(Gesture::Blink, &ear(&[0.28, 0.29, 0.10, 0.09]))
                .expect("judged")
                .passed
        );
        // only a small flutter
        assert!(
            !check(Gesture::Blink, &ear(&[0.28, 0.26, 0.25, 0.28]))
                .expect("judged")
                .passed
        );
    }

    #[test]
    fn zoom_follows_face_size() {
        let mut f = yaws(&[0.0, 0.0, 0.0, 0.0]);
        for (k, x) in f.iter_mut().enumerate() {
            x.face_size = 0.15 + 0.03 * k as f32;
        }
        assert!(check(Gesture::ZoomIn, &f).expect("judged").passed);
        assert!(!check(Gesture::ZoomOut, &f).expect("judged").passed);
    }

    #[test]
    fn too_few_measured_frames_is_unjudged() {
        let mut f = yaws(&[0.0, 30.0]);
        f[1].measures = None;
        assert!(check(Gesture::TurnLeft, &f).is_none());
    }

    #[test]
    fn tags_map_to_gestures() {
        let g = Gesture::from_tags(&["video_selfie", "video_selfie_left", "video_selfie_left"]);
        assert_eq!(g, vec![Gesture::TurnLeft]);
        assert!(Gesture::from_tags(&["video_selfie_blank", "video_selfie_scan"]).is_empty());
        assert_eq!(Gesture::from_tag("video_selfie_eyes"), Some(Gesture::Blink));
    }
}
