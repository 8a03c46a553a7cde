//! The COLLECTION analysis: for each eligible
//! media of the folder, the subject's descriptor is searched in the collections of the folder's
//! company (or only in `params.collection_id`). Each media reports its best matches at or above
//! the threshold with `person_id` and `confidence`; the analysis is DECLINED when any media hit
//! someone and SUCCESS when nobody matched.
//!
//! * The threshold is `thresholds.collection` (0.85), or `params.decision_threshold` in
//!   `[0, 1]` (legacy clients send it); up to `collections.decision_count` persons per media
//!   (or `params.decision_count`, 1..=100) are reported.
//! * `confidence` is the calibrated match confidence of the probe and the person's best
//!   template, the same scale and function as BIOMETRY's.
//! * An analysis with no eligible media, or whose company has no collection, FAILS with the
//!   reason. A media without a usable face fails that media; the analysis then FAILS unless
//!   another media hit someone (a hit is reported whatever else happened).
//! * Every person matched at or above the threshold (not only each media's best) is recorded
//!   (`store::tables::PERSON_MATCHES`) and kept in `results_media[].matched_persons` before the
//!   result is returned; search and recording run under the shared match guard, so none of
//!   them can be deleted while the analysis exists. The subjects' descriptors are computed
//!   before the guard is taken.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::analysis::face::{Backend, FaceEmbedding};
use crate::analysis::model::{AnalysisRec, AnalysisType, FolderRec, MediaRec, Resolution, State};
use crate::analysis::outcome::{
    failed_media, label, subject_embedding, MediaOutcome, MediaSource, Outcome,
};
use crate::analysis::rules;
use crate::app::App;
use crate::collections::model::CollectionRec;
use crate::collections::search::ModelKey;
use crate::collections::service;

/// Most persons a client may ask for per media.
pub const MAX_DECISION_COUNT: usize = 100;

/// Options of one COLLECTION analysis, from its `params` and the configuration.
#[derive(Debug, Clone)]
pub struct CollectionParams {
    pub collection_id: Option<Uuid>,
    pub threshold: f32,
    pub decision_count: usize,
}

impl CollectionParams {
    /// Reads `params`; a malformed value is an error naming the key.
    pub fn parse(
        params: &Value,
        default_threshold: f32,
        default_count: usize,
    ) -> Result<CollectionParams, String> {
        let collection_id = match params.get("collection_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                s.parse()
                    .map_err(|_| format!("params.collection_id {s} is not a UUID"))?,
            ),
            Some(_) => return Err("params.collection_id must be a UUID string".into()),
        };
        let threshold = match params.get("decision_threshold") {
            None | Some(Value::Null) => default_threshold,
            Some(v) => match v.as_f64() {
                Some(t) if (0.0..=1.0).contains(&t) => t as f32,
                _ => return Err("params.decision_threshold must be a number in [0, 1]".into()),
            },
        };
        let decision_count = match params.get("decision_count") {
            None | Some(Value::Null) => default_count,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=MAX_DECISION_COUNT as u64).contains(&n) => n as usize,
                _ => {
                    return Err(format!(
                        "params.decision_count must be an integer from 1 to {MAX_DECISION_COUNT}"
                    ))
                }
            },
        };
        Ok(CollectionParams {
            collection_id,
            threshold,
            decision_count: decision_count.max(1),
        })
    }
}

/// A person found at or above the threshold for one media.
#[derive(Debug, Clone, Copy)]
struct Match {
    person_id: Uuid,
    collection_id: Uuid,
    /// The person image whose template matched.
    image_id: Uuid,
    confidence: f32,
}

impl Match {
    /// The entry of a media's `matches` list.
    fn json(&self) -> Value {
        json!({
            "person_id": self.person_id,
            "collection_id": self.collection_id,
            "person_image_id": self.image_id,
            "confidence": self.confidence,
        })
    }
}

/// The distinct persons of `matches`, in their order (best first once sorted).
fn persons_of(matches: &[Match]) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = Vec::with_capacity(matches.len());
    for m in matches {
        if !out.contains(&m.person_id) {
            out.push(m.person_id);
        }
    }
    out
}

