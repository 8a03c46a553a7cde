//! Score -> Lite decision. One rule for every comparing method, so `compare`, `verify`,
//! `extract_and_compare` and the `*_n` variants can never disagree about the same score.

use serde::Serialize;

/// The Lite decision vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Same person: score >= match threshold.
    Approved,
    /// Within the operator band just below the threshold: a person should look.
    OperatorRequired,
    /// Different people.
    Declined,
}

/// The operating points a decision is taken against, read from the config once per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRule {
    /// `thresholds.match`: at or above it the faces match.
    pub match_threshold: f32,
    /// `lite.operator_band`: width of the `operator_required` band below the threshold; zero,
    /// negative or not a number means no band.
    pub operator_band: f32,
}

impl DecisionRule {
    /// Decides for one score. A NaN score (which the engine never produces) is declined.
    pub fn decide(&self, score: f32) -> Decision {
        if score >= self.match_threshold {
            Decision::Approved
        } else if self.operator_band > 0.0 && score >= self.match_threshold - self.operator_band {
            Decision::OperatorRequired
        } else {
            Decision::Declined
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_inclusive_and_band_is_optional() {
        let no_band = DecisionRule {
            match_threshold: 0.85,
            operator_band: 0.0,
        };
        assert_eq!(no_band.decide(0.85), Decision::Approved);
        assert_eq!(no_band.decide(0.8499), Decision::Declined);
        assert_eq!(no_band.decide(f32::NAN), Decision::Declined);
        let band = DecisionRule {
            match_threshold: 0.85,
            operator_band: 0.1,
        };
        assert_eq!(band.decide(0.9), Decision::Approved);
        assert_eq!(band.decide(0.80), Decision::OperatorRequired);
        assert_eq!(band.decide(0.70), Decision::Declined);
        let nan_band = DecisionRule {
            match_threshold: 0.85,
            operator_band: f32::NAN,
        };
        assert_eq!(nan_band.decide(0.84), Decision::Declined);
    }
}
