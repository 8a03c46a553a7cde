//! Letterbox an RGB image straight into a model's float input tensor: antialiased separable
//! resize, normalisation and layout in one pass, with no intermediate 8-bit image. This is the
//! detector's preprocessing, so it runs on every frame and is written for speed.

use image::RgbImage;

/// Memory order of an image tensor with batch 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Layout {
    /// `[1, 3, H, W]`
    #[serde(rename = "NCHW")]
    Nchw,
    /// `[1, H, W, 3]`
    #[serde(rename = "NHWC")]
    Nhwc,
}

impl Layout {
    /// Tensor shape for a `width` x `height` input.
    pub fn shape(self, width: usize, height: usize) -> [usize; 4] {
        match self {
            Layout::Nchw => [1, 3, height, width],
            Layout::Nhwc => [1, height, width, 3],
        }
    }
}

/// Pixel normalisation: `value = (pixel - mean[c]) * scale[c]`, channels in RGB or BGR order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    pub mean: [f32; 3],
    pub scale: [f32; 3],
    pub bgr: bool,
}

impl Normalize {
    /// Raw 0..255 RGB.
    pub const RAW_RGB: Normalize = Normalize {
        mean: [0.0; 3],
        scale: [1.0; 3],
        bgr: false,
    };
    /// RGB divided by 255.
    pub const UNIT_RGB: Normalize = Normalize {
        mean: [0.0; 3],
        scale: [1.0 / 255.0; 3],
        bgr: false,
    };

    /// Value written for a padded (outside the image) pixel: a black pixel after normalisation.
    fn pad(&self, c: usize) -> f32 {
        (0.0 - self.mean[c]) * self.scale[c]
    }
}

/// Writes pixel `(x, y)` with RGB value `rgb` (already resampled, 0..255) into `out`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn put(
    out: &mut [f32],
    layout: Layout,
    norm: &Normalize,
    width: usize,
    height: usize,
    x: usize,
    y: usize,
    rgb: [f32; 3],
) {
    for (c, &v) in rgb.iter().enumerate() {
        let oc = if norm.bgr { 2 - c } else { c };
        let value = (v - norm.mean[oc]) * norm.scale[oc];
        let idx = match layout {
            Layout::Nchw => (oc * height + y) * width + x,
            Layout::Nhwc => (y * width + x) * 3 + oc,
        };
        out[idx] = value;
    }
}

/// Tensor filled with the normalised value of black.
pub(crate) fn padded_tensor(
    width: usize,
    height: usize,
    layout: Layout,
    norm: &Normalize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; 3 * width * height];
    let pads = [norm.pad(0), norm.pad(1), norm.pad(2)];
    if pads.iter().all(|&p| p == 0.0) {
        return out;
    }
    match layout {
        Layout::Nchw => {
            for (c, plane) in out.chunks_exact_mut(width * height).enumerate() {
                plane.fill(pads[c]);
            }
        }
        Layout::Nhwc => {
            for px in out.chunks_exact_mut(3) {
                px.copy_from_slice(&pads);
            }
        }
    }
    out
}

/// Result of [`letterbox`]: the tensor and the factor from image to tensor pixels.
pub struct Letterboxed {
    pub data: Vec<f32>,
    /// Tensor pixel = image pixel x `scale` (the image sits at the top-left corner).
    pub scale: f32,
}

/// Resizes `img` to fit `width` x `height` keeping its aspect ratio, top-left aligned, padding
/// the rest with black, and returns it normalised in `layout`.
pub fn letterbox(
    img: &RgbImage,
    width: usize,
    height: usize,
    layout: Layout,
    norm: &Normalize,
) -> Letterboxed {
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    let scale = (width as f32 / sw as f32).min(height as f32 / sh as f32);
    let rw = ((sw as f32 * scale).round() as usize).clamp(1, width);
    let rh = ((sh as f32 * scale).round() as usize).clamp(1, height);
    let mut data = padded_tensor(width, height, layout, norm);
    if sw == 0 || sh == 0 {
        return Letterboxed { data, scale };
    }
    let hx = Taps::new(sw, rw);
    let vy = Taps::new(sh, rh);
    let src = img.as_raw();
    // Horizontal pass: only the source rows some output row reads.
    let (row_lo, row_hi) = vy.span();
    let mut tmp = vec![0.0f32; (row_hi - row_lo) * rw * 3];
    for y in row_lo..row_hi {
        let srow = &src[y * sw * 3..(y + 1) * sw * 3];
        let trow = &mut tmp[(y - row_lo) * rw * 3..(y - row_lo + 1) * rw * 3];
        for x in 0..rw {
            let (start, w) = hx.get(x);
            let mut acc = [0.0f32; 3];
            for (k, &wk) in w.iter().enumerate() {
                let p = (start + k) * 3;
                acc[0] += wk * f32::from(srow[p]);
                acc[1] += wk * f32::from(srow[p + 1]);
                acc[2] += wk * f32::from(srow[p + 2]);
            }
            trow[x * 3..x * 3 + 3].copy_from_slice(&acc);
        }
    }
    // Vertical pass straight into the tensor.
    let mut acc_row = vec![0.0f32; rw * 3];
    for y in 0..rh {
        let (start, w) = vy.get(y);
        acc_row.fill(0.0);
        for (k, &wk) in w.iter().enumerate() {
            let t = &tmp[(start + k - row_lo) * rw * 3..(start + k - row_lo + 1) * rw * 3];
            for (a, &v) in acc_row.iter_mut().zip(t) {
                *a += wk * v;
            }
        }
        for x in 0..rw {
            let px = [acc_row[x * 3], acc_row[x * 3 + 1], acc_row[x * 3 + 2]];
            put(&mut data, layout, norm, width, height, x, y, px);
        }
    }
    Letterboxed { data, scale }
}

