//! MP4/MOV (incl. fragmented) demux via `re_mp4`. Before the library parses anything, a
//! light walk of the box tree validates box sizes and adds up the sample counts that
//! `stsz`/`trun` declare: re_mp4 allocates one entry per declared sample, so a forged count
//! must be refused first to keep memory bounded.

use std::borrow::Cow;

use re_mp4::{Mp4, StsdBoxContent};

use super::error::guard;
use super::track::{Codec, Packet, Rotation, Track};
use super::{FrameLimits, MediaError};

/// Boxes whose children re_mp4 parses, with the bytes that precede the first child. The
/// pre-check walks all of them: re_mp4's nested loops do not advance past a zero-sized child
/// (found by fuzzing: a zeroed box size inside `stbl` spins forever), so such boxes must be
/// refused before it sees them.
const CONTAINERS: [(&[u8; 4], usize); 22] = [
    (b"moov", 0),
    (b"trak", 0),
    (b"mdia", 0),
    (b"minf", 0),
    (b"stbl", 0),
    (b"moof", 0),
    (b"traf", 0),
    (b"mvex", 0),
    (b"dinf", 0),
    (b"edts", 0),
    (b"udta", 0),
    (b"meta", 4),
    (b"stsd", 8),
    (b"dref", 8),
    (b"avc1", 78),
    (b"avc3", 78),
    (b"hvc1", 78),
    (b"hev1", 78),
    (b"vp08", 78),
    (b"vp09", 78),
    (b"av01", 78),
    (b"mp4a", 28),
];

/// Demuxes the first video track.
pub(crate) fn demux<'a>(bytes: &'a [u8], limits: &FrameLimits) -> Result<Track<'a>, MediaError> {
    let mut counts = Counts::default();
    walk(bytes, 0, &mut counts)?;
    if counts.samples > limits.max_indexed_frames as u64 {
        return Err(MediaError::TooLong(format!(
            "the MP4 index lists {} samples, limit {}",
            counts.samples, limits.max_indexed_frames
        )));
    }
    if counts.moov == 0 {
        return Err(MediaError::Corrupt(
            "no 'moov' box: the MP4 is truncated or not finalised".into(),
        ));
    }
    guard("MP4 demux", || {
        let mp4 = Mp4::read_bytes(bytes).map_err(|e| MediaError::Corrupt(format!("MP4: {e}")))?;
        let track = mp4
            .tracks()
            .values()
            .find(|t| {
                t.kind == Some(re_mp4::TrackKind::Video)
                    || (t.width > 0 && t.height > 0 && !t.samples.is_empty())
            })
            .ok_or_else(|| MediaError::NoFrames("the MP4 has no video track".into()))?;
        let trak = track.trak(&mp4);
        let (codec, config) = match &trak.mdia.minf.stbl.stsd.contents {
            StsdBoxContent::Avc1(_) => (
                Codec::H264,
                track.raw_codec_config(&mp4).unwrap_or_default(),
            ),
            StsdBoxContent::Hvc1(_) | StsdBoxContent::Hev1(_) => (
                Codec::H265,
                track.raw_codec_config(&mp4).unwrap_or_default(),
            ),
            StsdBoxContent::Vp08(_) => (Codec::Vp8, Vec::new()),
            StsdBoxContent::Vp09(_) => (Codec::Other("VP9".into()), Vec::new()),
            StsdBoxContent::Av01(_) => (Codec::Other("AV1".into()), Vec::new()),
            StsdBoxContent::Unknown(fourcc) => {
                let name = String::from_utf8_lossy(&fourcc.value).to_string();
                if matches!(
                    &fourcc.value,
                    b"jpeg" | b"mjpa" | b"MJPG" | b"AVDJ" | b"dmb1"
                ) {
                    (Codec::Mjpeg, Vec::new())
                } else {
                    (
                        Codec::Other(format!("MP4 sample entry '{name}'")),
                        Vec::new(),
                    )
                }
            }
            other => (
                Codec::Other(format!("{:?}", std::mem::discriminant(other))),
                Vec::new(),
            ),
        };
        if track.timescale == 0 {
            return Err(MediaError::Corrupt("video track timescale is 0".into()));
        }
        let mut packets = Vec::with_capacity(track.samples.len());
        for (i, s) in track.samples.iter().enumerate() {
            let end = s.offset.checked_add(s.size);
            let range = match end {
                Some(end) if end <= bytes.len() as u64 => s.offset as usize..end as usize,
                _ => {
                    return Err(MediaError::Corrupt(format!(
                        "sample {i} lies beyond the end of the file (truncated upload?)"
                    )))
                }
            };
            packets.push(Packet {
                data: Cow::Borrowed(&bytes[range]),
                pts: s.composition_timestamp,
                key: s.is_sync,
                shown: true,
            });
        }
        let m = &trak.tkhd.matrix;
        let duration = if trak.mdia.mdhd.timescale > 0 && trak.mdia.mdhd.duration > 0 {
            Some(trak.mdia.mdhd.duration as f64 / f64::from(trak.mdia.mdhd.timescale))
        } else {
            None
        };
        Ok(Track {
            codec,
            config,
            timescale: track.timescale,
            packets,
            width: u32::from(track.width),
            height: u32::from(track.height),
            declared_duration_secs: duration,
            rotation: rotation(m.a, m.b, m.c, m.d),
        })
    })
}

