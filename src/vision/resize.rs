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

/// Writes `row` (already resampled RGB, 0..255) as the first `row.len()` pixels of tensor row
/// `y`, normalised and in `layout`. Whole rows, so the layout and channel order are settled once
/// per row rather than once per value.
#[inline(always)]
pub(crate) fn put_row(
    out: &mut [f32],
    layout: Layout,
    norm: &Normalize,
    width: usize,
    height: usize,
    y: usize,
    row: &[[f32; 3]],
) {
    for c in 0..3 {
        let oc = if norm.bgr { 2 - c } else { c };
        let (mean, scale) = (norm.mean[oc], norm.scale[oc]);
        match layout {
            Layout::Nchw => {
                let start = (oc * height + y) * width;
                for (o, px) in out[start..start + row.len()].iter_mut().zip(row) {
                    *o = (px[c] - mean) * scale;
                }
            }
            Layout::Nhwc => {
                let start = y * width * 3;
                for (o, px) in out[start..start + row.len() * 3]
                    .chunks_exact_mut(3)
                    .zip(row)
                {
                    o[oc] = (px[c] - mean) * scale;
                }
            }
        }
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

/// What [`letterbox_reducing`] filters: the image box-reduced by an integer factor (when that
/// factor is 2 or more) and the taps that take it to the `rw` x `rh` output.
struct LetterboxPlan {
    reduced: Option<RgbImage>,
    hx: Taps,
    vy: Taps,
    rw: usize,
    rh: usize,
}

impl LetterboxPlan {
    /// The scale (tensor pixels per image pixel) and the plan; no plan for an empty image,
    /// whose tensor stays all padding.
    fn new(
        img: &RgbImage,
        width: usize,
        height: usize,
        max_k: u32,
    ) -> (f32, Option<LetterboxPlan>) {
        let (sw, sh) = (img.width() as usize, img.height() as usize);
        let scale = (width as f32 / sw as f32).min(height as f32 / sh as f32);
        if sw == 0 || sh == 0 {
            return (scale, None);
        }
        let rw = ((sw as f32 * scale).round() as usize).clamp(1, width);
        let rh = ((sh as f32 * scale).round() as usize).clamp(1, height);
        // A shrink of 2x or more is first box-averaged by its integer factor `k` (every source
        // pixel read once, in integers); the triangle filter then does the remaining shrink
        // below 2x with a few taps. Filtering the full image directly cost ~10 taps per pixel
        // and channel in float: 11 ms for a phone photo, more than the detector's own
        // convolutions at 320x256.
        let k = ((sw as f32 / rw as f32).min(sh as f32 / rh as f32).floor() as u32)
            .clamp(1, max_k.max(1));
        let (reduced, kf) = if k >= 2 {
            (
                Some(box_reduce(img, [0, 0, img.width(), img.height()], k)),
                k as f32,
            )
        } else {
            (None, 1.0)
        };
        let (fw, fh) = reduced
            .as_ref()
            .map_or((sw, sh), |r| (r.width() as usize, r.height() as usize));
        // Source samples per output sample in (reduced) pixel units, from the original sizes: a
        // partial last block makes the reduced image up to one pixel wider than `sw / k`.
        let hx = Taps::with_ratio(fw, rw, sw as f32 / (rw as f32 * kf));
        let vy = Taps::with_ratio(fh, rh, sh as f32 / (rh as f32 * kf));
        let plan = LetterboxPlan {
            reduced,
            hx,
            vy,
            rw,
            rh,
        };
        (scale, Some(plan))
    }
}

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
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { letterbox_avx2(img, width, height, layout, norm, max_k) };
    }
    letterbox_with(img, width, height, layout, norm, max_k)
}

/// [`letterbox_reducing`] compiled for AVX2: its row passes take 8 floats a step instead of
/// SSE2's 4, with the same operations in the same order (no fused multiply-adds), so the same
/// values. The detector's preprocessing of obama.jpg (`vision/t1/detect_preprocess`, box
/// reduction included) went from 0.757 to 0.658 ms.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn letterbox_avx2(
    img: &RgbImage,
    width: usize,
    height: usize,
    layout: Layout,
    norm: &Normalize,
    max_k: u32,
) -> Letterboxed {
    letterbox_with(img, width, height, layout, norm, max_k)
}

