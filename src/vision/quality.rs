//! Image quality of one face, for choosing the best shot among video frames: size, sharpness,
//! frontal pose, exposure and detector confidence, each mapped to `[0, 1]` by the documented
//! formulas below (docs/vision.md), and their geometric mean as the overall score.

use image::RgbImage;
use serde::Serialize;

use super::embed::DLIB_150_TEMPLATE;
use super::resize::{Layout, Normalize};
use super::warp::{warp_to_tensor, Affine};
use super::Face;

/// Side of the grey face patch the sharpness and exposure measures are taken on.
const PATCH: usize = 64;
/// Eye distance (px) at and above which size no longer limits quality (the embedder's chip has
/// ~53 px between the eyes; more resolution adds nothing).
const FULL_EYE_DISTANCE: f32 = 60.0;
/// Laplacian variance (0..255 grey, 64-px patch) giving sharpness 0.5.
const SHARPNESS_HALF: f32 = 60.0;
/// Nose-below-eyes ratio of a frontal face in the dlib template.
const FRONTAL_NOSE_RATIO: f32 = (DLIB_150_TEMPLATE[2][1] - DLIB_150_TEMPLATE[0][1])
    / (DLIB_150_TEMPLATE[3][1] - DLIB_150_TEMPLATE[0][1]);

/// Quality measures of one face (raw values plus their `[0, 1]` components).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    /// Distance between the eyes, pixels.
    pub face_size: f32,
    /// Variance of the Laplacian on a 64-px grey face patch.
    pub sharpness: f32,
    /// Frontalness from the 5 landmarks: 1 = frontal, 0 = turned/tilted by ~30 degrees or more.
    pub pose: f32,
    /// Mean grey level of the face patch, 0..255.
    pub brightness: f32,
    /// Exposure component: 1 = well exposed, lower when too dark/bright or clipped.
    pub exposure: f32,
    /// Detector confidence.
    pub detector_score: f32,
    /// Size component `min(1, eye distance / 60)`.
    pub size_score: f32,
    /// Sharpness component `v / (v + 60)`.
    pub sharpness_score: f32,
    /// Geometric mean of size, sharpness, pose, exposure and detector components.
    pub score: f32,
}

/// Measures the quality of `face` in `img`.
pub fn quality(img: &RgbImage, face: &Face) -> Quality {
    let face_size = face.eye_distance();
    let size_score = (face_size / FULL_EYE_DISTANCE).clamp(0.0, 1.0);
    let grey = face_patch(img, face);
    let (sharpness, brightness, clipped) = match &grey {
        Some(g) => (laplacian_variance(g), mean(g), clipped_fraction(g)),
        None => (0.0, 0.0, 1.0),
    };
    let sharpness_score = sharpness / (sharpness + SHARPNESS_HALF);
    let exposure = exposure_score(brightness, clipped);
    let pose = pose_score(face);
    let detector_score = face.score.clamp(0.0, 1.0);
    let parts = [size_score, sharpness_score, pose, exposure, detector_score];
    let score = if parts.iter().any(|&p| p <= 0.0) {
        0.0
    } else {
        (parts.iter().map(|p| p.ln()).sum::<f32>() / parts.len() as f32).exp()
    };
    Quality {
        face_size,
        sharpness,
        pose,
        brightness,
        exposure,
        detector_score,
        size_score,
        sharpness_score,
        score,
    }
}

/// Frontalness: the nose should sit midway between the eyes (yaw) and at the template's height
/// between eyes and mouth (pitch), measured in the eye-levelled frame.
fn pose_score(face: &Face) -> f32 {
    let [le, re, nose, lm, rm] = face.landmarks5;
    let eye_mid = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
    let mouth_mid = [(lm[0] + rm[0]) / 2.0, (lm[1] + rm[1]) / 2.0];
    let ex = [re[0] - le[0], re[1] - le[1]];
    let eye_dist = (ex[0] * ex[0] + ex[1] * ex[1]).sqrt();
    if eye_dist < 1e-3 {
        return 0.0;
    }
    let ux = [ex[0] / eye_dist, ex[1] / eye_dist];
    let uy = [-ux[1], ux[0]];
    let rel = |p: [f32; 2]| {
        let d = [p[0] - eye_mid[0], p[1] - eye_mid[1]];
        [d[0] * ux[0] + d[1] * ux[1], d[0] * uy[0] + d[1] * uy[1]]
    };
    let n = rel(nose);
    let m = rel(mouth_mid);
    let yaw_off = n[0] / eye_dist;
    let pitch_ratio = if m[1] > 1e-3 { n[1] / m[1] } else { 0.0 };
    let yaw_part = (1.0 - yaw_off.abs() / 0.5).clamp(0.0, 1.0);
    let pitch_part = (1.0 - (pitch_ratio - FRONTAL_NOSE_RATIO).abs() / 0.35).clamp(0.0, 1.0);
    yaw_part * pitch_part
}

