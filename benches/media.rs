//! Decode cost per frame and codec at 640x480 and 1280x720.
//!
//! The clips are not committed (CI has no ffmpeg); make them first, then run:
//!   tests/data/media/make_clips.sh bench "$CARGO_TARGET_DIR/bench-clips"
//!   FACELITE_BENCH_CLIPS="$CARGO_TARGET_DIR/bench-clips" cargo bench --bench media
//! Codecs whose clip is absent are skipped. Each clip holds 30 frames (keyframe every 10);
//! every frame is decoded, so the reported time / 30 is the decode cost per frame
//! (demux and YUV->RGB included).

#[path = "support/clips.rs"]
mod clips;

use std::time::Duration;

use clips::clips_dir;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use facelite::media::{self, FrameLimits};

fn decode_all(c: &mut Criterion) {
    let limits = FrameLimits {
        sample_count: 1000,
        max_decode_time: Duration::from_secs(600),
        ..FrameLimits::default()
    };
    let mut group = c.benchmark_group("media_decode");
    group.sample_size(10);
    for size in ["640x480", "1280x720"] {
        for clip in [
            "h264_high.mp4",
            "h264_baseline.mp4",
            "h264_frag.mp4",
            "hevc.mp4",
            "vp8.webm",
            "mjpeg.avi",
        ] {
            let path = clips_dir().join(size).join(clip);
            let Ok(bytes) = std::fs::read(&path) else {
                eprintln!("skipping {}: not found", path.display());
                continue;
            };
            let frames = match media::frames(&bytes, &limits) {
                Ok(f) => f.len() as u64,
                Err(e) => {
                    eprintln!("skipping {}: {e}", path.display());
                    continue;
                }
            };
            group.throughput(Throughput::Elements(frames));
            group.bench_function(format!("{size}/{clip}"), |b| {
                b.iter(|| media::frames(&bytes, &limits).map(|f| f.len()).unwrap_or(0))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decode_all);
criterion_main!(benches);
