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
    letterbox_reducing(img, width, height, layout, norm, MAX_BOX_FACTOR)
}

/// Largest integer factor [`letterbox`] box-reduces by before filtering.
const MAX_BOX_FACTOR: u32 = 32;

/// [`letterbox`] with the box-reduction factor capped at `max_k` (1 = filter the full image
/// directly, the reference the fast path is tested against).
fn letterbox_reducing(
    img: &RgbImage,
    width: usize,
    height: usize,
    layout: Layout,
    norm: &Normalize,
    max_k: u32,
) -> Letterboxed {
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    let scale = (width as f32 / sw as f32).min(height as f32 / sh as f32);
    let rw = ((sw as f32 * scale).round() as usize).clamp(1, width);
    let rh = ((sh as f32 * scale).round() as usize).clamp(1, height);
    let mut data = padded_tensor(width, height, layout, norm);
    if sw == 0 || sh == 0 {
        return Letterboxed { data, scale };
    }
    // A shrink of 2x or more is first box-averaged by its integer factor `k` (every source
    // pixel read once, in integers); the triangle filter then does the remaining shrink below 2x
    // with a few taps. Filtering the full image directly cost ~10 taps per pixel and channel in
    // float: 11 ms for a phone photo, more than the detector's own convolutions at 320x256.
    let k =
        ((sw as f32 / rw as f32).min(sh as f32 / rh as f32).floor() as u32).clamp(1, max_k.max(1));
    let reduced;
    let (img, kf) = if k >= 2 {
        reduced = box_reduce(img, [0, 0, img.width(), img.height()], k);
        (&reduced, k as f32)
    } else {
        (img, 1.0)
    };
    // Source samples per output sample in (reduced) pixel units, from the original sizes: a
    // partial last block makes the reduced image up to one pixel wider than `sw / k`.
    let hx = Taps::with_ratio(img.width() as usize, rw, sw as f32 / (rw as f32 * kf));
    let vy = Taps::with_ratio(img.height() as usize, rh, sh as f32 / (rh as f32 * kf));
    let (sw, src) = (img.width() as usize, img.as_raw());
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

/// Box-averages the `[x0, y0, width, height]` region of `img` by `k` in both directions: reduced
/// pixel `(i, j)` is the rounded mean of region pixels `x0 + i*k .. x0 + (i+1)*k` (likewise in
/// y). A partial block at the right or bottom edge averages the pixels it has. The region must
/// lie inside the image; `k` is capped at 32.
pub(crate) fn box_reduce(img: &RgbImage, region: [u32; 4], k: u32) -> RgbImage {
    let [x0, y0, width, height] = region;
    let k = k.clamp(1, 32);
    let (cols, rows) = (width.div_ceil(k), height.div_ceil(k));
    let raw = img.as_raw();
    let stride = img.width() as usize * 3;
    let mut small = RgbImage::new(cols, rows);
    // Rows first: summing k whole rows is a plain element-wise add the compiler vectorises
    // (u16 holds k <= 32 bytes of 255); then k columns per block, once per reduced row.
    let mut columns = vec![0u16; width as usize * 3];
    for sy in 0..rows {
        columns.fill(0);
        let ylo = sy * k;
        let yhi = (ylo + k).min(height);
        for y in ylo..yhi {
            let start = (y0 + y) as usize * stride + x0 as usize * 3;
            let line = &raw[start..start + width as usize * 3];
            for (c, &v) in columns.iter_mut().zip(line) {
                *c += u16::from(v);
            }
        }
        let out_row = &mut small.as_mut()[sy as usize * cols as usize * 3..][..cols as usize * 3];
        for (o, block) in out_row
            .chunks_exact_mut(3)
            .zip(columns.chunks(k as usize * 3))
        {
            let mut a = [0u32; 3];
            for p in block.chunks_exact(3) {
                a[0] += u32::from(p[0]);
                a[1] += u32::from(p[1]);
                a[2] += u32::from(p[2]);
            }
            let n = (block.len() / 3) as u32 * (yhi - ylo);
            for c in 0..3 {
                o[c] = ((a[c] + n / 2) / n) as u8;
            }
        }
    }
    small
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
    /// `ratio` = source samples per destination sample (the centre of destination sample `x`
    /// is source position `(x + 0.5) * ratio`).
    fn with_ratio(src: usize, dst: usize, ratio: f32) -> Taps {
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

    /// A photo-like test card: smooth gradients with fine stripes and a sharp-edged block.
    fn card(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let stripes = if (x / 3 + y / 5) % 2 == 0 { 40 } else { 0 };
            let block = if (w / 3..w / 2).contains(&x) && (h / 4..h / 2).contains(&y) {
                90
            } else {
                0
            };
            image::Rgb([
                ((x * 200 / w) + stripes) as u8,
                ((y * 160 / h) + block) as u8,
                (((x + y) * 120 / (w + h)) + stripes / 2 + block / 2) as u8,
            ])
        })
    }

    #[test]
    fn box_reduced_letterbox_matches_direct_filtering() {
        // 910x1137 is a phone photo's shape: a 4x box step, then a 1.1x triangle filter.
        for (w, h, tw, th) in [
            (910, 1137, 256, 320),
            (1281, 719, 320, 256),
            (700, 500, 320, 256),
        ] {
            let img = card(w, h);
            let fast = letterbox(&img, tw, th, Layout::Nchw, &Normalize::RAW_RGB);
            let direct = letterbox_reducing(&img, tw, th, Layout::Nchw, &Normalize::RAW_RGB, 1);
            assert_eq!(fast.scale, direct.scale);
            let diffs: Vec<f32> = fast
                .data
                .iter()
                .zip(&direct.data)
                .map(|(a, b)| (a - b).abs())
                .collect();
            let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
            let max = diffs.iter().cloned().fold(0.0, f32::max);
            // Both are antialiased shrinks of the same picture; the box step's footprint
            // differs slightly from the triangle's, mostly on the stripes and the block edges.
            assert!(mean < 1.0, "{w}x{h}: mean |diff| {mean}");
            assert!(max < 16.0, "{w}x{h}: max |diff| {max}");
        }
    }

    #[test]
    fn box_reduce_averages_partial_edge_blocks() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([(x * 10) as u8, (y * 10) as u8, 7]));
        let small = box_reduce(&img, [0, 0, 5, 3], 2);
        assert_eq!(small.dimensions(), (3, 2));
        // Block (0,0): x 0..2, y 0..2 -> R mean 5, G mean 5.
        assert_eq!(small.get_pixel(0, 0).0, [5, 5, 7]);
        // Block (2,1): x 4 only, y 2 only.
        assert_eq!(small.get_pixel(2, 1).0, [40, 20, 7]);
        // A region inside the image.
        let inner = box_reduce(&img, [1, 1, 4, 2], 2);
        assert_eq!(inner.dimensions(), (2, 1));
        assert_eq!(inner.get_pixel(1, 0).0, [35, 15, 7]);
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
