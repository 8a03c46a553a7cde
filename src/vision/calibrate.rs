//! Raw descriptor distance -> the Oz `confidence` scale (1.0 = same person, 0.85 = the operating
//! point for "same person"), and liveness scores on the 0.5 operating point.
//!
//! The mapping is piecewise linear in the L2 distance `d` between the two L2-normalised
//! descriptors, through the knots in [`MATCH_KNOTS`]. Their source (docs/vision.md): the measured
//! genuine/impostor cosine distributions of this net with the same dlib chip on 103 faces / 21
//! identities (measured when the models were chosen), converted to L2 on normalised vectors
//! (`d = sqrt(2 (1 - cos))`): the 0.85 knot sits in the gap between the largest real-photo genuine
//! distance (Obama x3, 0.33) and the smallest real-photo impostor distance (0.38); 0.95 at the
//! genuine mean (0.25); 0.5 below the impostor mean (0.52); 0 well past it.
//! `tests/vision_accuracy.rs` checks the knots against the repository's images.

use super::{Embedding, VisionError};

/// `(L2 distance, confidence)` knots of the built-in embedder's calibration, increasing in `d`.
pub const MATCH_KNOTS: [(f32, f32); 5] = [
    (0.0, 1.0),
    (0.25, 0.95),
    (0.36, 0.85),
    (0.45, 0.50),
    (0.60, 0.0),
];

/// Liveness operating point: `confidence_spoofing >= 0.5` means attack. A passive model's attack
/// probability is used as `confidence_spoofing` unchanged (the operator's model is calibrated by
/// its vendor; its 0.5 decision point is the API's).
pub const LIVENESS_OPERATING_POINT: f32 = 0.5;

/// L2 distance between two embeddings of the same model.
pub fn l2_distance(a: &Embedding, b: &Embedding) -> Result<f32, VisionError> {
    if a.model_id != b.model_id || a.model_version != b.model_version {
        return Err(VisionError::ModelMismatch {
            a: format!("{} {}", a.model_id, a.model_version),
            b: format!("{} {}", b.model_id, b.model_version),
        });
    }
    if a.vector.len() != b.vector.len() || a.vector.is_empty() {
        return Err(VisionError::ModelMismatch {
            a: format!("{} values", a.vector.len()),
            b: format!("{} values", b.vector.len()),
        });
    }
    let d2: f32 = a
        .vector
        .iter()
        .zip(&b.vector)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    if !d2.is_finite() {
        return Err(VisionError::Model {
            model: a.model_id.clone(),
            message: "embedding is not finite".into(),
        });
    }
    Ok(d2.sqrt())
}

/// Maps an L2 distance to the confidence scale through [`MATCH_KNOTS`].
pub fn distance_to_confidence(d: f32) -> f32 {
    let k = &MATCH_KNOTS;
    if d.is_nan() || d <= k[0].0 {
        return k[0].1;
    }
    for w in k.windows(2) {
        let ((d0, c0), (d1, c1)) = (w[0], w[1]);
        if d <= d1 {
            return c0 + (c1 - c0) * (d - d0) / (d1 - d0);
        }
    }
    k[k.len() - 1].1
}

/// Confidence that two embeddings show the same person, on the Oz scale (0.85 = operating point).
/// Refuses embeddings of different models or model versions.
pub fn match_confidence(a: &Embedding, b: &Embedding) -> Result<f32, VisionError> {
    Ok(distance_to_confidence(l2_distance(a, b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(v: Vec<f32>, version: &str) -> Embedding {
        Embedding {
            model_id: "m".into(),
            model_version: version.into(),
            vector: v,
        }
    }

    #[test]
    fn mapping_is_monotone_and_hits_the_operating_point() {
        let mut prev = 2.0;
        for i in 0..=200 {
            let c = distance_to_confidence(i as f32 * 0.01);
            assert!(c <= prev && (0.0..=1.0).contains(&c));
            prev = c;
        }
        let at = MATCH_KNOTS.iter().find(|k| k.1 == 0.85).map(|k| k.0);
        assert_eq!(at.map(distance_to_confidence), Some(0.85));
        assert_eq!(distance_to_confidence(0.0), 1.0);
        assert_eq!(distance_to_confidence(2.0), 0.0);
    }

    #[test]
    fn different_versions_are_refused() {
        let a = emb(vec![1.0, 0.0], "1");
        let b = emb(vec![0.0, 1.0], "2");
        assert!(matches!(
            match_confidence(&a, &b),
            Err(VisionError::ModelMismatch { .. })
        ));
        let c = emb(vec![1.0, 0.0], "1");
        assert_eq!(match_confidence(&a, &c).ok(), Some(1.0));
    }
}
