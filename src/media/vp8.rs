//! VP8 (WebM from browsers) via `oximedia-codec`'s pure-Rust decoder. No reordering: each
//! shown packet yields its picture, tagged with the packet index as its pts.

use oximedia_codec::traits::{DecoderConfig, VideoDecoder};
use oximedia_codec::vp8::{FrameHeader, Vp8Decoder};

use super::limits::Deadline;
use super::sampling::Run;
use super::track::Track;
use super::video::PictureSink;
use super::yuv::{self, Matrix, Planes};
use super::{FrameLimits, MediaError};

/// Decodes one run of packets, handing each picture of `run.wanted` to `out` (packet index,
/// RGB) as soon as the decoder outputs it.
pub(crate) fn decode_run(
    track: &Track<'_>,
    run: &Run,
    limits: &FrameLimits,
    deadline: &Deadline,
    out: &mut PictureSink<'_>,
) -> Result<(), MediaError> {
    let mut dec = Vp8Decoder::new(DecoderConfig::default())
        .map_err(|e| MediaError::Corrupt(format!("VP8 decoder: {e}")))?;
    for i in run.start..=run.end {
        deadline.check()?;
        let data = track.packets.get(i).map(|p| &p.data[..]).unwrap_or(&[]);
        let header = FrameHeader::parse(data)
            .map_err(|e| MediaError::Corrupt(format!("VP8 frame {i} header: {e}")))?;
        if header.is_keyframe() {
            limits.check_dims(
                u32::from(header.width),
                u32::from(header.height),
                "VP8 picture",
            )?;
        }
        dec.send_packet(data, i as i64)
            .map_err(|e| MediaError::Corrupt(format!("VP8 frame {i}: {e}")))?;
        while let Some(frame) = dec
            .receive_frame()
            .map_err(|e| MediaError::Corrupt(format!("VP8 frame {i}: {e}")))?
        {
            let idx = usize::try_from(frame.timestamp.pts).unwrap_or(usize::MAX);
            if !run.wanted.contains(&idx) {
                continue;
            }
            let [py, pu, pv] = match frame.planes.as_slice() {
                [a, b, c] => [a, b, c],
                _ => return Err(MediaError::Corrupt("VP8 picture without 3 planes".into())),
            };
            let img = yuv::to_rgb(&Planes {
                width: frame.width,
                height: frame.height,
                y: &py.data,
                y_stride: py.stride,
                u: &pu.data,
                v: &pv.data,
                c_stride: pu.stride.min(pv.stride),
                c_shift_x: 1,
                c_shift_y: 1,
                matrix: Matrix::Bt601,
                full_range: false,
            })?;
            out(idx, img)?;
        }
    }
    Ok(())
}
