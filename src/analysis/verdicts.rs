//! The Oz statuses and facelite's verdict rules, in one place.
//!
//! * `analysis.state` is PROCESSING, then FAILED (could not be computed: no eligible media, no
//!   face, undecodable media, no passive model for a still) or FINISHED.
//! * `analysis.resolution_status` (= `resolution`) mirrors the state until FINISHED, then is the
//!   verdict: QUALITY `confidence_spoofing >= liveness threshold` on any media => DECLINED, else
//!   SUCCESS; BIOMETRY `min_confidence >= match threshold` => SUCCESS, else DECLINED.
//!   OPERATOR_REQUIRED is never produced for liveness.
//! * `folder.resolution_status`: INITIAL (no analyses), PROCESSING (any analysis running),
//!   FAILED (an analysis of the last finished group failed) or FINISHED.
//! * `folder.system_resolution`: INITIAL, PROCESSING, or the consolidated verdict of the last
//!   finished group: FAILED if any failed, else DECLINED if any declined, else
//!   OPERATOR_REQUIRED if any needs review, else SUCCESS.

use crate::analysis::model::{AnalysisRec, Resolution, State};

/// QUALITY verdict for the scores of the processed media.
pub fn quality(scores: &[f32], liveness_threshold: f32) -> Resolution {
    if scores.iter().any(|s| *s >= liveness_threshold) {
        Resolution::Declined
    } else {
        Resolution::Success
    }
}

/// Per-media QUALITY verdict.
pub fn quality_one(score: f32, liveness_threshold: f32) -> Resolution {
    quality(&[score], liveness_threshold)
}

/// BIOMETRY verdict on the worst pair.
pub fn biometry(min_confidence: f32, match_threshold: f32) -> Resolution {
    if min_confidence >= match_threshold {
        Resolution::Success
    } else {
        Resolution::Declined
    }
}

/// `resolution_status` of an analysis for a state and (when finished) its verdict.
pub fn analysis_resolution(state: State, verdict: Option<Resolution>) -> Resolution {
    match state {
        State::Processing => Resolution::Processing,
        State::Failed => Resolution::Failed,
        State::Finished => verdict.unwrap_or(Resolution::Failed),
    }
}

/// (`folder.resolution_status`, `folder.system_resolution`) from the folder's analyses.
pub fn folder(analyses: &[AnalysisRec]) -> (Resolution, Resolution) {
    if analyses.is_empty() {
        return (Resolution::Initial, Resolution::Initial);
    }
    if analyses.iter().any(|a| a.state == State::Processing) {
        return (Resolution::Processing, Resolution::Processing);
    }
    // The last finished group: the group of the most recently finished analysis.
    let finished_at = |a: &AnalysisRec| a.time_finished.unwrap_or(a.time_updated);
    let Some(last) = analyses
        .iter()
        .max_by(|a, b| finished_at(a).total_cmp(&finished_at(b)))
    else {
        return (Resolution::Initial, Resolution::Initial);
    };
    let group: Vec<&AnalysisRec> = analyses
        .iter()
        .filter(|a| a.group_id == last.group_id)
        .collect();
    let any = |r: Resolution| group.iter().any(|a| a.resolution_status == r);
    if group.iter().any(|a| a.state == State::Failed) {
        return (Resolution::Failed, Resolution::Failed);
    }
    let system = if any(Resolution::Declined) {
        Resolution::Declined
    } else if any(Resolution::OperatorRequired) {
        Resolution::OperatorRequired
    } else {
        Resolution::Success
    };
    (Resolution::Finished, system)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::AnalysisType;
    use serde_json::json;
    use uuid::Uuid;

    fn a(group: Uuid, state: State, res: Resolution, t: f64) -> AnalysisRec {
        AnalysisRec {
            analysis_id: Uuid::new_v4(),
            folder_id: Uuid::nil(),
            company_id: Uuid::nil(),
            group_id: group,
            analysis_type: AnalysisType::Quality,
            state,
            resolution_status: res,
            requested_media: vec![],
            source_media: vec![],
            params: json!({}),
            meta_data: json!({}),
            results_data: json!({}),
            results_media: vec![],
            error_message: None,
            resolution_endpoint: None,
            time_created: t,
            time_updated: t,
            time_finished: Some(t),
        }
    }

    #[test]
    fn thresholds_are_inclusive_as_decided() {
        assert_eq!(quality(&[0.1, 0.5], 0.5), Resolution::Declined);
        assert_eq!(quality(&[0.1, 0.49], 0.5), Resolution::Success);
        assert_eq!(biometry(0.85, 0.85), Resolution::Success);
        assert_eq!(biometry(0.84, 0.85), Resolution::Declined);
    }

    #[test]
    fn folder_status_follows_the_last_finished_group() {
        assert_eq!(folder(&[]), (Resolution::Initial, Resolution::Initial));
        let (g1, g2) = (Uuid::new_v4(), Uuid::new_v4());
        let old_fail = a(g1, State::Failed, Resolution::Failed, 1.0);
        let ok = a(g2, State::Finished, Resolution::Success, 2.0);
        assert_eq!(
            folder(&[old_fail.clone(), ok.clone()]),
            (Resolution::Finished, Resolution::Success)
        );
        let dec = a(g2, State::Finished, Resolution::Declined, 2.5);
        assert_eq!(
            folder(&[old_fail.clone(), ok.clone(), dec]),
            (Resolution::Finished, Resolution::Declined)
        );
        let running = a(g2, State::Processing, Resolution::Processing, 3.0);
        assert_eq!(folder(&[ok.clone(), running]).0, Resolution::Processing);
        let fail = a(g2, State::Failed, Resolution::Failed, 3.0);
        assert_eq!(
            folder(&[ok.clone(), fail]),
            (Resolution::Failed, Resolution::Failed)
        );
        // A meta_data edit of the older group's analysis moves its time_updated, not the group
        // that finished last.
        let mut edited = old_fail;
        edited.time_updated = 9.0;
        assert_eq!(
            folder(&[edited, ok]),
            (Resolution::Finished, Resolution::Success)
        );
    }
}
