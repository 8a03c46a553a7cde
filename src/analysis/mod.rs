//! Analyses as persisted jobs: queue, workers, media-selection rules, verdicts.
