//! Planar YUV (4:2:0 / 4:2:2 / 4:4:4, 8-bit) to RGB, the way ffmpeg's unscaled converter
//! does it: nearest chroma sample, fixed-point BT.601 or BT.709 coefficients.

use image::RgbImage;

use super::MediaError;

/// Colour matrix of the coded YUV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Matrix {
    Bt601,
    Bt709,
}

impl Matrix {
    /// Matrix from an H.264/HEVC VUI `matrix_coefficients` code (1 = BT.709; the rest, and
    /// "unspecified", fall back to BT.601 as ffmpeg does).
    pub(crate) fn from_vui(code: u8) -> Self {
        if code == 1 {
            Matrix::Bt709
        } else {
            Matrix::Bt601
        }
    }
}

/// One picture's planes, borrowed from a decoder frame.
pub(crate) struct Planes<'a> {
    pub width: u32,
    pub height: u32,
    pub y: &'a [u8],
    pub y_stride: usize,
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub c_stride: usize,
    /// log2 of the horizontal chroma subsampling (1 for 4:2:0 and 4:2:2, 0 for 4:4:4).
    pub c_shift_x: u32,
    /// log2 of the vertical chroma subsampling (1 for 4:2:0).
    pub c_shift_y: u32,
    pub matrix: Matrix,
    pub full_range: bool,
}

/// Converts to RGB; errors (instead of panicking) when a plane is shorter than its geometry.
pub(crate) fn to_rgb(p: &Planes<'_>) -> Result<RgbImage, MediaError> {
    let (w, h) = (p.width as usize, p.height as usize);
    let cw = (w + (1 << p.c_shift_x) - 1) >> p.c_shift_x;
    let ch = (h + (1 << p.c_shift_y) - 1) >> p.c_shift_y;
    let y_need = p
        .y_stride
        .checked_mul(h.saturating_sub(1))
        .and_then(|v| v.checked_add(w));
    let c_need = p
        .c_stride
        .checked_mul(ch.saturating_sub(1))
        .and_then(|v| v.checked_add(cw));
    let ok = matches!(y_need, Some(n) if n <= p.y.len() && p.y_stride >= w)
        && matches!(c_need, Some(n) if n <= p.u.len() && n <= p.v.len() && p.c_stride >= cw);
    if !ok || w == 0 || h == 0 {
        return Err(MediaError::Corrupt(format!(
            "decoded picture planes do not match its size {w}x{h}"
        )));
    }
    // Coefficients scaled by 2^16. Limited range: Y' = (Y-16)*255/219, C' = (C-128)*255/224.
    let (ky, kc) = if p.full_range {
        (65536i64, 65536i64)
    } else {
        (76309i64, 74711i64) // 255/219, 255/224
    };
    let (rv, gu, gv, bu) = match p.matrix {
        Matrix::Bt601 => (1.402, 0.344136, 0.714136, 1.772),
        Matrix::Bt709 => (1.5748, 0.187324, 0.468124, 1.8556),
    };
    let f = |c: f64| (c * kc as f64).round() as i64;
    let (rv, gu, gv, bu) = (f(rv), f(gu), f(gv), f(bu));
    let y_off = if p.full_range { 0 } else { 16 };
    let mut out = vec![0u8; w * h * 3];
    for row in 0..h {
        let yr = &p.y[row * p.y_stride..row * p.y_stride + w];
        let crow = (row >> p.c_shift_y) * p.c_stride;
        let ur = &p.u[crow..crow + cw];
        let vr = &p.v[crow..crow + cw];
        let o = &mut out[row * w * 3..(row + 1) * w * 3];
        for x in 0..w {
            let yy = (yr[x] as i64 - y_off) * ky;
            let cu = ur[x >> p.c_shift_x] as i64 - 128;
            let cv = vr[x >> p.c_shift_x] as i64 - 128;
            // Truncating like ffmpeg's table-driven converter (rounding would add a
            // systematic +0.5 against ffmpeg's output).
            let r = (yy + rv * cv) >> 16;
            let g = (yy - gu * cu - gv * cv) >> 16;
            let b = (yy + bu * cu) >> 16;
            o[x * 3] = r.clamp(0, 255) as u8;
            o[x * 3 + 1] = g.clamp(0, 255) as u8;
            o[x * 3 + 2] = b.clamp(0, 255) as u8;
        }
    }
    RgbImage::from_raw(p.width, p.height, out)
        .ok_or_else(|| MediaError::Corrupt("picture buffer size mismatch".into()))
}

/// Reduces 16-bit samples (10/12-bit video) to 8 bits, rounding.
pub(crate) fn narrow(samples: &[u16], bit_depth: u8) -> Vec<u8> {
    let shift = u32::from(bit_depth.saturating_sub(8));
    if shift == 0 {
        return samples.iter().map(|&s| s.min(255) as u8).collect();
    }
    let half = 1u32 << (shift - 1);
    samples
        .iter()
        .map(|&s| ((u32::from(s) + half) >> shift).min(255) as u8)
        .collect()
}
