//! H.264 (Baseline/Main/High, CABAC, B-frames; 4:2:0, 4:2:2 and monochrome, 8 or 10 bits)
//! via `rust_h264`'s display-order decoder; each frame carries its packet index through the
//! reorder buffer. 4:4:4 is refused as unsupported (the decoder cannot decode it).

use rust_h264::decoder::{Frame as H264Frame, OrderedDecoder};
use rust_h264::error::DecodeError;
use rust_h264::nal::{parse_avcc, parse_avcc_config, parse_sps_info, NalUnit, NalUnitType};

use super::limits::Deadline;
use super::sampling::Run;
use super::track::Track;
use super::video::PictureSink;
use super::yuv::{self, Matrix, Planes};
use super::{FrameLimits, MediaError};

/// Colour interpretation taken from the SPS.
#[derive(Clone, Copy)]
struct Colour {
    matrix: Matrix,
    full_range: bool,
    /// SPS `chroma_format_idc`: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    chroma_format_idc: u32,
}

/// Decodes one run of packets, handing each picture of `run.wanted` to `out` (packet index,
/// RGB) as soon as the decoder outputs it.
pub(crate) fn decode_run(
    track: &Track<'_>,
    run: &Run,
    limits: &FrameLimits,
    deadline: &Deadline,
    out: &mut PictureSink<'_>,
) -> Result<(), MediaError> {
    let cfg = parse_avcc_config(&track.config)
        .map_err(|e| MediaError::Corrupt(format!("H.264 configuration (avcC): {e}")))?;
    let mut colour = Colour {
        matrix: Matrix::Bt601,
        full_range: false,
        chroma_format_idc: 1,
    };
    let mut dec = OrderedDecoder::<usize>::new();
    for nal in cfg.sps_nals.iter().chain(cfg.pps_nals.iter()) {
        feed(&mut dec, nal, usize::MAX, limits, &mut colour, run, out)?;
    }
    for i in run.start..=run.end {
        deadline.check()?;
        let data = track.packets.get(i).map(|p| &p.data[..]).unwrap_or(&[]);
        for nal in parse_avcc(data, cfg.length_size) {
            deadline.check()?;
            feed(&mut dec, &nal, i, limits, &mut colour, run, out)?;
        }
    }
    for (frame, idx) in dec.flush_with_meta() {
        keep(frame, idx, colour, run, out)?;
    }
    Ok(())
}

fn feed(
    dec: &mut OrderedDecoder<usize>,
    nal: &NalUnit<'_>,
    idx: usize,
    limits: &FrameLimits,
    colour: &mut Colour,
    run: &Run,
    out: &mut PictureSink<'_>,
) -> Result<(), MediaError> {
    if nal.nal_unit_type == NalUnitType::Sps {
        let info = parse_sps_info(nal).map_err(|e| map_err(e, "sequence parameter set"))?;
        limits.check_dims(info.width, info.height, "H.264 picture")?;
        if info.chroma_format == 3 {
            return Err(unsupported_444());
        }
        *colour = Colour {
            matrix: Matrix::from_vui(info.matrix),
            full_range: info.full_range,
            chroma_format_idc: info.chroma_format,
        };
    }
    let frames = dec
        .decode_nal_with_meta(nal, idx)
        .map_err(|e| map_err(e, "slice"))?;
    for (frame, i) in frames {
        keep(frame, i, *colour, run, out)?;
    }
    Ok(())
}

fn keep(
    frame: H264Frame,
    idx: usize,
    colour: Colour,
    run: &Run,
    out: &mut PictureSink<'_>,
) -> Result<(), MediaError> {
    if !run.wanted.contains(&idx) {
        return Ok(());
    }
    let (y, u, v);
    let (planes_y, planes_u, planes_v): (&[u8], &[u8], &[u8]) = if frame.bit_depth > 8 {
        let widen = |p: &[u8]| -> Vec<u16> {
            p.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        };
        y = yuv::narrow(&widen(&frame.y), frame.bit_depth);
        u = yuv::narrow(&widen(&frame.u), frame.bit_depth);
        v = yuv::narrow(&widen(&frame.v), frame.bit_depth);
        (&y, &u, &v)
    } else {
        (&frame.y, &frame.u, &frame.v)
    };
    // Chroma subsampling from the SPS, not from the decoder's frame: it reports monochrome
    // (4:0:0) as 4:2:0 with mid-grey planes cut to floor(width/2), which an odd-sized
    // monochrome picture does not fill.
    let (c_shift_x, c_shift_y) = match colour.chroma_format_idc {
        1 => (1, 1),
        2 => (1, 0),
        0 => (1, 1),
        3 => return Err(unsupported_444()),
        other => {
            return Err(MediaError::Corrupt(format!(
                "H.264 chroma_format_idc {other} is out of range"
            )))
        }
    };
    let grey;
    let (planes_u, planes_v, c_stride) = if colour.chroma_format_idc == 0 {
        // Monochrome: luma only; neutral chroma of the geometry `to_rgb` expects.
        let cw = (frame.width as usize).div_ceil(2);
        let ch = (frame.height as usize).div_ceil(2);
        grey = vec![128u8; cw * ch];
        (&grey[..], &grey[..], cw)
    } else {
        (planes_u, planes_v, frame.chroma_width() as usize)
    };
    let img = yuv::to_rgb(&Planes {
        width: frame.width,
        height: frame.height,
        y: planes_y,
        y_stride: frame.width as usize,
        u: planes_u,
        v: planes_v,
        c_stride,
        c_shift_x,
        c_shift_y,
        matrix: colour.matrix,
        full_range: colour.full_range,
    })?;
    out(idx, img)
}

/// `rust_h264` cannot decode 4:4:4: refused as soon as the SPS says so.
fn unsupported_444() -> MediaError {
    MediaError::Unsupported(
        "H.264 with 4:4:4 chroma (High 4:4:4 profile) is not supported; encode the video as 4:2:0"
            .into(),
    )
}

fn map_err(e: DecodeError, what: &str) -> MediaError {
    match e {
        DecodeError::Unsupported(m) => MediaError::Unsupported(format!("H.264 {what}: {m}")),
        other => MediaError::Corrupt(format!("H.264 {what}: {other}")),
    }
}
