//! Whether a person image is fit to become a template, and why not. A watchlist entry made from
//! a bad photo either never matches or matches everybody, so the image is refused with the
//! reason instead:
//!
//! * `no_face`: the detector found no face;
//! * `several_faces`: a second face at least a third as wide as the largest one (and at least
//!   half the minimum face width) is in the picture, so it is not clear who the person is;
//!   tiny faces in the background are ignored;
//! * `face_too_small`: the face box is narrower than `collections.min_face_px`;
//! * `too_blurry`: the face's sharpness component (vision quality, `v / (v + 60)` of the
//!   Laplacian variance) is below `collections.min_sharpness`.

use serde::Serialize;

use crate::collections::model::TemplateRec;
use crate::collections::search::ModelKey;

/// A template made from a person image, and the face it was made from.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub template: TemplateRec,
    pub face_bbox: [f32; 4],
}

/// Why enrolment produced no template.
#[derive(Debug, Clone)]
pub enum EnrolError {
    /// The image is not fit (client error, with the reason).
    Refused(Refusal),
    /// The face models failed (a server error).
    Internal(String),
}

/// Makes templates from person images. The server's implementation runs the vision engine
/// (`collections::engine`); keeping it behind a trait lets the collection logic be tested and
/// built without the models.
pub trait Enroller: Send + Sync {
    /// The model (id, version) whose templates [`Enroller::enrol`] makes.
    fn model(&self) -> ModelKey;
    /// Decodes the image, checks it shows exactly one usable face and makes its template.
    fn enrol(&self, bytes: &[u8]) -> Result<Enrolled, EnrolError>;
}

/// The configured limits an image must meet.
#[derive(Debug, Clone, Copy)]
pub struct EnrolRules {
    pub min_face_px: f32,
    pub min_sharpness: f32,
}

/// Why an image was refused (machine-readable `reason` plus a sentence).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    /// The image could not be read at all.
    pub fn undecodable(msg: impl std::fmt::Display) -> Refusal {
        Refusal {
            reason: "undecodable",
            message: format!("the image could not be decoded: {msg}"),
        }
    }
}

/// Picks the subject among detected face widths (index of the widest face), or says why the
/// image cannot be used. `widths` are face box widths in pixels.
pub fn choose_face(widths: &[f32], rules: &EnrolRules) -> Result<usize, Refusal> {
    let Some((best, &w)) = widths.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
        return Err(Refusal {
            reason: "no_face",
            message: "no face was found in the image; send a photo showing the person's face"
                .into(),
        });
    };
    let relevant = (w / 3.0).max(rules.min_face_px / 2.0);
    let others = widths
        .iter()
        .enumerate()
        .filter(|(i, x)| *i != best && **x >= relevant)
        .count();
    if others > 0 {
        return Err(Refusal {
            reason: "several_faces",
            message: format!(
                "the image shows {} faces; a person image must show exactly one face",
                others + 1
            ),
        });
    }
    if w < rules.min_face_px {
        return Err(Refusal {
            reason: "face_too_small",
            message: format!(
                "the face is {w:.0} px wide, less than the {:.0} px a person image needs; send a closer or larger photo",
                rules.min_face_px
            ),
        });
    }
    Ok(best)
}

/// Checks the sharpness of the chosen face.
pub fn check_sharpness(sharpness: f32, rules: &EnrolRules) -> Result<(), Refusal> {
    if sharpness.is_nan() || sharpness < rules.min_sharpness {
        return Err(Refusal {
            reason: "too_blurry",
            message: format!(
                "the face is too blurry (sharpness {sharpness:.2}, at least {:.2} needed); send a sharper photo",
                rules.min_sharpness
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: EnrolRules = EnrolRules {
        min_face_px: 60.0,
        min_sharpness: 0.2,
    };

    #[test]
    fn each_reason_is_reported() {
        assert_eq!(choose_face(&[], &R).map_err(|r| r.reason), Err("no_face"));
        assert_eq!(
            choose_face(&[200.0, 150.0], &R).map_err(|r| r.reason),
            Err("several_faces")
        );
        assert_eq!(
            choose_face(&[40.0], &R).map_err(|r| r.reason),
            Err("face_too_small")
        );
        assert_eq!(
            check_sharpness(0.1, &R).map_err(|r| r.reason),
            Err("too_blurry")
        );
        assert_eq!(
            check_sharpness(f32::NAN, &R).map_err(|r| r.reason),
            Err("too_blurry")
        );
        assert!(check_sharpness(0.5, &R).is_ok());
    }

    #[test]
    fn background_faces_are_ignored_and_the_widest_is_the_subject() {
        assert_eq!(choose_face(&[20.0, 240.0, 25.0], &R), Ok(1));
        assert_eq!(choose_face(&[90.0], &R), Ok(0));
        // A second face a third as wide as the subject counts.
        assert!(choose_face(&[240.0, 80.0], &R).is_err());
    }
}
