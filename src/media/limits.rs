//! Limits applied to every upload before and during decoding, and the decode deadline.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::MediaError;

/// Every bound the media layer enforces. Header values (dimensions, duration, frame counts,
/// archive entry counts) are checked before any decoding starts; time and inflated bytes are
/// checked while working.
#[derive(Debug, Clone)]
pub struct FrameLimits {
    /// Largest accepted upload, bytes.
    pub max_file_bytes: usize,
    /// Longest accepted video, seconds (container duration or last timestamp).
    pub max_duration_secs: f64,
    /// Most frames (samples) a video's index may list; bounds demux memory.
    pub max_indexed_frames: usize,
    /// Most frames decoded to produce the sample, including the frames decoded from the
    /// preceding keyframe up to each sampled one.
    pub max_frames_decoded: usize,
    /// Widest accepted picture (before rotation), pixels.
    pub max_width: u32,
    /// Tallest accepted picture (before rotation), pixels.
    pub max_height: u32,
    /// Frames returned for a video or shot set, spread evenly from the first to the last.
    pub sample_count: usize,
    /// Wall-clock budget for decoding one upload.
    pub max_decode_time: Duration,
    /// Most entries a shot-set ZIP may hold.
    pub max_zip_entries: usize,
    /// Most bytes inflated from a shot-set ZIP, all entries together.
    pub max_zip_inflated_bytes: u64,
    /// Seconds between consecutive shots of a shot set; a ZIP carries no timing, so
    /// `pts_secs` of shot `i` is `i * shot_interval_secs`.
    pub shot_interval_secs: f64,
}

impl Default for FrameLimits {
    /// The limits of the default configuration.
    fn default() -> Self {
        FrameLimits::from_config(&crate::config::Config::default())
    }
}

impl FrameLimits {
    /// The limits a configuration sets: `[media]` for decoding, `[limits]` for the file and the
    /// shot-set archive, `[analysis]` for the frame index and the sample size.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let media = &config.media;
        FrameLimits {
            max_file_bytes: config.limits.max_file_bytes,
            max_duration_secs: media.max_duration_secs,
            max_indexed_frames: config.analysis.max_video_frames.max(1),
            max_frames_decoded: media.max_frames_decoded,
            max_width: media.max_width,
            max_height: media.max_height,
            sample_count: config.analysis.sample_frames.max(1),
            max_decode_time: Duration::from_secs(media.max_decode_secs),
            max_zip_entries: config.limits.max_zip_entries,
            max_zip_inflated_bytes: config.limits.max_zip_inflated_bytes,
            shot_interval_secs: media.shot_interval_secs,
        }
    }

    /// Refuses a picture larger than the dimension limits (called with header values).
    pub(crate) fn check_dims(&self, width: u32, height: u32, what: &str) -> Result<(), MediaError> {
        if width == 0 || height == 0 {
            return Err(MediaError::Corrupt(format!(
                "{what} has a zero dimension ({width}x{height})"
            )));
        }
        if width > self.max_width || height > self.max_height {
            return Err(MediaError::TooLarge(format!(
                "{what} is {width}x{height}, limit {}x{}",
                self.max_width, self.max_height
            )));
        }
        Ok(())
    }
}

/// The moment decoding must stop; checked between frames, packets and NAL units. Time spent
/// outside decoding (in the caller's per-frame work, see [`Deadline::excluding`]) moves the
/// moment back, so the budget measures decoding alone.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    end: Cell<Instant>,
    budget: Duration,
}

impl Deadline {
    /// Starts the clock for one upload.
    pub(crate) fn start(budget: Duration) -> Self {
        Deadline {
            end: Cell::new(Instant::now() + budget),
            budget,
        }
    }

    /// Errors once the budget is spent.
    pub(crate) fn check(&self) -> Result<(), MediaError> {
        if Instant::now() > self.end.get() {
            Err(MediaError::DeadlineExceeded(self.budget))
        } else {
            Ok(())
        }
    }

    /// Runs `f` (work on a delivered frame, not decoding) without charging its time to the
    /// decoding budget.
    pub(crate) fn excluding<R>(&self, f: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let r = f();
        self.end.set(self.end.get() + started.elapsed());
        r
    }
}
