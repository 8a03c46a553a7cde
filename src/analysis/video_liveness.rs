//! Liveness of a video or shot set from its sampled frames, without a trained anti-spoofing
//! model: is there evidence that a 3-D head (not a flat photo or screen) is in front of the
//! camera?
//!
//! What is measured (every number is reported in `results_data.cues`):
//!
//! 1. **Face presence**: the subject must be found in at least [`MIN_FACE_FRAMES`] sampled
//!    frames and in at least half of them; otherwise there is nothing to judge and the media
//!    FAILS with that reason (no score is made up).
//! 2. **Parallax**: a printed photo or a screen moves as a plane, so between two frames its
//!    landmarks map onto each other by one homography (a 3x3 projective map). A real head turning
//!    or nodding moves the nose, cheeks and jaw by different amounts that no homography explains.
//!    For every frame pair the 468 FaceMesh landmarks are fitted with a homography (least
//!    squares, normalised DLT) and the RMS transfer residual is taken relative to the
//!    inter-ocular distance (IOD). The median IOD over the face frames must be at least
//!    [`MIN_EYE_DISTANCE_PX`], otherwise the media FAILS with "the face is too small for the
//!    motion check" (landmark jitter on smaller faces reaches 0.05 IOD). `parallax` is the largest
//!    residual over all pairs; the `jitter_floor` is the median residual of consecutive pairs
//!    (at least [`NOISE_MIN`]).
//! 3. **Score** (`confidence_spoofing`, 1 = attack) is the larger of two logistic terms:
//!    `1 / (1 + exp((parallax - PARALLAX_MID) / PARALLAX_SCALE))`: the parallax is too small for a
//!    real head rotation (0.5 at [`PARALLAX_MID`] = 0.10 IOD), and
//!    `1 / (1 + exp(parallax / jitter_floor - RATIO_MIN))`: the parallax does not stand out of the
//!    landmark jitter of this clip (0.5 at [`RATIO_MIN`] = 4 times the floor). A steady turn
//!    over all N sampled frames gives a ratio of about N - 1 (every step adds the same
//!    parallax), pure jitter about 1-3, so the term only bites on clips whose largest residual is
//!    jitter: tiny or blurred faces, where landmark noise alone could exceed 0.10 IOD.
//!
//! Why absolute: FaceMesh predicts landmarks from appearance with a learned 3-D prior, so a flat
//! photo that is tilted or zoomed does NOT give perfectly planar landmarks. On the attack clips of
//! `docs/liveness.md` (30 clips: ten people's photos panned, tilted in perspective and zoomed) the
//! largest residual was 0.057 IOD, while a head turn of about 45 degrees gives 0.35 IOD; a turn
//! of ~12-15 degrees is needed to reach 0.10. A relative measure (largest residual / typical
//! consecutive residual), used before, let tilted and zoomed photos through (ratios 3-7).
//!
//! Consequence, stated plainly: a person who keeps still, or only shifts in the image, shows no
//! 3-D evidence and is declined on this check; a clip must contain a head rotation of roughly
//! 15 degrees or more (which the `video_selfie_left/right/down/high` gestures request), or a
//! non-rigid gesture (smile, blink) judged by [`crate::vision::gestures`]. An installed passive
//! model does not lift this: QUALITY takes the larger of this score and the passive model's
//! score of the best shot (`analysis::quality`), so the model can only add a decline.
//! Not addressed: a curved or folded print (real but small non-planarity), swapping two photos of
//! the same person taken from different angles, 3-D masks, and a screen replaying a video of the
//! real person moving (that content has real parallax).

use serde_json::{json, Value};

/// Frames with the face needed before anything is judged.
pub const MIN_FACE_FRAMES: usize = 3;
/// Smallest median inter-ocular distance, pixels, of a clip the parallax check judges: below it
/// the landmark jitter (several per cent of the eye distance) reaches the parallax of a real
/// turn. The median, not every frame: a turned head shows a shorter eye distance.
pub const MIN_EYE_DISTANCE_PX: f32 = 32.0;
/// Lowest jitter floor used, relative to the inter-ocular distance (landmark jitter never is 0,
/// but two identical frames of a shot set give a residual of 0).
pub const NOISE_MIN: f32 = 0.004;
/// Parallax (IOD units) at which the absolute term gives 0.5: about a 12-15 degree head turn.
pub const PARALLAX_MID: f32 = 0.10;
/// Width of the absolute term's logistic, IOD units.
pub const PARALLAX_SCALE: f32 = 0.015;
/// Parallax / jitter floor at which the relative term gives 0.5.
pub const RATIO_MIN: f32 = 4.0;