/// Triangle-filter taps for resampling `src` samples to `dst` samples, support widened by the
/// downscale factor (antialiasing); stored flat with a fixed stride.
struct Taps {
    starts: Vec<usize>,
    lens: Vec<usize>,
    weights: Vec<f32>,
    stride: usize,
}

impl Taps {
    fn new(src: usize, dst: usize) -> Taps {
        let ratio = src as f32 / dst as f32;
        let support = ratio.max(1.0);
        let stride = (support * 2.0).ceil() as usize + 2;
        let mut taps = Taps {
            starts: Vec::with_capacity(dst),
            lens: Vec::with_capacity(dst),
            weights: vec![0.0; dst * stride],
            stride,
        };
        for x in 0..dst {
            let centre = (x as f32 + 0.5) * ratio;
            let lo = ((centre - support).floor().max(0.0) as usize).min(src - 1);
            let hi = ((centre + support).ceil() as usize).clamp(lo + 1, src);
            let hi = hi.min(lo + stride);
            let w = &mut taps.weights[x * stride..x * stride + (hi - lo)];
            let mut sum = 0.0;
            for (k, wk) in w.iter_mut().enumerate() {
                let d = ((lo + k) as f32 + 0.5 - centre).abs() / support;
                *wk = (1.0 - d).max(0.0);
                sum += *wk;
            }
            if sum > 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            } else {
                w[0] = 1.0;
            }
            taps.starts.push(lo);
            taps.lens.push(hi - lo);
        }
        taps
    }

    fn get(&self, i: usize) -> (usize, &[f32]) {
        let s = i * self.stride;
        (self.starts[i], &self.weights[s..s + self.lens[i]])
    }

    /// First and one-past-last source index used by any output.
    fn span(&self) -> (usize, usize) {
        let lo = self.starts.iter().copied().min().unwrap_or(0);
        let hi = self
            .starts
            .iter()
            .zip(&self.lens)
            .map(|(s, l)| s + l)
            .max()
            .unwrap_or(0);
        (lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_image_stays_uniform_and_pads_black() {
        let img = RgbImage::from_pixel(37, 20, image::Rgb([10, 100, 200]));
        let lb = letterbox(&img, 32, 32, Layout::Nchw, &Normalize::RAW_RGB);
        // 37x20 -> 32x17 (scale 32/37), rest padded.
        let at = |c: usize, y: usize, x: usize| lb.data[(c * 32 + y) * 32 + x];
        assert!((at(0, 0, 0) - 10.0).abs() < 1e-3);
        assert!((at(1, 16, 31) - 100.0).abs() < 1e-3);
        assert!((at(2, 8, 5) - 200.0).abs() < 1e-3);
        assert_eq!(at(0, 17, 0), 0.0);
        assert_eq!(at(2, 31, 31), 0.0);
    }

    #[test]
    fn nhwc_bgr_normalisation() {
        let img = RgbImage::from_pixel(4, 4, image::Rgb([255, 0, 51]));
        let norm = Normalize {
            mean: [127.5; 3],
            scale: [1.0 / 127.5; 3],
            bgr: true,
        };
        let lb = letterbox(&img, 4, 4, Layout::Nhwc, &norm);
        assert!((lb.data[0] - (51.0 - 127.5) / 127.5).abs() < 1e-5);
        assert!((lb.data[2] - 1.0).abs() < 1e-5);
    }
}
