//! Still images, both decoders: the media layer's (`media::for_each_frame` on a JPEG, PNG, WebP
//! or BMP: `media/still.rs`, EXIF orientation, dimension limits) and the vision layer's
//! (`vision::decode::decode_image_on`: header pixel check, zune-jpeg fast path, end-of-image
//! check, `image` fallback), the latter on one thread and on a two-thread pool (which cuts JPEGs
//! with restart markers into bands, `vision/jpeg_bands.rs`). The band decode must give the same
//! pixels as the one-piece decode, and `vision::decode::announced_pixels` (what the engine charges
//! to the memory budget before decoding) must not be below the size decoded.
#![no_main]

use std::sync::OnceLock;

use facelite::media::{sniff, MediaKind};
use facelite::vision::decode::decode_image_on;
use libfuzzer_sys::fuzz_target;

/// The server's default pixel limit (`limits.max_image_pixels`).
const MAX_PIXELS: u64 = 40_000_000;

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| {
    if matches!(sniff(data), Ok(MediaKind::Image(_))) {
        facelite_fuzz::decode_media(data);
    }
    let announced = facelite::vision::decode::announced_pixels(data);
    let (one, pool) = executors();
    let single = decode_image_on(data, MAX_PIXELS, one);
    if let Ok(img) = &single {
        let (w, h) = img.dimensions();
        assert!(w > 0 && h > 0 && u64::from(w) * u64::from(h) <= MAX_PIXELS);
        let decoded = u64::from(w) * u64::from(h);
        if announced.is_some_and(|a| a < decoded) {
            // fuzz/findings/jpeg_announced_pixels_underestimate.jpg: the memory budget is charged
            // for fewer pixels than the decoder then allocates.
            facelite_fuzz::known_finding(
                "announced-pixels-underestimate",
                format_args!("announced {announced:?} pixels, decoded {w}x{h}"),
            );
        }
    }
    let banded = decode_image_on(data, MAX_PIXELS, pool);
    match (&single, &banded) {
        (Ok(a), Ok(b)) => assert!(a == b, "banded JPEG decode differs from the one-piece decode"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "one-thread and pooled decodes disagree: {:?} vs {:?}",
            a.as_ref().map(|i| i.dimensions()),
            b.as_ref().map(|i| i.dimensions())
        ),
    }
});

/// One-thread and two-thread executors, as the engine makes them (`inference_pool(1)` is the
/// single-thread one).
fn executors() -> (
    &'static tract_linalg::multithread::Executor,
    &'static tract_linalg::multithread::Executor,
) {
    static ONE: OnceLock<tract_linalg::multithread::Executor> = OnceLock::new();
    static TWO: OnceLock<tract_linalg::multithread::Executor> = OnceLock::new();
    (
        ONE.get_or_init(|| facelite::vision::model::inference_pool(1)),
        TWO.get_or_init(|| facelite::vision::model::inference_pool(2)),
    )
}