/// One sampled frame as the liveness check sees it.
#[derive(Debug, Clone)]
pub struct FrameObs {
    pub index: usize,
    /// Faces found (0 = none).
    pub face_count: usize,
    /// Inter-ocular distance of the subject, pixels.
    pub eye_distance: f32,
    /// Dense landmarks of the subject (empty when unavailable).
    pub mesh: Vec<[f32; 2]>,
}

/// The outcome for one media.
#[derive(Debug, Clone)]
pub enum Liveness {
    /// A measured score with the cues behind it.
    Scored {
        confidence_spoofing: f32,
        cues: Value,
    },
    /// Nothing could be judged; the reason goes to the client.
    Unjudged { reason: String, cues: Value },
}

/// Judges a sequence of sampled frames.
pub fn assess(frames: &[FrameObs]) -> Liveness {
    let sampled = frames.len();
    let with_face: Vec<&FrameObs> = frames
        .iter()
        .filter(|f| f.face_count >= 1 && f.mesh.len() >= 8 && f.eye_distance > 1.0)
        .collect();
    let mut eyes: Vec<f32> = with_face.iter().map(|f| f.eye_distance).collect();
    eyes.sort_by(f32::total_cmp);
    let median_eyes = eyes.get(eyes.len() / 2).copied().unwrap_or(0.0);
    let mut cues = json!({
        "method": "landmark_parallax_v2",
        "sampled_frames": sampled,
        "face_frames": with_face.len(),
        "median_eye_distance_px": median_eyes,
        "multi_face_frames": frames.iter().filter(|f| f.face_count > 1).count(),
    });
    if with_face.len() < MIN_FACE_FRAMES || with_face.len() * 2 < sampled {
        return Liveness::Unjudged {
            reason: format!(
                "the face was found in only {} of {} sampled frames (at least {} and half are needed)",
                with_face.len(),
                sampled,
                MIN_FACE_FRAMES
            ),
            cues,
        };
    }
    if median_eyes < MIN_EYE_DISTANCE_PX {
        return Liveness::Unjudged {
            reason: format!(
                "the face is too small for the motion check: the eyes are {median_eyes:.0} px apart (median over the frames), at least {MIN_EYE_DISTANCE_PX} px are needed; move closer to the camera or record at a higher resolution"
            ),
            cues,
        };
    }
    let mut consecutive = Vec::new();
    for w in with_face.windows(2) {
        if let Some(r) = planar_residual(w[0], w[1]) {
            consecutive.push(r);
        }
    }
    let mut parallax: f32 = 0.0;
    let mut motion: f32 = 0.0;
    for i in 0..with_face.len() {
        for j in i + 1..with_face.len() {
            if let Some(r) = planar_residual(with_face[i], with_face[j]) {
                parallax = parallax.max(r);
            }
            motion = motion.max(mean_displacement(with_face[i], with_face[j]));
        }
    }
    if consecutive.is_empty() {
        return Liveness::Unjudged {
            reason: "the face landmarks could not be matched across frames".into(),
            cues,
        };
    }
    consecutive.sort_by(f32::total_cmp);
    let floor = consecutive[consecutive.len() / 2].max(NOISE_MIN);
    let ratio = parallax / floor;
    let score = parallax_score(parallax, ratio);
    if let Value::Object(m) = &mut cues {
        m.insert("jitter_floor".into(), json!(floor));
        m.insert("parallax".into(), json!(parallax));
        m.insert("parallax_ratio".into(), json!(ratio));
        m.insert("max_motion".into(), json!(motion));
    }
    Liveness::Scored {
        confidence_spoofing: score,
        cues,
    }
}

/// The score of the module doc: the larger of the absolute and the relative logistic terms.
pub fn parallax_score(parallax: f32, ratio: f32) -> f32 {
    let absolute = 1.0 / (1.0 + ((parallax - PARALLAX_MID) / PARALLAX_SCALE).exp());
    let relative = 1.0 / (1.0 + (ratio - RATIO_MIN).exp());
    absolute.max(relative).clamp(0.0, 1.0)
}

/// Mean landmark displacement between two frames, relative to the inter-ocular distance.
fn mean_displacement(a: &FrameObs, b: &FrameObs) -> f32 {
    let n = a.mesh.len().min(b.mesh.len());
    if n == 0 {
        return 0.0;
    }
    let scale = (a.eye_distance + b.eye_distance) / 2.0;
    let sum: f32 = a.mesh[..n]
        .iter()
        .zip(&b.mesh[..n])
        .map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
        .sum();
    sum / n as f32 / scale
}

