//! Media decoding against ffmpeg's reference frames, plus damaged files and limits.
//! Clips and references: tests/data/media (regenerate with make_clips.sh there).

use std::path::PathBuf;
use std::time::Duration;

use facelite::media::{self, Container, FrameLimits, ImageFormat, MediaError, MediaKind};
use image::RgbImage;

fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/media")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn limits4() -> FrameLimits {
    FrameLimits {
        sample_count: 4,
        max_decode_time: Duration::from_secs(20),
        ..FrameLimits::default()
    }
}

/// 8x8 box average, the way make_clips.sh reduces ffmpeg's frames.
fn reduce(img: &RgbImage) -> RgbImage {
    let (w, h) = (img.width() / 8, img.height() / 8);
    RgbImage::from_fn(w, h, |x, y| {
        let mut s = [0u32; 3];
        for dy in 0..8 {
            for dx in 0..8 {
                let p = img.get_pixel(x * 8 + dx, y * 8 + dy);
                for c in 0..3 {
                    s[c] += u32::from(p[c]);
                }
            }
        }
        image::Rgb([
            ((s[0] + 32) / 64) as u8,
            ((s[1] + 32) / 64) as u8,
            ((s[2] + 32) / 64) as u8,
        ])
    })
}

/// Decodes `clip` with 4 samples and compares each with the reference strip.
fn check_clip(clip: &str, reference: &str, want_index: &[usize], want_size: (u32, u32)) {
    let bytes = data(clip);
    let frames = media::frames(&bytes, &limits4()).unwrap_or_else(|e| panic!("{clip}: {e}"));
    let idx: Vec<usize> = frames.iter().map(|f| f.index).collect();
    assert_eq!(idx, want_index, "{clip}: sampled frame numbers");
    let refs = image::open(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/media")
            .join(reference),
    )
    .unwrap()
    .to_rgb8();
    let (rw, rh) = (want_size.0 / 8, want_size.1 / 8);
    assert_eq!(refs.dimensions(), (rw * 4, rh), "{reference} geometry");
    for (k, f) in frames.iter().enumerate() {
        assert_eq!(f.image.dimensions(), want_size, "{clip} frame {k} size");
        let small = reduce(&f.image);
        let mut sum = 0u64;
        for y in 0..rh {
            for x in 0..rw {
                let a = small.get_pixel(x, y);
                let b = refs.get_pixel(k as u32 * rw + x, y);
                for c in 0..3 {
                    sum += u64::from(a[c].abs_diff(b[c]));
                }
            }
        }
        let mad = sum as f64 / f64::from(rw * rh * 3);
        eprintln!(
            "{clip} frame {} (t={:.3}s): mean abs diff {mad:.3}",
            f.index, f.pts_secs
        );
        assert!(
            mad < 2.0,
            "{clip} frame {}: mean abs diff {mad:.2} vs ffmpeg",
            f.index
        );
    }
    // Presentation times rise with the frame numbers.
    assert!(
        frames.windows(2).all(|w| w[1].pts_secs > w[0].pts_secs),
        "{clip}: pts order"
    );
}

const V20: [usize; 4] = [0, 6, 13, 19];
const V10: [usize; 4] = [0, 3, 6, 9];

#[test]
fn h264_high_with_b_frames() {
    check_clip("h264_high.mp4", "ref_h264_high.png", &V20, (320, 240));
}

#[test]
fn h264_in_matroska() {
    check_clip("h264_high.mkv", "ref_h264_high.png", &V20, (320, 240));
}

#[test]
fn h264_baseline() {
    check_clip(
        "h264_baseline.mp4",
        "ref_h264_baseline.png",
        &V20,
        (320, 240),
    );
}

#[test]
fn h264_fragmented_mp4() {
    check_clip("h264_frag.mp4", "ref_h264_frag.png", &V20, (320, 240));
}

#[test]
fn h264_rotated_90_is_upright() {
    check_clip("h264_rot90.mp4", "ref_h264_rot90.png", &V20, (240, 320));
}

#[test]
fn h264_rotated_180_is_upright() {
    check_clip("h264_rot180.mp4", "ref_h264_rot180.png", &V20, (320, 240));
}

#[test]
fn h264_rotated_270_is_upright() {
    check_clip("h264_rot270.mp4", "ref_h264_rot270.png", &V20, (240, 320));
}

