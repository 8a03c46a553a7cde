//! AVI (RIFF) demux for MJPEG from USB cameras: a small RIFF walker collecting the first
//! video stream's `NNdc`/`NNdb` chunks from `LIST movi` (`NN` = that stream's number, the
//! position of its `strl` list: an audio stream may come first), timed by the stream header.

use std::borrow::Cow;

use super::track::{Codec, Packet, Rotation, Track};
use super::{FrameLimits, MediaError};

#[derive(Default)]
struct Walk<'a> {
    frames: Vec<Option<&'a [u8]>>,
    usec_per_frame: u32,
    width: u32,
    height: u32,
    scale: u32,
    rate: u32,
    compression: Option<[u8; 4]>,
    in_video_strl: bool,
    saw_video_strh: bool,
    chunks: u32,
    /// `strl` lists seen so far: the number of the stream being described.
    streams: u32,
    /// Chunk-id prefix of the first video stream (`b"00"` until a `vids` header says otherwise).
    video_id: [u8; 2],
}

/// Demuxes the first video stream of an AVI file.
pub(crate) fn demux<'a>(bytes: &'a [u8], limits: &FrameLimits) -> Result<Track<'a>, MediaError> {
    if bytes.len() < 12 {
        return Err(MediaError::Corrupt("AVI header is truncated".into()));
    }
    let mut w = Walk {
        video_id: *b"00",
        ..Walk::default()
    };
    walk(&bytes[12..], 0, &mut w, limits)?;
    let frame_count = w.frames.len();
    if frame_count == 0 {
        return Err(MediaError::NoFrames("the AVI holds no video frames".into()));
    }
    let (timescale, step) = if w.rate > 0 && w.scale > 0 {
        (u64::from(w.rate), i64::from(w.scale))
    } else if w.usec_per_frame > 0 {
        (1_000_000, i64::from(w.usec_per_frame))
    } else {
        return Err(MediaError::Corrupt("AVI declares no frame rate".into()));
    };
    let first = w.frames.iter().flatten().next().copied().unwrap_or(&[]);
    let codec = match w.compression {
        Some(c)
            if matches!(
                &c,
                b"MJPG" | b"mjpg" | b"AVRn" | b"LJPG" | b"JPGL" | b"dmb1"
            ) =>
        {
            Codec::Mjpeg
        }
        _ if first.starts_with(&[0xFF, 0xD8]) => Codec::Mjpeg,
        Some(c) => Codec::Other(format!("AVI video '{}'", String::from_utf8_lossy(&c))),
        None => Codec::Other("AVI video of unknown type".into()),
    };
    let packets = w
        .frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            f.map(|data| Packet {
                data: Cow::Borrowed(data),
                pts: i as i64 * step,
                key: true,
                shown: true,
            })
        })
        .collect();
    Ok(Track {
        codec,
        config: Vec::new(),
        timescale,
        packets,
        width: w.width,
        height: w.height,
        declared_duration_secs: Some(frame_count as f64 * step as f64 / timescale as f64),
        rotation: Rotation::R0,
    })
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

fn walk<'a>(
    d: &'a [u8],
    depth: u32,
    w: &mut Walk<'a>,
    limits: &FrameLimits,
) -> Result<(), MediaError> {
    if depth > 6 {
        return Err(MediaError::Corrupt("AVI lists nest too deeply".into()));
    }
    let mut p = 0usize;
    while p + 8 <= d.len() {
        w.chunks += 1;
        if w.chunks > 4 * limits.max_indexed_frames as u32 + 1000 {
            return Err(MediaError::TooLong("the AVI holds too many chunks".into()));
        }
        let id = &d[p..p + 4];
        let size = le32(d, p + 4) as usize;
        let start = p + 8;
        let end = start.saturating_add(size);
        if end > d.len() {
            return Err(MediaError::Corrupt(format!(
                "AVI chunk '{}' runs past the end of the file (truncated?)",
                String::from_utf8_lossy(id)
            )));
        }
        let body = &d[start..end];
        match id {
            b"LIST" | b"RIFF" if body.len() >= 4 => {
                let strl = &body[..4] == b"strl";
                if strl {
                    w.in_video_strl = false;
                }
                walk(&body[4..], depth + 1, w, limits)?;
                if strl {
                    w.in_video_strl = false;
                    w.streams = w.streams.saturating_add(1);
                }
            }
            b"avih" => {
                w.usec_per_frame = le32(body, 0);
                w.width = le32(body, 32);
                w.height = le32(body, 36);
            }
            b"strh" if body.len() >= 28 && &body[..4] == b"vids" && !w.saw_video_strh => {
                w.saw_video_strh = true;
                w.in_video_strl = true;
                // Chunk ids carry the stream number as two decimal digits.
                if w.streams < 100 {
                    w.video_id = [b'0' + (w.streams / 10) as u8, b'0' + (w.streams % 10) as u8];
                }
                w.scale = le32(body, 20);
                w.rate = le32(body, 24);
            }
            b"strf" if w.in_video_strl && body.len() >= 20 => {
                w.width = le32(body, 4);
                w.height = (le32(body, 8) as i32).unsigned_abs();
                let mut c = [0u8; 4];
                c.copy_from_slice(&body[16..20]);
                w.compression = Some(c);
            }
            _ if id.len() == 4
                && id[..2] == w.video_id
                && (&id[2..] == b"dc" || &id[2..] == b"db") =>
            {
                if w.frames.len() >= limits.max_indexed_frames {
                    return Err(MediaError::TooLong(format!(
                        "the AVI holds more than {} frames",
                        limits.max_indexed_frames
                    )));
                }
                w.frames
                    .push(if body.is_empty() { None } else { Some(body) });
            }
            _ => {}
        }
        p = end + (size & 1);
    }
    Ok(())
}