/// RMS residual of the best homography from `a`'s landmarks to `b`'s, relative to the
/// inter-ocular distance; `None` when the fit is degenerate.
fn planar_residual(a: &FrameObs, b: &FrameObs) -> Option<f32> {
    let n = a.mesh.len().min(b.mesh.len());
    if n < 8 {
        return None;
    }
    let h = fit_homography(&a.mesh[..n], &b.mesh[..n])?;
    let mut sq = 0.0f64;
    for (p, q) in a.mesh[..n].iter().zip(&b.mesh[..n]) {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        let w = h[6] * x + h[7] * y + 1.0;
        if w.abs() < 1e-9 {
            return None;
        }
        let u = (h[0] * x + h[1] * y + h[2]) / w;
        let v = (h[3] * x + h[4] * y + h[5]) / w;
        sq += (u - f64::from(q[0])).powi(2) + (v - f64::from(q[1])).powi(2);
    }
    let rms = (sq / n as f64).sqrt() as f32;
    let scale = (a.eye_distance + b.eye_distance) / 2.0;
    Some(rms / scale)
}

/// Similarity that moves the points' centroid to 0 and their mean distance to sqrt(2)
/// (Hartley normalisation): returns (scale, cx, cy).
fn normaliser(pts: &[[f32; 2]]) -> Option<(f64, f64, f64)> {
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| f64::from(p[0])).sum::<f64>() / n;
    let cy = pts.iter().map(|p| f64::from(p[1])).sum::<f64>() / n;
    let d = pts
        .iter()
        .map(|p| ((f64::from(p[0]) - cx).powi(2) + (f64::from(p[1]) - cy).powi(2)).sqrt())
        .sum::<f64>()
        / n;
    (d > 1e-9).then(|| (std::f64::consts::SQRT_2 / d, cx, cy))
}