/// Monochrome (4:0:0) H.264 at an odd size: luma only, grey pixels, like ffmpeg's decode.
#[test]
fn h264_monochrome_odd_size() {
    check_clip(
        "h264_gray.mp4",
        "ref_h264_gray.png",
        &[0, 1, 2, 3],
        (161, 121),
    );
    let frames = media::frames(&data("h264_gray.mp4"), &limits4()).unwrap();
    for f in &frames {
        assert!(
            f.image.pixels().all(|p| p[0] == p[1] && p[1] == p[2]),
            "frame {} is not grey",
            f.index
        );
    }
}

/// 4:4:4 H.264 cannot be decoded here: a clear "unsupported" error, not wrong colours.
#[test]
fn h264_444_is_unsupported() {
    match media::frames(&data("h264_444.mp4"), &limits4()) {
        Err(MediaError::Unsupported(m)) => assert!(m.contains("4:4:4"), "{m}"),
        other => panic!("want Unsupported, got {:?}", other.map(|v| v.len())),
    }
}

#[test]
fn hevc_mp4() {
    check_clip("hevc.mp4", "ref_hevc.png", &V20, (320, 240));
}

#[test]
fn webm_vp8() {
    check_clip("vp8.webm", "ref_vp8.png", &V20, (320, 240));
}

#[test]
fn webm_vp8_live_unknown_size() {
    check_clip("vp8_live.webm", "ref_vp8_live.png", &V20, (320, 240));
}

#[test]
fn mjpeg_avi_optimised_tables() {
    check_clip("mjpeg.avi", "ref_mjpeg.png", &V10, (160, 120));
}

#[test]
fn mjpeg_avi_standard_tables() {
    check_clip(
        "mjpeg_stdhuff.avi",
        "ref_mjpeg_stdhuff.png",
        &V10,
        (160, 120),
    );
}

#[test]
fn mjpeg_avi_without_dht() {
    check_clip("mjpeg_nodht.avi", "ref_mjpeg_nodht.png", &V10, (160, 120));
}

/// An AVI whose stream 0 is audio: the video frames are the `01dc` chunks.
#[test]
fn mjpeg_avi_with_audio_first() {
    let bytes = data("mjpeg_audio_first.avi");
    assert!(bytes.windows(4).any(|w| w == b"01dc") && !bytes.windows(4).any(|w| w == b"00dc"));
    let frames = media::frames(&bytes, &limits4()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(frames.len(), 4);
    assert!(frames.iter().all(|f| f.image.dimensions() == (64, 48)));
    assert!(frames.windows(2).all(|w| w[1].pts_secs > w[0].pts_secs));
    // The picture is obama.jpg's face, not a grey or black frame.
    let img = &frames[0].image;
    let mean: f64 = img.pixels().map(|p| f64::from(p[0])).sum::<f64>() / (64.0 * 48.0);
    let var: f64 = img
        .pixels()
        .map(|p| (f64::from(p[0]) - mean).powi(2))
        .sum::<f64>()
        / (64.0 * 48.0);
    assert!(var > 100.0, "flat picture: variance {var}");
}

#[test]
fn mjpeg_mov() {
    check_clip("mjpeg.mov", "ref_mjpeg_mov.png", &V10, (160, 120));
}

#[test]
fn zip_shot_set_in_name_order() {
    check_clip("shots.zip", "ref_shots.png", &[0, 2, 5, 7], (320, 240));
}

/// Frames are handed over one at a time as they are decoded (what keeps the analyses' memory
/// bounded), every sampled frame exactly once, and the caller can stop the decoding.
#[test]
fn frames_are_streamed_one_at_a_time_and_the_caller_can_stop() {
    let limits = FrameLimits {
        sample_count: 20,
        ..limits4()
    };
    for clip in [
        "h264_high.mp4",
        "hevc.mp4",
        "vp8.webm",
        "mjpeg.avi",
        "shots.zip",
    ] {
        let bytes = data(clip);
        let whole = media::frames(&bytes, &limits).unwrap_or_else(|e| panic!("{clip}: {e}"));
        let mut seen = Vec::new();
        let n = media::for_each_frame(&bytes, &limits, |f| {
            seen.push(f.index);
            Ok::<(), MediaError>(())
        })
        .unwrap_or_else(|e| panic!("{clip}: {e}"));
        assert_eq!(n, whole.len(), "{clip}");
        seen.sort_unstable();
        let want: Vec<usize> = whole.iter().map(|f| f.index).collect();
        assert_eq!(seen, want, "{clip}: each sampled frame once");

        enum Stop {
            Media(MediaError),
            Enough(usize),
        }
        impl From<MediaError> for Stop {
            fn from(e: MediaError) -> Stop {
                Stop::Media(e)
            }
        }
        let mut calls = 0;
        let r = media::for_each_frame(&bytes, &limits, |f| {
            calls += 1;
            Err(Stop::Enough(f.index))
        });
        assert_eq!(
            calls, 1,
            "{clip}: decoding goes on after the caller stopped"
        );
        match r {
            Err(Stop::Enough(i)) => assert!(want.contains(&i), "{clip}: frame {i}"),
            Err(Stop::Media(e)) => panic!("{clip}: {e}"),
            Ok(n) => panic!("{clip}: {n} frames after the caller stopped"),
        }
    }
}

#[test]
fn zip_shot_set_of_pngs() {
    let frames = media::frames(&data("shots_png.zip"), &limits4()).unwrap();
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.image.dimensions() == (80, 60)));
    // a.png, b.png, c.png are crops 5 px apart going down: sorted by name they differ.
    assert_ne!(frames[0].image.as_raw(), frames[1].image.as_raw());
    assert!(frames[1].pts_secs > frames[0].pts_secs);
}