/// 1 for a mean grey level in 70..190 with little clipping, falling off linearly outside.
fn exposure_score(mean: f32, clipped: f32) -> f32 {
    let level = if mean < 70.0 {
        (mean - 20.0) / 50.0
    } else if mean > 190.0 {
        (240.0 - mean) / 50.0
    } else {
        1.0
    };
    (level.clamp(0.0, 1.0) * (1.0 - 2.0 * clipped).clamp(0.0, 1.0)).clamp(0.0, 1.0)
}

/// The face box (eye-levelled, square on the larger side) as a 64x64 grey patch.
fn face_patch(img: &RgbImage, face: &Face) -> Option<Vec<f32>> {
    let [x1, y1, x2, y2] = face.bbox;
    let side = (x2 - x1).max(y2 - y1);
    if side < 1.0 {
        return None;
    }
    let centre = [(x1 + x2) / 2.0, (y1 + y2) / 2.0];
    let [l, r] = [face.landmarks5[0], face.landmarks5[1]];
    let angle = (r[1] - l[1]).atan2(r[0] - l[0]);
    let half = PATCH as f32 / 2.0 - 0.5;
    let t = Affine::rotate_scale(centre, -angle, PATCH as f32 / side, [half, half]);
    let rgb = warp_to_tensor(img, &t, PATCH, PATCH, Layout::Nhwc, &Normalize::RAW_RGB)?;
    Some(
        rgb.chunks_exact(3)
            .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
            .collect(),
    )
}

fn mean(g: &[f32]) -> f32 {
    g.iter().sum::<f32>() / g.len().max(1) as f32
}

fn clipped_fraction(g: &[f32]) -> f32 {
    g.iter().filter(|&&v| !(8.0..=247.0).contains(&v)).count() as f32 / g.len().max(1) as f32
}

/// Variance of the 4-neighbour Laplacian over the patch interior.
fn laplacian_variance(g: &[f32]) -> f32 {
    let n = PATCH;
    let mut vals = Vec::with_capacity((n - 2) * (n - 2));
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let c = g[y * n + x];
            let l = g[y * n + x - 1] + g[y * n + x + 1] + g[(y - 1) * n + x] + g[(y + 1) * n + x]
                - 4.0 * c;
            vals.push(l);
        }
    }
    let m = mean(&vals);
    vals.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / vals.len().max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> Face {
        Face {
            bbox: [20.0, 20.0, 100.0, 120.0],
            score: 0.9,
            landmarks5: [
                [40.0, 55.0],
                [80.0, 55.0],
                [60.0, 75.0],
                [45.0, 95.0],
                [75.0, 95.0],
            ],
        }
    }

    #[test]
    fn flat_patch_is_not_sharp_and_noise_is() {
        let flat = RgbImage::from_pixel(128, 128, image::Rgb([120, 120, 120]));
        let q = quality(&flat, &face());
        assert!(q.sharpness < 1e-3);
        let mut noisy = flat.clone();
        for (i, p) in noisy.pixels_mut().enumerate() {
            let v = if (i * 7919) % 13 < 6 { 40 } else { 200 };
            *p = image::Rgb([v, v, v]);
        }
        assert!(quality(&noisy, &face()).sharpness > 100.0);
    }

    #[test]
    fn turned_face_scores_lower_pose() {
        let frontal = pose_score(&face());
        let mut turned = face();
        turned.landmarks5[2][0] += 15.0;
        assert!(frontal > 0.9, "{frontal}");
        assert!(pose_score(&turned) < frontal - 0.3);
    }
}
