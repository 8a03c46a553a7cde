//! WebM/Matroska demux via `matroska-demuxer` (also the unknown-size, cue-less files that
//! browsers' MediaRecorder writes). Packets are copied out; their total is bounded by the
//! file size limit and their number by `max_indexed_frames`.

use std::borrow::Cow;
use std::io::Cursor;

use matroska_demuxer::{Frame as MkvFrame, MatroskaFile, TrackType};

use super::error::guard;
use super::limits::Deadline;
use super::track::{Codec, Packet, Rotation, Track};
use super::{FrameLimits, MediaError};

/// Demuxes the first video track.
pub(crate) fn demux(
    bytes: &[u8],
    limits: &FrameLimits,
    deadline: &Deadline,
) -> Result<Track<'static>, MediaError> {
    guard("WebM/Matroska demux", || {
        let mut mkv = MatroskaFile::open(Cursor::new(bytes))
            .map_err(|e| MediaError::Corrupt(format!("WebM/Matroska: {e}")))?;
        let video = mkv
            .tracks()
            .iter()
            .find(|t| t.track_type() == TrackType::Video)
            .ok_or_else(|| {
                MediaError::NoFrames("the WebM/Matroska file has no video track".into())
            })?;
        let number = video.track_number().get();
        let (codec, config) = match video.codec_id() {
            "V_VP8" => (Codec::Vp8, Vec::new()),
            "V_MPEG4/ISO/AVC" => (
                Codec::H264,
                video.codec_private().unwrap_or_default().to_vec(),
            ),
            "V_MPEGH/ISO/HEVC" => (
                Codec::H265,
                video.codec_private().unwrap_or_default().to_vec(),
            ),
            "V_MJPEG" => (Codec::Mjpeg, Vec::new()),
            other => (Codec::Other(format!("Matroska codec {other}")), Vec::new()),
        };
        let (width, height) = video
            .video()
            .map(|v| (v.pixel_width().get(), v.pixel_height().get()))
            .unwrap_or((0, 0));
        let width = u32::try_from(width).unwrap_or(u32::MAX);
        let height = u32::try_from(height).unwrap_or(u32::MAX);
        limits.check_dims(width, height, "video track")?;
        // Timestamps are in units of timestamp_scale nanoseconds.
        let scale_ns = mkv.info().timestamp_scale().get();
        let declared = mkv
            .info()
            .duration()
            .map(|d| d * scale_ns as f64 / 1e9)
            .filter(|d| d.is_finite() && *d >= 0.0);
        if let Some(d) = declared {
            if d > limits.max_duration_secs {
                return Err(too_long(d, limits));
            }
        }
        let ticks_per_sec = if scale_ns > 0 && 1_000_000_000 % scale_ns == 0 {
            1_000_000_000 / scale_ns
        } else {
            return Err(MediaError::Unsupported(format!(
                "Matroska timestamp scale {scale_ns} ns"
            )));
        };
        let mut packets: Vec<Packet<'static>> = Vec::new();
        let mut frame = MkvFrame::default();
        let mut first_ts: Option<u64> = None;
        loop {
            deadline.check()?;
            let more = mkv
                .next_frame(&mut frame)
                .map_err(|e| MediaError::Corrupt(format!("WebM/Matroska block: {e}")))?;
            if !more {
                break;
            }
            if frame.track != number {
                continue;
            }
            if packets.len() >= limits.max_indexed_frames {
                return Err(MediaError::TooLong(format!(
                    "the video holds more than {} frames",
                    limits.max_indexed_frames
                )));
            }
            let first = *first_ts.get_or_insert(frame.timestamp);
            let secs = frame.timestamp.saturating_sub(first) as f64 / ticks_per_sec as f64;
            if secs > limits.max_duration_secs {
                return Err(too_long(secs, limits));
            }
            let data = std::mem::take(&mut frame.data);
            let (key, shown) = match codec {
                // VP8 frame tag: bit 0 = inter frame, bit 4 = show_frame.
                Codec::Vp8 => match data.first() {
                    Some(b0) => (b0 & 1 == 0, (b0 >> 4) & 1 == 1 && !frame.is_invisible),
                    None => continue,
                },
                Codec::Mjpeg => (true, !frame.is_invisible),
                _ => (
                    frame
                        .is_keyframe
                        .unwrap_or_else(|| starts_random_access(&codec, &config, &data)),
                    !frame.is_invisible,
                ),
            };
            packets.push(Packet {
                data: Cow::Owned(data),
                pts: i64::try_from(frame.timestamp).unwrap_or(i64::MAX),
                key,
                shown,
            });
        }
        Ok(Track {
            codec,
            config,
            timescale: ticks_per_sec,
            packets,
            width,
            height,
            declared_duration_secs: declared,
            rotation: Rotation::R0,
        })
    })
}

/// Keyframe test from the NAL unit types, for blocks that carry no keyframe flag
/// (BlockGroups): an IDR slice (H.264) or an IRAP picture (HEVC).
fn starts_random_access(codec: &Codec, config: &[u8], data: &[u8]) -> bool {
    let length_size = match codec {
        Codec::H264 => config.get(4).map(|b| usize::from(b & 3) + 1),
        Codec::H265 => config.get(21).map(|b| usize::from(b & 3) + 1),
        _ => None,
    };
    let Some(ls) = length_size else {
        return false;
    };
    let mut p = 0usize;
    while p + ls < data.len() {
        let len = data[p..p + ls]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        let b0 = data[p + ls];
        let random_access = match codec {
            Codec::H264 => b0 & 0x1F == 5,
            _ => (16..=23).contains(&((b0 >> 1) & 0x3F)),
        };
        if random_access {
            return true;
        }
        p = match p.checked_add(ls + len) {
            Some(n) => n,
            None => return false,
        };
    }
    false
}

fn too_long(secs: f64, limits: &FrameLimits) -> MediaError {
    MediaError::TooLong(format!(
        "the video lasts {secs:.1} s, limit {} s",
        limits.max_duration_secs
    ))
}