/// The body of [`letterbox_reducing`], inlined into each compiled form.
#[inline(always)]
fn letterbox_with(
    img: &RgbImage,
    width: usize,
    height: usize,
    layout: Layout,
    norm: &Normalize,
    max_k: u32,
) -> Letterboxed {
    let mut data = padded_tensor(width, height, layout, norm);
    let (scale, plan) = LetterboxPlan::new(img, width, height, max_k);
    let Some(LetterboxPlan {
        reduced,
        hx,
        vy,
        rw,
        rh,
    }) = plan
    else {
        return Letterboxed { data, scale };
    };
    let img = reduced.as_ref().unwrap_or(img);
    let (sw, src) = (img.width() as usize, img.as_raw());
    // Vertical pass first, over whole rows (a vectorised multiply-add of u8 rows into one f32
    // row), then the horizontal taps on that single row: the scalar part runs once per output
    // row instead of once per source row read.
    let mut vrow = vec![0.0f32; sw * 3];
    let mut out_row = vec![[0.0f32; 3]; rw];
    for y in 0..rh {
        let (start, w) = vy.get(y);
        vrow.fill(0.0);
        for (k, &wk) in w.iter().enumerate() {
            let line = &src[(start + k) * sw * 3..(start + k + 1) * sw * 3];
            for (a, &v) in vrow.iter_mut().zip(line) {
                *a += wk * f32::from(v);
            }
        }
        for (x, px) in out_row.iter_mut().enumerate() {
            let (start, w) = hx.get(x);
            let taps = &vrow[start * 3..(start + w.len()) * 3];
            let mut acc = [0.0f32; 3];
            for (p, &wk) in taps.chunks_exact(3).zip(w) {
                acc[0] += wk * p[0];
                acc[1] += wk * p[1];
                acc[2] += wk * p[2];
            }
            *px = acc;
        }
        put_row(&mut data, layout, norm, width, height, y, &out_row);
    }
    Letterboxed { data, scale }
}

/// Box-averages the `[x0, y0, width, height]` region of `img` by `k` in both directions: reduced
/// pixel `(i, j)` is the rounded mean of region pixels `x0 + i*k .. x0 + (i+1)*k` (likewise in
/// y). A partial block at the right or bottom edge averages the pixels it has. The region must
/// lie inside the image; `k` is capped at 32.
pub(crate) fn box_reduce(img: &RgbImage, region: [u32; 4], k: u32) -> RgbImage {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { box_reduce_avx2(img, region, k) };
    }
    box_reduce_with(img, region, k)
}

/// [`box_reduce`] compiled for AVX2: its row sums take 32 bytes a step instead of SSE2's 16.
/// On obama.jpg (910x1137, blocks of 3) a call took 0.31 ms instead of 0.40, whether the image
/// was in cache or not: the reduction is bound by its arithmetic, not by reading the image.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn box_reduce_avx2(img: &RgbImage, region: [u32; 4], k: u32) -> RgbImage {
    box_reduce_with(img, region, k)
}

/// The body of [`box_reduce`], inlined into each compiled form.
#[inline(always)]
fn box_reduce_with(img: &RgbImage, region: [u32; 4], k: u32) -> RgbImage {
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
        let rows_in_block = yhi - ylo;
        match k {
            2 => block_means::<2>(&columns, out_row, rows_in_block),
            3 => block_means::<3>(&columns, out_row, rows_in_block),
            4 => block_means::<4>(&columns, out_row, rows_in_block),
            _ => block_means_any(&columns, out_row, k as usize, rows_in_block),
        }
    }
    small
}

/// Rounded `sum / n` for `sum <= 255 * n` and `n <= 1024`, by one multiply: integer division
/// per channel was most of [`box_reduce`]'s time.
#[derive(Clone, Copy)]
struct RoundedMean {
    half: u32,
    /// `ceil(2^40 / n)`: the product's error stays below `sum / 2^40 < 1 / n`, so the floor is
    /// exact for every sum in range.
    magic: u64,
}

impl RoundedMean {
    fn new(n: u32) -> RoundedMean {
        let n = n.max(1);
        RoundedMean {
            half: n / 2,
            magic: (1u64 << 40).div_ceil(u64::from(n)),
        }
    }

    #[inline(always)]
    fn of(self, sum: u32) -> u8 {
        ((u64::from(sum + self.half) * self.magic) >> 40) as u8
    }
}

/// One reduced row of [`box_reduce`] with the block width `K` known at compile time, so the
/// per-block sums unroll.
#[inline(always)]
fn block_means<const K: usize>(columns: &[u16], out_row: &mut [u8], rows: u32) {
    let full = RoundedMean::new(K as u32 * rows);
    let blocks = columns.chunks_exact(K * 3);
    let tail = blocks.remainder();
    let (out_full, out_tail) = out_row.split_at_mut(columns.len() / (K * 3) * 3);
    for (o, block) in out_full.chunks_exact_mut(3).zip(blocks) {
        let mut a = [0u32; 3];
        for p in block.chunks_exact(3) {
            a[0] += u32::from(p[0]);
            a[1] += u32::from(p[1]);
            a[2] += u32::from(p[2]);
        }
        o[0] = full.of(a[0]);
        o[1] = full.of(a[1]);
        o[2] = full.of(a[2]);
    }
    if !tail.is_empty() {
        block_means_any(tail, out_tail, K, rows);
    }
}