/// Runs a stored COLLECTION analysis.
pub fn run(
    app: &App,
    backend: &dyn Backend,
    source: &dyn MediaSource,
    analysis: &AnalysisRec,
    folder: &FolderRec,
    media: &[MediaRec],
) -> Outcome {
    let mut base = Map::new();
    let p = match CollectionParams::parse(
        &analysis.params,
        app.config.thresholds.collection,
        app.config.collections.decision_count,
    ) {
        Ok(p) => p,
        Err(e) => return Outcome::failed(e, base),
    };
    let sel = rules::select(AnalysisType::Collection, media, &analysis.requested_media);
    base.insert("skipped_media".into(), sel.skipped_json());
    base.insert("threshold".into(), json!(p.threshold));
    let company = folder.company_id;
    let searched: Vec<CollectionRec> = match service::collections_of_company(&app.store, company) {
        Ok(list) => match p.collection_id {
            Some(id) => match list.into_iter().find(|c| c.collection_id == id) {
                Some(c) => vec![c],
                None => {
                    return Outcome::failed(
                        format!("collection {id} does not exist in the folder's company"),
                        base,
                    )
                }
            },
            None => list,
        },
        Err(e) => {
            eprintln!("facelite: collections of company {company}: {e}");
            return Outcome::failed(
                "the collections could not be read (see the server log)",
                base,
            );
        }
    };
    let collections: Vec<Uuid> = searched.iter().map(|c| c.collection_id).collect();
    if collections.is_empty() {
        return Outcome::failed(
            "the folder's company has no collection to search; create one with POST /api/collections/",
            base,
        );
    }
    base.insert("collection_ids".into(), json!(collections));
    if sel.eligible.is_empty() {
        return Outcome::failed("COLLECTION found no eligible media in the folder", base);
    }
    let cols = &app.collections;
    let max_per_person = app.config.collections.max_images_per_person;
    let mut media_out: Vec<MediaOutcome> = Vec::new();
    let mut failures = Vec::new();
    let mut hit_persons: Vec<Uuid> = Vec::new();
    let mut best_overall: Option<Match> = None;
    // Highest confidence against anybody, hit or not (how close the nearest person came).
    let mut overall_max: Option<f32> = None;
    // The subjects' descriptors first, outside the match guard: face inference (and video
    // decoding) must neither hold up a person deletion nor, while a deletion waits for the
    // guard, stall every other COLLECTION analysis.
    let probes: Vec<Result<FaceEmbedding, String>> = sel
        .eligible
        .iter()
        .map(|m| subject_embedding(backend, source, m, app.config.analysis.sample_frames))
        .collect();
    // Shared from the search until the hits are recorded: a person deletion (exclusive) either
    // completes before the search, which then cannot find the person, or waits until the
    // person is recorded as matched, which then blocks it.
    let guard = cols.match_guard.read().unwrap_or_else(|e| e.into_inner());
    for (m, probe) in sel.eligible.iter().zip(probes) {
        let emb = match probe {
            Ok(e) => e,
            Err(reason) => {
                failures.push(format!("{}: {reason}", label(m)));
                media_out.push(failed_media(m, &reason));
                continue;
            }
        };
        let probe_model = ModelKey {
            id: emb.model_id.clone(),
            version: emb.model_version.clone(),
        };
        let hits = match cols.index.search_persons(
            &collections,
            &probe_model,
            &emb.vector,
            p.decision_count,
            max_per_person,
        ) {
            Ok(h) => h,
            Err(e) => {
                let reason = format!("search failed: {e}");
                failures.push(format!("{}: {reason}", label(m)));
                media_out.push(failed_media(m, &reason));
                continue;
            }
        };
        let mut matches = Vec::new();
        let mut max_conf: Option<f32> = None;
        // A candidate that could not be scored may be the person sought: without a hit
        // elsewhere the media then fails rather than passing as "nobody matched".
        let mut unscored: Option<String> = None;
        for h in hits {
            let template = match service::template_of(&app.store, company, h.hit.template_id) {
                Ok(Some(t)) => t,
                Ok(None) => continue, // the image was deleted meanwhile
                Err(e) => {
                    eprintln!("facelite: template {}: {e}", h.hit.template_id);
                    unscored =
                        Some("a stored template could not be read (see the server log)".into());
                    continue;
                }
            };
            let stored = FaceEmbedding {
                model_id: template.model_id,
                model_version: template.model_version,
                vector: template.vector,
            };
            let conf = match backend.match_confidence(&emb, &stored) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!(
                        "facelite: comparison with template {} failed: {e}",
                        h.hit.template_id
                    );
                    unscored = Some(format!("a comparison failed: {e}"));
                    continue;
                }
            };
            max_conf = Some(max_conf.map_or(conf, |c: f32| c.max(conf)));
            overall_max = Some(overall_max.map_or(conf, |c: f32| c.max(conf)));
            if conf >= p.threshold {
                matches.push(Match {
                    person_id: h.hit.person_id,
                    collection_id: h.collection_id,
                    image_id: h.hit.template_id,
                    confidence: conf,
                });
                if !hit_persons.contains(&h.hit.person_id) {
                    hit_persons.push(h.hit.person_id);
                }
            }
        }
        if let (true, Some(reason)) = (matches.is_empty(), unscored) {
            failures.push(format!("{}: {reason}", label(m)));
            media_out.push(failed_media(m, &reason));
            continue;
        }
        matches.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        let best = matches.first().copied();
        if let Some(b) = best {
            if best_overall.is_none_or(|o| b.confidence > o.confidence) {
                best_overall = Some(b);
            }
        }
        let verdict = if best.is_some() {
            Resolution::Declined
        } else {
            Resolution::Success
        };
        media_out.push(MediaOutcome {
            media_id: m.media_id,
            media_type: m.media_type,
            resolution: verdict,
            results_data: json!({
                "person_id": best.map(|b| b.person_id),
                "collection_id": best.map(|b| b.collection_id),
                "max_confidence": max_conf,
                "matches": matches.iter().map(Match::json).collect::<Vec<_>>(),
            }),
            best_shot: None,
            matched_persons: persons_of(&matches),
        });
    }
    let recorded = service::record_matches(&app.store, analysis.analysis_id, &hit_persons);
    drop(guard);
    if let Err(e) = recorded {
        eprintln!("facelite: cannot record collection matches: {e}");
        let mut out = Outcome::failed(
            "the matches could not be recorded (see the server log)",
            base,
        );
        out.media = media_out;
        return out;
    }
    let source_media = sel.eligible.iter().map(|m| m.media_id).collect();
    base.insert("person_id".into(), json!(best_overall.map(|b| b.person_id)));
    base.insert("max_confidence".into(), json!(overall_max));
    // The `collection` object legacy clients read: the hit's collection, or the only one
    // searched.
    let shown = match best_overall.map(|b| b.collection_id) {
        Some(id) => searched.iter().find(|c| c.collection_id == id),
        None if searched.len() == 1 => searched.first(),
        None => None,
    };
    base.insert(
        "collection".into(),
        shown.map_or(
            Value::Null,
            |c| json!({"collection_id": c.collection_id, "alias": c.alias}),
        ),
    );
    base.insert(
        "collections".into(),
        Value::Array(
            searched
                .iter()
                .map(|c| json!({"collection_id": c.collection_id, "alias": c.alias}))
                .collect(),
        ),
    );
    base.insert("matched_persons".into(), json!(hit_persons));
    if hit_persons.is_empty() && !failures.is_empty() {
        let mut out = Outcome::failed(failures.join("; "), base);
        out.media = media_out;
        out.source_media = source_media;
        return out;
    }
    Outcome {
        state: State::Finished,
        verdict: Some(if hit_persons.is_empty() {
            Resolution::Success
        } else {
            Resolution::Declined
        }),
        results_data: Value::Object(base),
        media: media_out,
        error_message: None,
        source_media,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_validated() {
        let p = CollectionParams::parse(&json!({}), 0.85, 10).expect("defaults");
        assert_eq!(
            (p.collection_id, p.threshold, p.decision_count),
            (None, 0.85, 10)
        );
        let id = Uuid::new_v4();
        let p = CollectionParams::parse(
            &json!({"collection_id": id.to_string(), "decision_threshold": 0.7, "decision_count": 3}),
            0.85,
            10,
        )
        .expect("legacy params");
        assert_eq!(
            (p.collection_id, p.threshold, p.decision_count),
            (Some(id), 0.7, 3)
        );
        assert!(CollectionParams::parse(&json!({"decision_threshold": 2}), 0.85, 10).is_err());
        assert!(CollectionParams::parse(&json!({"decision_count": 0}), 0.85, 10).is_err());
        assert!(CollectionParams::parse(&json!({"collection_id": "x"}), 0.85, 10).is_err());
    }
}