/// Capture apps number shots without zero padding: `shot_2` comes before `shot_10`.
#[test]
fn zip_shot_set_sorts_numbers_by_value() {
    let png = |v: u8| {
        let img = RgbImage::from_pixel(16, 16, image::Rgb([v, v, v]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    // The grey level of each shot is its capture number x 20.
    let shots: Vec<(String, Vec<u8>)> = [10u8, 2, 1, 9, 11]
        .iter()
        .map(|&n| (format!("shot_{n}.png"), png(n * 20)))
        .collect();
    let entries: Vec<(&str, &[u8])> = shots
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let frames = media::frames(
        &stored_zip(&entries),
        &FrameLimits {
            sample_count: 5,
            ..limits4()
        },
    )
    .unwrap();
    let order: Vec<u8> = frames
        .iter()
        .map(|f| f.image.get_pixel(0, 0)[0] / 20)
        .collect();
    assert_eq!(order, vec![1, 2, 9, 10, 11]);
}

#[test]
fn still_images_decode_as_one_frame() {
    let jpg = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/grace_hopper.jpg"),
    )
    .unwrap();
    let frames = media::frames(&jpg, &FrameLimits::default()).unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].image.dimensions(), (512, 600));
}

#[test]
fn sniff_decides_media_type_from_magic() {
    let cases: [(&str, MediaKind); 6] = [
        ("h264_high.mp4", MediaKind::Video(Container::Mp4)),
        ("h264_frag.mp4", MediaKind::Video(Container::Mp4)),
        ("vp8.webm", MediaKind::Video(Container::Matroska)),
        ("mjpeg.avi", MediaKind::Video(Container::Avi)),
        ("mjpeg.mov", MediaKind::Video(Container::Mp4)),
        ("shots.zip", MediaKind::ShotsSet),
    ];
    for (f, kind) in cases {
        assert_eq!(media::sniff(&data(f)).unwrap(), kind, "{f}");
    }
    assert_eq!(
        media::sniff(&data("shots.zip")).unwrap().oz_media_type(),
        "SHOTS_SET"
    );
    assert_eq!(
        media::sniff(&data("vp8.webm")).unwrap().oz_media_type(),
        "VIDEO_FOLDER"
    );
    assert_eq!(
        media::sniff(b"\x89PNG\r\n\x1a\nrest").unwrap(),
        MediaKind::Image(ImageFormat::Png)
    );
    assert!(matches!(
        media::sniff(b"GIF89a......"),
        Err(MediaError::UnknownFormat(_))
    ));
    assert!(matches!(
        media::sniff(b""),
        Err(MediaError::UnknownFormat(_))
    ));
}

const ALL: [&str; 13] = [
    "h264_high.mp4",
    "h264_high.mkv",
    "h264_baseline.mp4",
    "h264_frag.mp4",
    "h264_rot90.mp4",
    "hevc.mp4",
    "vp8.webm",
    "vp8_live.webm",
    "mjpeg.avi",
    "mjpeg_nodht.avi",
    "mjpeg.mov",
    "shots.zip",
    "shots_png.zip",
];

/// Each decode of a damaged file must come back within this, even on a loaded 2-core machine
/// (the clips decode in well under 50 ms; a hang or a runaway loop would not).
const DAMAGED_FILE_TIME: Duration = Duration::from_secs(5);

