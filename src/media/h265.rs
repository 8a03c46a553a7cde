//! HEVC (iPhone video) via `rust_h265` in display-order mode. The decoder carries no
//! per-frame metadata, so pictures are matched to packets by order: within a run decoded
//! from an IRAP picture, displayed pictures come out in presentation order, i.e. the run's
//! packets sorted by pts -- minus the RASL pictures of the run's first CRA, which the
//! decoder skips by spec. Any other count mismatch is reported as corrupt input.

use image::RgbImage;
use rust_h265::{
    parse_hvcc, parse_nal, DecodeError, DecodeLimits, Decoder, Frame as H265Frame, PixelData,
};

use super::limits::Deadline;
use super::sampling::Run;
use super::track::Track;
use super::video::PictureSink;
use super::yuv::{self, Matrix, Planes};
use super::{FrameLimits, MediaError};

/// hvcC record -> (NAL length size, parameter-set NAL payloads).
fn parse_hvcc_record(h: &[u8]) -> Result<(u8, Vec<&[u8]>), MediaError> {
    let bad = || MediaError::Corrupt("HEVC configuration (hvcC) is truncated".into());
    if h.len() < 23 {
        return Err(bad());
    }
    let length_size = (h[21] & 3) + 1;
    let arrays = h[22];
    let mut p = 23usize;
    let mut nals = Vec::new();
    for _ in 0..arrays {
        let count = usize::from(u16::from_be_bytes([
            *h.get(p + 1).ok_or_else(bad)?,
            *h.get(p + 2).ok_or_else(bad)?,
        ]));
        p += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([
                *h.get(p).ok_or_else(bad)?,
                *h.get(p + 1).ok_or_else(bad)?,
            ]));
            p += 2;
            nals.push(h.get(p..p + len).ok_or_else(bad)?);
            p += len;
        }
    }
    Ok((length_size, nals))
}

/// NAL unit type of the first VCL NAL of a length-prefixed sample.
fn first_vcl_type(data: &[u8], ls: usize) -> Option<u8> {
    let mut p = 0usize;
    while p + ls <= data.len() {
        let len = data[p..p + ls]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        p += ls;
        let t = (*data.get(p)? >> 1) & 0x3F;
        if t < 32 {
            return Some(t);
        }
        p = p.checked_add(len)?;
    }
    None
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
    let (ls, params) = parse_hvcc_record(&track.config)?;
    // Which packets will come out, in presentation order.
    let mut expected: Vec<usize> = Vec::new();
    let mut iraps = 0u32;
    let mut first_is_cra = false;
    for i in run.start..=run.end {
        let data = track.packets.get(i).map(|p| &p.data[..]).unwrap_or(&[]);
        let t = first_vcl_type(data, usize::from(ls));
        if let Some(t) = t {
            if (16..=23).contains(&t) {
                iraps += 1;
                if iraps == 1 {
                    first_is_cra = t == 21 || (16..=18).contains(&t);
                }
            }
            let rasl = t == 8 || t == 9;
            if rasl && iraps == 1 && first_is_cra {
                continue;
            }
        }
        expected.push(i);
    }
    expected.sort_by_key(|&i| (track.packets[i].pts, i));

    let dec_limits = DecodeLimits {
        max_picture_pixels: u64::from(limits.max_width) * u64::from(limits.max_height),
        ..DecodeLimits::default()
    };
    let mut dec = Decoder::with_limits(dec_limits).with_display_order();
    let mut produced = 0usize;
    let mut take = |frame: H265Frame| -> Result<(), MediaError> {
        let idx = expected.get(produced).copied();
        produced += 1;
        match idx {
            Some(idx) if run.wanted.contains(&idx) => out(idx, to_rgb(&frame)?),
            Some(_) => Ok(()),
            None => Err(MediaError::Corrupt(
                "HEVC stream produced more pictures than packets".into(),
            )),
        }
    };
    for p in params {
        if let Some(nal) = parse_nal(p) {
            dec.decode_nal(&nal).map_err(|e| map_err(e, limits))?;
        }
    }
    for i in run.start..=run.end {
        deadline.check()?;
        let data = track.packets.get(i).map(|p| &p.data[..]).unwrap_or(&[]);
        for nal in parse_hvcc(data, ls) {
            deadline.check()?;
            dec.decode_nal(&nal).map_err(|e| map_err(e, limits))?;
            while let Some(f) = dec.next_output() {
                take(f)?;
            }
        }
    }
    while let Some(f) = dec.flush() {
        deadline.check()?;
        take(f)?;
    }
    if let Some(e) = dec.next_error() {
        return Err(map_err(e, limits));
    }
    if produced != expected.len() {
        return Err(MediaError::Corrupt(format!(
            "HEVC decoder output {produced} pictures for {} packets (damaged slices dropped)",
            expected.len()
        )));
    }
    Ok(())
}

fn to_rgb(f: &H265Frame) -> Result<RgbImage, MediaError> {
    let plane = |p: &PixelData| -> Vec<u8> {
        match p {
            PixelData::U8(v) => v.clone(),
            PixelData::U16(v) => yuv::narrow(v, f.bit_depth),
        }
    };
    let (y, u, v) = (plane(&f.y), plane(&f.u), plane(&f.v));
    let (sx, sy) = match f.chroma_format_idc {
        1 => (1, 1),
        2 => (1, 0),
        3 => (0, 0),
        other => {
            return Err(MediaError::Unsupported(format!(
                "HEVC chroma format {other}"
            )))
        }
    };
    yuv::to_rgb(&Planes {
        width: f.width,
        height: f.height,
        y: &y,
        y_stride: f.width as usize,
        u: &u,
        v: &v,
        c_stride: ((f.width as usize) + (1 << sx) - 1) >> sx,
        c_shift_x: sx,
        c_shift_y: sy,
        matrix: Matrix::Bt601,
        full_range: false,
    })
}

fn map_err(e: DecodeError, limits: &FrameLimits) -> MediaError {
    match e {
        DecodeError::Unsupported(m) => MediaError::Unsupported(format!("HEVC: {m}")),
        DecodeError::ResourceLimit(m) => MediaError::TooLarge(format!(
            "HEVC picture: {m} (limit {}x{})",
            limits.max_width, limits.max_height
        )),
        other => MediaError::Corrupt(format!("HEVC: {other}")),
    }
}