/// Least-squares homography (h33 = 1) mapping `src` to `dst`, in pixel coordinates.
/// Returns the 8 free entries row-major.
pub fn fit_homography(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<[f64; 8]> {
    let (s1, sx, sy) = normaliser(src)?;
    let (s2, dx, dy) = normaliser(dst)?;
    let mut ata = [[0.0f64; 8]; 8];
    let mut atb = [0.0f64; 8];
    for (p, q) in src.iter().zip(dst) {
        let x = (f64::from(p[0]) - sx) * s1;
        let y = (f64::from(p[1]) - sy) * s1;
        let u = (f64::from(q[0]) - dx) * s2;
        let v = (f64::from(q[1]) - dy) * s2;
        let rows = [
            ([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u),
            ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v),
        ];
        for (r, b) in rows {
            for i in 0..8 {
                atb[i] += r[i] * b;
                for j in 0..8 {
                    ata[i][j] += r[i] * r[j];
                }
            }
        }
    }
    let hn = solve8(ata, atb)?;
    // Denormalise: H = T2^-1 * Hn * T1.
    let hn3 = [
        [hn[0], hn[1], hn[2]],
        [hn[3], hn[4], hn[5]],
        [hn[6], hn[7], 1.0],
    ];
    let t1 = [[s1, 0.0, -s1 * sx], [0.0, s1, -s1 * sy], [0.0, 0.0, 1.0]];
    let t2inv = [[1.0 / s2, 0.0, dx], [0.0, 1.0 / s2, dy], [0.0, 0.0, 1.0]];
    let m = mul3(&t2inv, &mul3(&hn3, &t1));
    let k = m[2][2];
    if k.abs() < 1e-12 {
        return None;
    }
    Some([
        m[0][0] / k,
        m[0][1] / k,
        m[0][2] / k,
        m[1][0] / k,
        m[1][1] / k,
        m[1][2] / k,
        m[2][0] / k,
        m[2][1] / k,
    ])
}

fn mul3(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

/// Gaussian elimination with partial pivoting; `None` for a singular system.
fn solve8(mut a: [[f64; 8]; 8], mut b: [f64; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let piv = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for row in col + 1..8 {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (k, v) in a[row].iter_mut().enumerate().skip(col) {
                *v -= f * pivot_row[k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0f64; 8];
    for i in (0..8).rev() {
        let s: f64 = (i + 1..8).map(|k| a[i][k] * x[k]).sum();
        x[i] = (b[i] - s) / a[i][i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic 3-D "head": points on an ellipsoid cap, projected with a pinhole camera
    /// after a rotation about the vertical axis.
    fn head(yaw: f32, shift: f32) -> Vec<[f32; 2]> {
        let mut pts = Vec::new();
        for i in 0..12 {
            for j in 0..12 {
                let x = (i as f32 - 5.5) / 6.0;
                let y = (j as f32 - 5.5) / 6.0;
                let z = (1.0 - x * x - y * y).max(0.0).sqrt() * 0.8; // nose sticks out
                let (c, s) = (yaw.cos(), yaw.sin());
                let xr = c * x + s * z;
                let zr = -s * x + c * z;
                let depth = 6.0 - zr;
                pts.push([
                    400.0 * xr / depth + 320.0 + shift,
                    400.0 * y / depth + 240.0,
                ]);
            }
        }
        pts
    }

    /// The same points flattened onto a plane (a printed photo), moved in the image.
    fn photo(shift: f32, tilt: f32) -> Vec<[f32; 2]> {
        head(0.0, 0.0)
            .into_iter()
            .map(|p| {
                let w = 1.0 + tilt * (p[0] - 320.0) / 640.0;
                [
                    (p[0] - 320.0) / w + 320.0 + shift,
                    (p[1] - 240.0) / w + 240.0,
                ]
            })
            .collect()
    }

    fn obs(i: usize, mesh: Vec<[f32; 2]>) -> FrameObs {
        FrameObs {
            index: i,
            face_count: 1,
            eye_distance: 60.0,
            mesh,
        }
    }

    fn jitter(mut m: Vec<[f32; 2]>, seed: u32) -> Vec<[f32; 2]> {
        let mut s = seed.wrapping_mul(2654435761).max(1);
        for p in &mut m {
            for c in p.iter_mut() {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                *c += ((s % 1000) as f32 / 1000.0 - 0.5) * 0.6;
            }
        }
        m
    }

    #[test]
    fn homography_fit_recovers_a_projective_map() {
        let src = photo(0.0, 0.0);
        let dst = photo(15.0, 0.2);
        let h = fit_homography(&src, &dst).expect("fit");
        let a = obs(0, src);
        let b = obs(1, dst);
        assert!(planar_residual(&a, &b).expect("residual") < 1e-3);
        assert!(h[0].is_finite());
    }

    fn scored(frames: &[FrameObs]) -> (f32, Value) {
        match assess(frames) {
            Liveness::Scored {
                confidence_spoofing,
                cues,
            } => (confidence_spoofing, cues),
            Liveness::Unjudged { reason, .. } => panic!("not scored: {reason}"),
        }
    }

    #[test]
    fn moving_photo_scores_as_attack_and_turning_head_as_live() {
        let attack: Vec<FrameObs> = (0..8)
            .map(|i| {
                obs(
                    i,
                    jitter(photo(i as f32 * 4.0, i as f32 * 0.03), i as u32 + 1),
                )
            })
            .collect();
        // A head turning by 5 degrees per frame, 35 degrees in all.
        let live: Vec<FrameObs> = (0..8)
            .map(|i| {
                obs(
                    i,
                    jitter(head(i as f32 * 5f32.to_radians(), 0.0), i as u32 + 1),
                )
            })
            .collect();
        let (sa, ca) = scored(&attack);
        let (sl, cl) = scored(&live);
        assert!(sa >= 0.5, "planar attack scored {sa}: {ca}");
        assert!(sl < 0.5, "turning head scored {sl}: {cl}");
    }

    #[test]
    fn a_small_head_motion_is_not_enough_evidence() {
        // 1 degree per frame: real 3-D, but within what a tilted photo's landmarks show.
        let small: Vec<FrameObs> = (0..8)
            .map(|i| obs(i, head(i as f32 * 1f32.to_radians(), 0.0)))
            .collect();
        let (s, cues) = scored(&small);
        assert!(s >= 0.5, "a 7 degree turn scored {s}: {cues}");
    }

    #[test]
    fn score_needs_parallax_both_absolute_and_above_the_jitter() {
        // The defect of the relative-only measure: small parallax over a very quiet clip.
        assert!(parallax_score(0.05, 12.5) > 0.9);
        // Large parallax that does not stand out of a very noisy clip.
        assert!(parallax_score(0.30, 2.0) > 0.85);
        // Large parallax well above the jitter.
        assert!(parallax_score(0.30, 40.0) < 0.01);
        // Monotonic in the parallax.
        let mut last = 1.0;
        for i in 0..40 {
            let s = parallax_score(i as f32 * 0.01, 100.0);
            assert!(s <= last, "not monotonic at {i}");
            last = s;
        }
    }

    #[test]
    fn a_face_too_small_for_the_landmarks_is_unjudged() {
        let frames: Vec<FrameObs> = (0..8)
            .map(|i| FrameObs {
                eye_distance: MIN_EYE_DISTANCE_PX - 1.0,
                ..obs(i, head(i as f32 * 5f32.to_radians(), 0.0))
            })
            .collect();
        match assess(&frames) {
            Liveness::Unjudged { reason, .. } => assert!(reason.contains("too small"), "{reason}"),
            other => panic!("scored a tiny face: {other:?}"),
        }
    }

    #[test]
    fn too_few_face_frames_is_unjudged_not_scored() {
        let mut frames: Vec<FrameObs> = (0..6).map(|i| obs(i, head(0.0, 0.0))).collect();
        for f in frames.iter_mut().skip(2) {
            f.face_count = 0;
            f.mesh.clear();
        }
        assert!(matches!(assess(&frames), Liveness::Unjudged { .. }));
    }
}
