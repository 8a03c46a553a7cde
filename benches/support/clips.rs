//! Where `tests/data/media/make_clips.sh bench DIR` put the bench clips: `FACELITE_BENCH_CLIPS`,
//! else `$CARGO_TARGET_DIR/bench-clips`, else `target/bench-clips`.

use std::path::PathBuf;

/// The bench clips directory (the clips are not committed: CI has no ffmpeg).
pub fn clips_dir() -> PathBuf {
    std::env::var_os("FACELITE_BENCH_CLIPS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("bench-clips"))
        })
        .unwrap_or_else(|| PathBuf::from("target/bench-clips"))
}