/// Display rotation from the tkhd matrix (16.16 fixed point `a b / c d`).
fn rotation(a: i32, b: i32, c: i32, d: i32) -> Rotation {
    let one = 0x10000;
    match (a, b, c, d) {
        (0, b, c, 0) if b == one && c == -one => Rotation::R90,
        (a, 0, 0, d) if a == -one && d == -one => Rotation::R180,
        (0, b, c, 0) if b == -one && c == one => Rotation::R270,
        _ => Rotation::R0,
    }
}

#[derive(Default)]
struct Counts {
    samples: u64,
    moov: u32,
    boxes: u32,
}

/// Validates the box tree and sums declared sample counts.
fn walk(b: &[u8], depth: u32, counts: &mut Counts) -> Result<(), MediaError> {
    let mut p = 0usize;
    while p + 8 <= b.len() {
        counts.boxes += 1;
        if counts.boxes > 100_000 || depth > 12 {
            return Err(MediaError::Corrupt(
                "MP4 box tree is too deep or too large".into(),
            ));
        }
        let size32 = u32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]);
        let kind: [u8; 4] = [b[p + 4], b[p + 5], b[p + 6], b[p + 7]];
        let (header, size) = match size32 {
            0 if depth == 0 => (8usize, (b.len() - p) as u64),
            0 => return Err(corrupt_box(&kind)),
            1 => {
                if p + 16 > b.len() {
                    return Err(corrupt_box(&kind));
                }
                let mut s = [0u8; 8];
                s.copy_from_slice(&b[p + 8..p + 16]);
                (16, u64::from_be_bytes(s))
            }
            n => (8, u64::from(n)),
        };
        if size < header as u64 {
            return Err(corrupt_box(&kind));
        }
        let end = match usize::try_from(size).ok().and_then(|s| p.checked_add(s)) {
            Some(e) if e <= b.len() => e,
            // The last top-level box may be cut (an mdat of a truncated upload); sample
            // ranges are checked later. Nested boxes must fit their parent.
            _ if depth == 0 && &kind == b"mdat" => b.len(),
            _ => {
                return Err(MediaError::Corrupt(format!(
                    "MP4 box '{}' runs past the end of its parent (truncated?)",
                    String::from_utf8_lossy(&kind)
                )))
            }
        };
        let body = &b[p + header..end];
        if &kind == b"moov" {
            counts.moov += 1;
        }
        if let Some(&(_, skip)) = CONTAINERS.iter().find(|(k, _)| *k == &kind) {
            if body.len() < skip {
                return Err(corrupt_box(&kind));
            }
            walk(&body[skip..], depth + 1, counts)?;
        } else if &kind == b"stsz" && body.len() >= 12 {
            counts.samples += u64::from(u32::from_be_bytes([body[8], body[9], body[10], body[11]]));
        } else if &kind == b"trun" && body.len() >= 8 {
            counts.samples += u64::from(u32::from_be_bytes([body[4], body[5], body[6], body[7]]));
        }
        p = end;
    }
    Ok(())
}

fn corrupt_box(kind: &[u8; 4]) -> MediaError {
    MediaError::Corrupt(format!(
        "MP4 box '{}' has an invalid size",
        String::from_utf8_lossy(kind)
    ))
}
