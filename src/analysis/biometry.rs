//! BIOMETRY analysis: the subject's descriptor from every eligible media (the image itself, or
//! the best-quality sampled frame of a video or shot set), the calibrated match confidence of
//! every pair, `min_confidence` / `max_confidence` over the pairs, and the verdict on the worst
//! pair. Fewer than two media with a face, or any eligible media without a face, FAILS the
//! analysis with the reason (a match is never claimed on partial evidence).

use serde_json::{json, Map, Value};

use crate::analysis::face::{Backend, FaceEmbedding};
use crate::analysis::model::{MediaRec, Resolution, State};
use crate::analysis::outcome::{failed_media, label, subject, MediaOutcome, MediaSource, Outcome};
use crate::analysis::rules::Selection;
use crate::analysis::verdicts;

/// Options of a BIOMETRY analysis.
#[derive(Debug, Clone)]
pub struct BiometryParams {
    pub match_threshold: f32,
    pub sample_frames: usize,
}

/// Runs BIOMETRY over the selected media.
pub fn run(
    backend: &dyn Backend,
    source: &dyn MediaSource,
    sel: &Selection<'_>,
    p: &BiometryParams,
) -> Outcome {
    let mut base = Map::new();
    base.insert("skipped_media".into(), sel.skipped_json());
    if sel.eligible.len() < 2 {
        return Outcome::failed(
            format!(
                "BIOMETRY needs at least two eligible media (photos, ID photos, videos); found {}",
                sel.eligible.len()
            ),
            base,
        );
    }
    let mut embeddings: Vec<(&MediaRec, FaceEmbedding)> = Vec::new();
    // Index of the best frame each video or shot set was compared by (None for photos).
    let mut frames: Vec<Option<usize>> = Vec::new();
    let mut failures = Vec::new();
    let mut media_out = Vec::new();
    for m in &sel.eligible {
        match subject(backend, source, m, p.sample_frames) {
            Ok((e, frame)) => {
                embeddings.push((m, e));
                frames.push(frame);
            }
            Err(reason) => {
                failures.push(format!("{}: {reason}", label(m)));
                media_out.push(failed_media(m, &reason));
            }
        }
    }
    let source_media = sel.eligible.iter().map(|m| m.media_id).collect();
    if !failures.is_empty() {
        let mut out = Outcome::failed(failures.join("; "), base);
        out.media = media_out;
        out.source_media = source_media;
        return out;
    }
    let mut pairs = Vec::new();
    let mut per_media: Vec<(f32, f32)> = vec![(f32::INFINITY, f32::NEG_INFINITY); embeddings.len()];
    for i in 0..embeddings.len() {
        for j in i + 1..embeddings.len() {
            let c = match backend.match_confidence(&embeddings[i].1, &embeddings[j].1) {
                Ok(c) => c,
                Err(e) => {
                    let mut out = Outcome::failed(format!("comparison failed: {e}"), base);
                    out.source_media = source_media;
                    return out;
                }
            };
            for k in [i, j] {
                per_media[k].0 = per_media[k].0.min(c);
                per_media[k].1 = per_media[k].1.max(c);
            }
            pairs.push(json!({
                "media_id_1": embeddings[i].0.media_id,
                "media_id_2": embeddings[j].0.media_id,
                "confidence": c,
            }));
        }
    }
    let min = per_media.iter().map(|x| x.0).fold(f32::INFINITY, f32::min);
    let max = per_media
        .iter()
        .map(|x| x.1)
        .fold(f32::NEG_INFINITY, f32::max);
    for (((m, _), (lo, hi)), frame) in embeddings.iter().zip(&per_media).zip(&frames) {
        let mut data = json!({"min_confidence": lo, "max_confidence": hi});
        if let Some(i) = frame {
            data["best_shot_frame"] = json!(i);
        }
        media_out.push(MediaOutcome {
            media_id: m.media_id,
            media_type: m.media_type,
            resolution: verdicts::biometry(*lo, p.match_threshold),
            results_data: data,
            best_shot: None,
            matched_persons: Vec::new(),
        });
    }
    base.insert("min_confidence".into(), json!(min));
    base.insert("max_confidence".into(), json!(max));
    base.insert("pairs".into(), Value::Array(pairs));
    Outcome {
        state: State::Finished,
        verdict: Some(verdicts::biometry(min, p.match_threshold)),
        results_data: Value::Object(base),
        media: media_out,
        error_message: None,
        source_media,
    }
}

/// Whether a per-media result passed (used by the tests and the API summary).
pub fn passed(o: &MediaOutcome) -> bool {
    o.resolution == Resolution::Success
}