/// [`block_means`] for any block width; the last block may be partial.
#[inline(always)]
fn block_means_any(columns: &[u16], out_row: &mut [u8], k: usize, rows: u32) {
    for (o, block) in out_row.chunks_exact_mut(3).zip(columns.chunks(k * 3)) {
        let mut a = [0u32; 3];
        for p in block.chunks_exact(3) {
            a[0] += u32::from(p[0]);
            a[1] += u32::from(p[1]);
            a[2] += u32::from(p[2]);
        }
        let mean = RoundedMean::new((block.len() / 3) as u32 * rows);
        for c in 0..3 {
            o[c] = mean.of(a[c]);
        }
    }
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
            // The triangle's ends weigh zero: drop them so no pass multiplies by them.
            let first = w.iter().position(|&v| v != 0.0).unwrap_or(0);
            let last = w.iter().rposition(|&v| v != 0.0).unwrap_or(0);
            w.copy_within(first..=last, 0);
            taps.starts.push(lo + first);
            taps.lens.push(last + 1 - first);
        }
        taps
    }

    fn get(&self, i: usize) -> (usize, &[f32]) {
        let s = i * self.stride;
        (self.starts[i], &self.weights[s..s + self.lens[i]])
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

    /// The AVX2 builds of the box reduction and the letterbox give the portable build's
    /// values exactly (same operations, no fused multiply-adds).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_builds_give_the_same_values() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for (w, h, tw, th) in [
            (910, 1137, 256, 320),
            (1281, 719, 320, 256),
            (97, 61, 40, 32),
        ] {
            let img = card(w, h);
            for k in [2, 3, 5] {
                let region = [1, 2, w - 3, h - 5];
                // SAFETY: the CPU has AVX2 (checked above).
                let fast = unsafe { box_reduce_avx2(&img, region, k) };
                assert!(fast == box_reduce_with(&img, region, k), "{w}x{h} by {k}");
            }
            let norm = Normalize::RAW_RGB;
            for max_k in [1, MAX_BOX_FACTOR] {
                // SAFETY: as above.
                let fast = unsafe { letterbox_avx2(&img, tw, th, Layout::Nchw, &norm, max_k) };
                let portable = letterbox_with(&img, tw, th, Layout::Nchw, &norm, max_k);
                assert_eq!(fast.scale.to_bits(), portable.scale.to_bits());
                let same = fast
                    .data
                    .iter()
                    .zip(&portable.data)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same && fast.data.len() == portable.data.len(),
                    "{w}x{h}, k <= {max_k}"
                );
            }
        }
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
    fn letterbox_is_the_two_dimensional_filter_of_its_plan() {
        // The separable passes (vertical first, taps trimmed, rows written per layout) must
        // give what the plan's 2-D filter gives when summed directly, value by value.
        let norm = Normalize {
            mean: [10.0, 20.0, 30.0],
            scale: [0.5, 0.25, 2.0],
            bgr: true,
        };
        for (w, h, tw, th) in [
            (910, 1137, 256, 320),
            (700, 500, 320, 256),
            (37, 20, 32, 32),
        ] {
            let img = card(w, h);
            let (_, plan) = LetterboxPlan::new(&img, tw, th, MAX_BOX_FACTOR);
            let plan = plan.expect("plan");
            let src = plan.reduced.as_ref().unwrap_or(&img);
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let lb = letterbox(&img, tw, th, layout, &norm);
                let mut worst = 0.0f64;
                for y in 0..th {
                    for x in 0..tw {
                        let mut rgb = [0.0f64; 3];
                        if x < plan.rw && y < plan.rh {
                            let (sy, wy) = plan.vy.get(y);
                            let (sx, wx) = plan.hx.get(x);
                            for (j, &a) in wy.iter().enumerate() {
                                for (i, &b) in wx.iter().enumerate() {
                                    let p = src.get_pixel((sx + i) as u32, (sy + j) as u32).0;
                                    for c in 0..3 {
                                        rgb[c] += f64::from(a) * f64::from(b) * f64::from(p[c]);
                                    }
                                }
                            }
                        }
                        for (c, v) in rgb.iter().enumerate() {
                            let oc = 2 - c;
                            let want = (v - f64::from(norm.mean[oc])) * f64::from(norm.scale[oc]);
                            let idx = match layout {
                                Layout::Nchw => (oc * th + y) * tw + x,
                                Layout::Nhwc => (y * tw + x) * 3 + oc,
                            };
                            worst = worst.max((f64::from(lb.data[idx]) - want).abs());
                        }
                    }
                }
                assert!(worst < 1e-3, "{w}x{h} {layout:?}: off by {worst}");
            }
        }
    }

    #[test]
    fn rounded_mean_equals_rounded_integer_division() {
        let check = |n: u32, sum: u32| {
            assert_eq!(
                u32::from(RoundedMean::new(n).of(sum)),
                (sum + n / 2) / n,
                "{sum} / {n}"
            );
        };
        for n in 1..=64 {
            (0..=255 * n).for_each(|sum| check(n, sum));
        }
        // Larger blocks: every quotient, at the sums where rounding changes.
        for n in 65..=1024 {
            for q in 0..=255u32 {
                for sum in [q * n, q * n + n / 2 - 1, q * n + n / 2, q * n + n - 1] {
                    if sum <= 255 * n {
                        check(n, sum);
                    }
                }
            }
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
