//! Video: limits on the demuxed track, the sampling plan, decoding run by run with the
//! codec's decoder, rotation for display.

use std::collections::HashMap;

use image::RgbImage;

use super::error::guard;
use super::limits::Deadline;
use super::sampling::{plan, PacketInfo};
use super::track::{Codec, Rotation, Track};
use super::{h264, h265, jpeg, vp8, Frame, FrameLimits, MediaError};

/// Where a codec's decoder hands each wanted picture (packet index, RGB) as soon as it is
/// output, so that a run of many wanted frames never holds them all.
pub(crate) type PictureSink<'s> = dyn FnMut(usize, RgbImage) -> Result<(), MediaError> + 's;

/// Checks the track against the limits, then decodes the sampled frames, handing each to
/// `visit` (upright) as soon as it is decoded; returns how many were handed. Frames come in
/// decode-run order, which is not always presentation order: `Frame::index` tells.
pub(crate) fn frames(
    track: &Track<'_>,
    limits: &FrameLimits,
    deadline: &Deadline,
    visit: &mut dyn FnMut(Frame) -> Result<(), MediaError>,
) -> Result<usize, MediaError> {
    if let Codec::Other(name) = &track.codec {
        return Err(MediaError::Unsupported(format!("video codec {name}")));
    }
    if track.width > 0 && track.height > 0 {
        limits.check_dims(track.width, track.height, "video track")?;
    }
    // The decoder's reference pictures and the frame in hand, charged for the whole decode.
    let (w, h) = (
        u64::from(track.width.max(1)).min(u64::from(limits.max_width)),
        u64::from(track.height.max(1)).min(u64::from(limits.max_height)),
    );
    let _charge =
        crate::memory::charge_blocking(w * h * super::VIDEO_BYTES_PER_PIXEL, "decoding the video")
            .map_err(|e| MediaError::TooLarge(e.to_string()))?;
    if track.packets.len() > limits.max_indexed_frames {
        return Err(MediaError::TooLong(format!(
            "the video holds {} frames, limit {}",
            track.packets.len(),
            limits.max_indexed_frames
        )));
    }
    let min_pts = track.packets.iter().map(|p| p.pts).min().unwrap_or(0);
    let max_pts = track.packets.iter().map(|p| p.pts).max().unwrap_or(0);
    let span = (max_pts - min_pts) as f64 / track.timescale as f64;
    let duration = track.declared_duration_secs.unwrap_or(0.0).max(span);
    if duration > limits.max_duration_secs {
        return Err(MediaError::TooLong(format!(
            "the video lasts {duration:.1} s, limit {} s",
            limits.max_duration_secs
        )));
    }
    let infos: Vec<PacketInfo> = track
        .packets
        .iter()
        .map(|p| PacketInfo {
            pts: p.pts,
            key: p.key,
            shown: p.shown,
        })
        .collect();
    let plan = plan(&infos, limits.sample_count)?;
    if plan.decode_count() > limits.max_frames_decoded {
        return Err(MediaError::TooLong(format!(
            "sampling {} frames needs {} frames decoded (keyframes too far apart), limit {}",
            plan.picks.len(),
            plan.decode_count(),
            limits.max_frames_decoded
        )));
    }
    // Packet index -> slot in `plan.picks`; pictures are handed on as the decoder outputs
    // them, so no more than one RGB picture is held here at a time.
    let slots: HashMap<usize, usize> = plan
        .picks
        .iter()
        .enumerate()
        .map(|(slot, &(packet, _))| (packet, slot))
        .collect();
    let mut delivered = vec![false; plan.picks.len()];
    let mut count = 0usize;
    for run in &plan.runs {
        deadline.check()?;
        let mut sink = |packet: usize, image: RgbImage| -> Result<(), MediaError> {
            let Some(&slot) = slots.get(&packet) else {
                return Ok(());
            };
            if delivered[slot] {
                return Ok(());
            }
            delivered[slot] = true;
            count += 1;
            let pts = track.packets.get(packet).map(|p| p.pts).unwrap_or(min_pts);
            let frame = Frame {
                index: plan.picks[slot].1,
                pts_secs: (pts - min_pts) as f64 / track.timescale as f64,
                image: rotate(image, track.rotation),
            };
            deadline.excluding(|| visit(frame))
        };
        guard("video decode", || match &track.codec {
            Codec::H264 => h264::decode_run(track, run, limits, deadline, &mut sink),
            Codec::H265 => h265::decode_run(track, run, limits, deadline, &mut sink),
            Codec::Vp8 => vp8::decode_run(track, run, limits, deadline, &mut sink),
            Codec::Mjpeg => run.wanted.iter().try_for_each(|&i| {
                let data = track.packets.get(i).map(|p| &p.data[..]).unwrap_or(&[]);
                let img = jpeg::decode(data, limits, &format!("MJPEG frame {i}"))?;
                sink(i, img)
            }),
            Codec::Other(name) => Err(MediaError::Unsupported(format!("video codec {name}"))),
        })?;
    }
    if let Some(slot) = delivered.iter().position(|d| !d) {
        return Err(MediaError::Corrupt(format!(
            "frame {} could not be decoded",
            plan.picks[slot].1
        )));
    }
    Ok(count)
}

fn rotate(img: RgbImage, r: Rotation) -> RgbImage {
    match r {
        Rotation::R0 => img,
        Rotation::R90 => image::imageops::rotate90(&img),
        Rotation::R180 => image::imageops::rotate180(&img),
        Rotation::R270 => image::imageops::rotate270(&img),
    }
}
