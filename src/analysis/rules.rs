//! Which media an analysis consumes, in one place.
//!
//! * QUALITY (liveness): every media except document photos (`photo_id`, `photo_id_front`,
//!   `photo_id_back`), as the vendor does since 5.1.0.
//! * BIOMETRY and COLLECTION: every media except the back of a document (`photo_id_back`);
//!   videos and shot sets contribute their best frame.
//! * An explicit `source_media` list narrows the candidates to those media; the exclusions
//!   above still apply, and every excluded media is reported with its reason in
//!   `results_data.skipped_media` (never silently).

use serde_json::{json, Value};
use uuid::Uuid;

use crate::analysis::model::{AnalysisType, MediaRec};

/// The outcome of applying the rules.
#[derive(Debug)]
pub struct Selection<'a> {
    pub eligible: Vec<&'a MediaRec>,
    /// (media id, why it was left out).
    pub skipped: Vec<(Uuid, String)>,
}

impl Selection<'_> {
    /// `skipped_media` for `results_data`.
    pub fn skipped_json(&self) -> Value {
        Value::Array(
            self.skipped
                .iter()
                .map(|(id, why)| json!({"media_id": id, "reason": why}))
                .collect(),
        )
    }
}

fn has(m: &MediaRec, tag: &str) -> bool {
    m.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
}

/// Why `m` is not eligible for `kind`, or `None` when it is.
pub fn exclusion(kind: AnalysisType, m: &MediaRec) -> Option<String> {
    match kind {
        AnalysisType::Quality => ["photo_id", "photo_id_front", "photo_id_back"]
            .iter()
            .find(|t| has(m, t))
            .map(|t| format!("tagged {t}: document photos are not liveness media")),
        AnalysisType::Biometry | AnalysisType::Collection => has(m, "photo_id_back")
            .then(|| "tagged photo_id_back: the back of a document holds no face".to_string()),
        AnalysisType::Documents => None,
    }
}

/// Applies the rules to a folder's media (`requested` empty = all of them).
pub fn select<'a>(kind: AnalysisType, media: &'a [MediaRec], requested: &[Uuid]) -> Selection<'a> {
    let mut sel = Selection {
        eligible: Vec::new(),
        skipped: Vec::new(),
    };
    for m in media {
        if !requested.is_empty() && !requested.contains(&m.media_id) {
            continue;
        }
        match exclusion(kind, m) {
            Some(why) => sel.skipped.push((m.media_id, why)),
            None => sel.eligible.push(m),
        }
    }
    sel
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::MediaType;

    fn media(tags: &[&str]) -> MediaRec {
        let id = Uuid::new_v4();
        MediaRec {
            media_id: id,
            folder_id: Uuid::nil(),
            company_id: Uuid::nil(),
            media_type: MediaType::Image,
            field_name: "f".into(),
            original_name: "f.jpg".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            meta_data: json!({}),
            file_id: id,
            size: 1,
            time_created: 0.0,
            time_updated: 0.0,
        }
    }

    #[test]
    fn quality_skips_document_photos_and_biometry_skips_only_the_back() {
        let all = vec![
            media(&["photo_selfie"]),
            media(&["photo_id", "photo_id_front"]),
            media(&["photo_id", "photo_id_back"]),
            media(&[]),
        ];
        let q = select(AnalysisType::Quality, &all, &[]);
        assert_eq!(q.eligible.len(), 2);
        assert_eq!(q.skipped.len(), 2);
        let b = select(AnalysisType::Biometry, &all, &[]);
        assert_eq!(b.eligible.len(), 3);
        assert_eq!(b.skipped[0].0, all[2].media_id);
        let only = select(AnalysisType::Biometry, &all, &[all[0].media_id]);
        assert_eq!(only.eligible.len(), 1);
        assert!(only.skipped.is_empty());
    }
}