/// Runs `media::frames` on a damaged file and checks the time bound.
fn timed_frames(
    what: &str,
    bytes: &[u8],
    limits: &FrameLimits,
) -> Result<Vec<media::Frame>, MediaError> {
    let started = std::time::Instant::now();
    let r = media::frames(bytes, limits);
    assert!(
        started.elapsed() < DAMAGED_FILE_TIME,
        "{what}: took {:?}",
        started.elapsed()
    );
    r
}

#[test]
fn truncated_files_give_errors() {
    let limits = FrameLimits {
        max_decode_time: Duration::from_secs(10),
        ..limits4()
    };
    for f in ALL {
        let bytes = data(f);
        for cut in [
            bytes.len() / 10,
            bytes.len() / 2,
            bytes.len() * 9 / 10,
            bytes.len() - 7,
        ] {
            let what = format!("{f} cut at {cut}/{}", bytes.len());
            // A cut file is always reported as corrupt or truncated: every container here
            // locates its frames by offsets and sizes, which then point past the end.
            match timed_frames(&what, &bytes[..cut], &limits) {
                Err(MediaError::Corrupt(_)) => {}
                other => panic!("{what}: want Corrupt, got {:?}", other.map(|v| v.len())),
            }
        }
    }
}

/// Bursts of flipped bytes at pseudo-random places (a fixed seed, so the same cases every run).
/// What this checks is robustness: no panic, no hang (each call within [`DAMAGED_FILE_TIME`]),
/// and a typed error. A flip may legitimately leave the file decodable, so `Ok` is accepted
/// here: it can land in a coded picture's payload (H.264/HEVC/VP8/JPEG entropy-coded data
/// decodes to a different but valid picture, the codecs have no checksums), in a frame that is
/// not sampled, or in a header field decoding does not use (creation times, names). Damage that
/// must be detected is asserted in `damage_that_must_be_detected_is_typed`.
#[test]
fn corrupted_files_return_without_panic_or_hang() {
    let limits = FrameLimits {
        max_decode_time: Duration::from_secs(10),
        ..limits4()
    };
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for f in ALL {
        let clean = data(f);
        for round in 0..12 {
            let mut bytes = clean.clone();
            // Flip a burst of bytes somewhere past the magic number.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = 16 + (seed as usize) % (bytes.len() - 48);
            let n = 1 + round % 24;
            for k in 0..n {
                bytes[at + k] ^= 0x5A ^ (k as u8);
            }
            let what = format!("{f}: {n} bytes flipped at {at}");
            match timed_frames(&what, &bytes, &limits) {
                Ok(frames) => {
                    assert!(!frames.is_empty(), "{what}");
                    assert!(frames.iter().all(|fr| fr.image.width() > 0), "{what}");
                }
                // A damaged size or duration field can also read as a huge value.
                Err(
                    MediaError::Corrupt(_)
                    | MediaError::Unsupported(_)
                    | MediaError::TooLong(_)
                    | MediaError::TooLarge(_)
                    | MediaError::NoFrames(_),
                ) => {}
                Err(e) => panic!("{what}: unexpected error kind {}: {e}", e.kind()),
            }
        }
    }
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Byte ranges of the first two samples of a non-fragmented MP4 (first `stco` chunk offset,
/// `stsz` sizes; the clips' first chunk holds both).
fn mp4_first_samples(mp4: &[u8]) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let stsz = mp4.windows(4).position(|w| w == b"stsz").expect("stsz") + 4;
    assert_eq!(be32(mp4, stsz + 4), 0, "per-sample sizes");
    let (s0, s1) = (be32(mp4, stsz + 12), be32(mp4, stsz + 16));
    let stco = mp4.windows(4).position(|w| w == b"stco").expect("stco") + 4;
    let off = be32(mp4, stco + 8);
    (off..off + s0, off + s0..off + s0 + s1)
}

/// Damage a decoder cannot miss gives the specific error kind, quickly; damage inside an
/// inter-coded picture's payload may decode (see the comment there).
#[test]
fn damage_that_must_be_detected_is_typed() {
    let limits = limits4();
    let corrupt = |what: &str, bytes: &[u8]| match timed_frames(what, bytes, &limits) {
        Err(MediaError::Corrupt(_)) => {}
        other => panic!("{what}: want Corrupt, got {:?}", other.map(|v| v.len())),
    };
    for clip in ["h264_high.mp4", "h264_baseline.mp4", "hevc.mp4"] {
        let clean = data(clip);
        let (key, next) = mp4_first_samples(&clean);
        // The first keyframe wiped: frame 0 (and its GOP) cannot be decoded.
        let mut b = clean.clone();
        b[key.clone()].fill(0);
        corrupt(&format!("{clip}: first keyframe zeroed"), &b);
        // A NAL length prefix pointing past the end of its sample.
        let mut b = clean.clone();
        b[key.start..key.start + 4].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
        corrupt(&format!("{clip}: NAL length past the sample"), &b);
        // Damage in the middle of the next (inter-coded) picture's payload: entropy-coded data
        // has no checksum, so the decoder may produce a different but valid picture, or stop on
        // invalid syntax. Either is right; a panic, a hang or another kind is not.
        let mut b = clean.clone();
        let mid = next.start + next.len() / 2;
        for x in &mut b[mid..(mid + 4).min(next.end)] {
            *x ^= 0xA5;
        }
        match timed_frames(&format!("{clip}: P-frame payload"), &b, &limits) {
            Ok(frames) => assert_eq!(frames.len(), 4, "{clip}"),
            Err(MediaError::Corrupt(_) | MediaError::Unsupported(_)) => {}
            Err(e) => panic!("{clip}: P-frame payload damage gave {}: {e}", e.kind()),
        }
    }
    // H.264 configuration: the SPS length in avcC runs past the record.
    let mut b = data("h264_high.mp4");
    let avcc = b.windows(4).position(|w| w == b"avcC").expect("avcC") + 4;
    b[avcc + 6..avcc + 8].copy_from_slice(&0xfff0u16.to_be_bytes());
    corrupt("h264_high.mp4: avcC SPS length", &b);
    // VP8: the first keyframe's start code (9d 01 2a) damaged.
    let mut b = data("vp8.webm");
    let sc = b
        .windows(3)
        .position(|w| w == [0x9d, 0x01, 0x2a])
        .expect("start code");
    b[sc] = 0;
    corrupt("vp8.webm: keyframe start code", &b);
    // MJPEG: the first frame's start-of-image marker damaged.
    let mut b = data("mjpeg.avi");
    let movi = b.windows(4).position(|w| w == b"movi").expect("movi");
    let soi = movi
        + b[movi..]
            .windows(2)
            .position(|w| w == [0xff, 0xd8])
            .expect("SOI");
    b[soi + 1] = 0;
    corrupt("mjpeg.avi: SOI of frame 0", &b);
    // ZIP: a byte of a sampled shot's compressed data (the CRC catches it).
    let mut b = data("shots_png.zip");
    let name_len = usize::from(u16::from_le_bytes([b[26], b[27]]));
    let extra_len = usize::from(u16::from_le_bytes([b[28], b[29]]));
    b[30 + name_len + extra_len + 100] ^= 0x5A;
    corrupt("shots_png.zip: deflated data", &b);
}

#[test]
fn damaged_headers_are_reported_as_corrupt() {
    // MP4: a 'moov' whose size runs past the end of the file.
    let mut mp4 = data("h264_high.mp4");
    let at = mp4.windows(4).position(|w| w == b"moov").unwrap() - 4;
    mp4[at..at + 4].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
    assert!(matches!(
        media::frames(&mp4, &limits4()),
        Err(MediaError::Corrupt(_))
    ));
    // MP4: a forged sample count of four billion is refused before any allocation.
    let mut mp4 = data("h264_high.mp4");
    let at = mp4.windows(4).position(|w| w == b"stsz").unwrap() + 4;
    mp4[at + 4..at + 8].copy_from_slice(&0u32.to_be_bytes()); // constant sample size...
    mp4[at + 4..at + 8].copy_from_slice(&1u32.to_be_bytes());
    mp4[at + 8..at + 12].copy_from_slice(&u32::MAX.to_be_bytes()); // ...four billion samples
    assert!(matches!(
        media::frames(&mp4, &limits4()),
        Err(MediaError::TooLong(_))
    ));
    // MP4: a zero-sized box inside the sample table (made the MP4 library spin forever).
    for clip in ["h264_high.mp4", "hevc.mp4"] {
        let mut mp4 = data(clip);
        let at = mp4.windows(4).position(|w| w == b"stts").unwrap() - 4;
        mp4[at..at + 4].copy_from_slice(&0u32.to_be_bytes());
        let r = media::frames(&mp4, &limits4());
        assert!(matches!(r, Err(MediaError::Corrupt(_))), "{clip}: {r:?}");
    }
    // AVI: a chunk size beyond the end.
    let mut avi = data("mjpeg.avi");
    let movi = avi.windows(4).position(|w| w == b"movi").unwrap();
    let at = movi + avi[movi..].windows(4).position(|w| w == b"00dc").unwrap() + 4;
    avi[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    assert!(matches!(
        media::frames(&avi, &limits4()),
        Err(MediaError::Corrupt(_))
    ));
    // JPEG shot that is not an image.
    let zip = stored_zip(&[("a.jpg", b"not a jpeg at all".as_slice())]);
    let r = media::frames(&zip, &limits4());
    assert!(matches!(r, Err(MediaError::Unsupported(_))), "{r:?}");
}

#[test]
fn limits_refuse_before_decoding() {
    let small = FrameLimits {
        max_width: 200,
        max_height: 200,
        ..limits4()
    };
    for f in [
        "h264_high.mp4",
        "hevc.mp4",
        "vp8.webm",
        "vp8_live.webm",
        "shots.zip",
    ] {
        let r = media::frames(&data(f), &small);
        assert!(matches!(r, Err(MediaError::TooLarge(_))), "{f}: {r:?}");
    }
    let tiny = FrameLimits {
        max_width: 100,
        max_height: 100,
        ..limits4()
    };
    for f in ["mjpeg.avi", "mjpeg.mov", "mjpeg_nodht.avi"] {
        let r = media::frames(&data(f), &tiny);
        assert!(matches!(r, Err(MediaError::TooLarge(_))), "{f}: {r:?}");
    }
    let short = FrameLimits {
        max_duration_secs: 0.5,
        ..limits4()
    };
    for f in [
        "h264_high.mp4",
        "h264_frag.mp4",
        "vp8.webm",
        "vp8_live.webm",
        "mjpeg.avi",
    ] {
        let r = media::frames(&data(f), &short);
        assert!(matches!(r, Err(MediaError::TooLong(_))), "{f}: {r:?}");
    }
    let budget = FrameLimits {
        max_frames_decoded: 5,
        ..limits4()
    };
    let r = media::frames(&data("h264_high.mp4"), &budget);
    assert!(matches!(r, Err(MediaError::TooLong(_))), "{r:?}");
    let no_time = FrameLimits {
        max_decode_time: Duration::ZERO,
        ..limits4()
    };
    let r = media::frames(&data("h264_high.mp4"), &no_time);
    assert!(matches!(r, Err(MediaError::DeadlineExceeded(_))), "{r:?}");
    let r = media::frames(
        &data("h264_high.mp4"),
        &FrameLimits {
            max_file_bytes: 1000,
            ..limits4()
        },
    );
    assert!(matches!(r, Err(MediaError::TooLarge(_))), "{r:?}");
}

#[test]
fn zip_with_too_many_entries_is_refused() {
    let n = limits4().max_zip_entries + 1;
    let names: Vec<String> = (0..n).map(|i| format!("s{i:04}.jpg")).collect();
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), b"x".as_slice()))
        .collect();
    let zip = stored_zip(&entries);
    let r = media::frames(&zip, &limits4());
    assert!(matches!(r, Err(MediaError::TooManyEntries(_))), "{r:?}");
}

#[test]
fn zip_bomb_is_refused_while_inflating() {
    let bomb = data("bomb.zip");
    assert!(bomb.len() < 100_000);
    let limits = FrameLimits {
        max_zip_inflated_bytes: 4 * 1024 * 1024,
        ..limits4()
    };
    let r = media::frames(&bomb, &limits);
    assert!(matches!(r, Err(MediaError::TooLarge(_))), "{r:?}");
}

/// A ZIP of stored (uncompressed) entries.
fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    fn crc32(d: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in d {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, body) in entries {
        let off = out.len() as u32;
        let crc = crc32(body);
        let mut common = Vec::new();
        common.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, stored, time, date
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&(body.len() as u32).to_le_bytes());
        common.extend_from_slice(&(body.len() as u32).to_le_bytes());
        common.extend_from_slice(&(name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(body);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&[20, 0]);
        central.extend_from_slice(&common);
        central.extend_from_slice(&[0; 6]); // comment len, disk, internal attrs
        central.extend_from_slice(&[0; 4]); // external attrs
        central.extend_from_slice(&off.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}
