//! Video: limits on the demuxed track, the sampling plan, decoding run by run with the
//! codec's decoder, rotation for display.

use std::collections::HashMap;

use image::RgbImage;

use super::error::guard;
use super::limits::Deadline;
use super::sampling::{plan, PacketInfo};
use super::track::{Codec, Rotation, Track};
use super::{h264, h265, jpeg, vp8, Frame, FrameLimits, MediaError};

/// Checks the track against the limits, then decodes the sampled frames.
pub(crate) fn frames(
    track: &Track<'_>,
    limits: &FrameLimits,
    deadline: &Deadline,
) -> Result<Vec<Frame>, MediaError> {
    if let Codec::Other(name) = &track.codec {
        return Err(MediaError::Unsupported(format!("video codec {name}")));
    }
    if track.width > 0 && track.height > 0 {
        limits.check_dims(track.width, track.height, "video track")?;
    }
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
    let mut decoded: HashMap<usize, RgbImage> = HashMap::new();
    for run in &plan.runs {
        deadline.check()?;
        let pictures = guard("video decode", || match &track.codec {
            Codec::H264 => h264::decode_run(track, run, limits, deadline),
            Codec::H265 => h265::decode_run(track, run, limits, deadline),
            Codec::Vp8 => vp8::decode_run(track, run, limits, deadline),
            Codec::Mjpeg => run
                .wanted
                .iter()
                .map(|&i| {
                    let data = track.packets.get(i).map(|p| &p.data[..]).unwrap_or(&[]);
                    jpeg::decode(data, limits, &format!("MJPEG frame {i}")).map(|img| (i, img))
                })
                .collect(),
            Codec::Other(name) => Err(MediaError::Unsupported(format!("video codec {name}"))),
        })?;
        decoded.extend(pictures);
    }
    let mut out = Vec::with_capacity(plan.picks.len());
    for &(packet, position) in &plan.picks {
        let image = decoded
            .remove(&packet)
            .ok_or_else(|| MediaError::Corrupt(format!("frame {position} could not be decoded")))?;
        out.push(Frame {
            index: position,
            pts_secs: (track.packets[packet].pts - min_pts) as f64 / track.timescale as f64,
            image: rotate(image, track.rotation),
        });
    }
    Ok(out)
}

fn rotate(img: RgbImage, r: Rotation) -> RgbImage {
    match r {
        Rotation::R0 => img,
        Rotation::R90 => image::imageops::rotate90(&img),
        Rotation::R180 => image::imageops::rotate180(&img),
        Rotation::R270 => image::imageops::rotate270(&img),
    }
}
