//! Similarity transforms and warping a face region into a model's input tensor: the alignment
//! step that puts eyes, nose and mouth where the embedder was trained to see them.

use image::RgbImage;

use super::resize::{box_reduce, padded_tensor, put_row, Layout, Normalize};

/// 2-D affine map `(x, y) -> (a*x + b*y + c, d*x + e*y + f)`, stored as `[a, b, c, d, e, f]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [f32; 6]);

impl Affine {
    /// Applies the map to a point.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        let m = &self.0;
        [
            m[0] * p[0] + m[1] * p[1] + m[2],
            m[3] * p[0] + m[4] * p[1] + m[5],
        ]
    }

    /// Inverse map; `None` when the map is degenerate.
    pub fn inverse(&self) -> Option<Affine> {
        let [a, b, c, d, e, f] = self.0;
        let det = a * e - b * d;
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        Some(Affine([
            ia,
            ib,
            -(ia * c + ib * f),
            id,
            ie,
            -(id * c + ie * f),
        ]))
    }

    /// Linear scale factor (for a similarity: the zoom).
    pub fn scale(&self) -> f32 {
        let [a, b, _, d, e, _] = self.0;
        (a * e - b * d).abs().sqrt()
    }

    /// Similarity map scaling by `s` and rotating by `angle` (radians, counter-clockwise in image
    /// coordinates with y down shown as clockwise) about `centre`, which lands on `target`.
    pub fn rotate_scale(centre: [f32; 2], angle: f32, s: f32, target: [f32; 2]) -> Affine {
        let (sin, cos) = angle.sin_cos();
        let (a, b) = (s * cos, -s * sin);
        let (d, e) = (s * sin, s * cos);
        Affine([
            a,
            b,
            target[0] - (a * centre[0] + b * centre[1]),
            d,
            e,
            target[1] - (d * centre[0] + e * centre[1]),
        ])
    }
}

/// Least-squares similarity transform (rotation, uniform scale, translation; no reflection)
/// taking the points `src` onto `dst` - Umeyama's method, closed form in 2-D. `None` when the
/// source points coincide.
pub fn similarity(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Affine> {
    let n = src.len().min(dst.len());
    if n < 2 {
        return None;
    }
    let nf = n as f32;
    let ms = src[..n]
        .iter()
        .fold([0.0, 0.0], |a, p| [a[0] + p[0] / nf, a[1] + p[1] / nf]);
    let md = dst[..n]
        .iter()
        .fold([0.0, 0.0], |a, p| [a[0] + p[0] / nf, a[1] + p[1] / nf]);
    let (mut sxx, mut num_a, mut num_b) = (0.0f32, 0.0f32, 0.0f32);
    for (s, d) in src[..n].iter().zip(&dst[..n]) {
        let (sx, sy) = (s[0] - ms[0], s[1] - ms[1]);
        let (dx, dy) = (d[0] - md[0], d[1] - md[1]);
        sxx += sx * sx + sy * sy;
        num_a += sx * dx + sy * dy;
        num_b += sx * dy - sy * dx;
    }
    if sxx < 1e-9 || !sxx.is_finite() {
        return None;
    }
    let (a, b) = (num_a / sxx, num_b / sxx);
    Some(Affine([
        a,
        -b,
        md[0] - (a * ms[0] - b * ms[1]),
        b,
        a,
        md[1] - (b * ms[0] + a * ms[1]),
    ]))
}

/// Warps the image through `to_chip` (image -> chip coordinates) into a `width` x `height`
/// tensor: bilinear sampling, black outside the image, and antialiased when the chip shrinks the
/// image. A shrink of `k` >= 2 first box-averages the covered region by the integer factor `k`
/// (each source pixel read once); the remaining shrink below 2 is handled by averaging `n x n`
/// bilinear samples per chip pixel over its footprint. Supersampling the whole shrink instead
/// cost up to 64 samples per pixel: 8 ms for a 150x150 chip of a phone photo.
pub fn warp_to_tensor(
    img: &RgbImage,
    to_chip: &Affine,
    width: usize,
    height: usize,
    layout: Layout,
    norm: &Normalize,
) -> Option<Vec<f32>> {
    let inv = to_chip.inverse()?;
    let shrink = 1.0 / to_chip.scale();
    if shrink.is_finite() && shrink >= 2.0 {
        let k = (shrink.floor() as u32).min(32);
        if let Some((small, from_img)) = box_reduce_region(img, &inv, width, height, k) {
            let to_small = Affine(compose(&from_img.0, &inv.0));
            return Some(sample(
                &small,
                &to_small,
                shrink / k as f32,
                width,
                height,
                layout,
                norm,
            ));
        }
    }
    Some(sample(img, &inv, shrink, width, height, layout, norm))
}

/// The chip: for each chip pixel, `inv` gives its position in `img`; `shrink` (source pixels per
/// chip pixel) decides the supersampling.
fn sample(
    img: &RgbImage,
    inv: &Affine,
    shrink: f32,
    width: usize,
    height: usize,
    layout: Layout,
    norm: &Normalize,
) -> Vec<f32> {
    sample_with(img, inv, shrink, (width, height), layout, norm, true)
}

/// [`sample`], with or without the vectorised path (`vectorise`), which must give the same
/// values.
fn sample_with(
    img: &RgbImage,
    inv: &Affine,
    shrink: f32,
    (width, height): (usize, usize),
    layout: Layout,
    norm: &Normalize,
    vectorise: bool,
) -> Vec<f32> {
    let mut out = padded_tensor(width, height, layout, norm);
    let n = if shrink > 1.5 {
        (shrink.ceil() as usize).min(8)
    } else {
        1
    };
    let offsets: Vec<f32> = (0..n).map(|i| (i as f32 + 0.5) / n as f32 - 0.5).collect();
    let weight = 1.0 / (n * n) as f32;
    let [a, b, c, d, e, f] = inv.0;
    // Where each of the n x n sub-samples lies relative to the chip pixel's own image position.
    let subs: Vec<[f32; 2]> = offsets
        .iter()
        .flat_map(|&ov| {
            offsets
                .iter()
                .map(move |&ou| [a * ou + b * ov, d * ou + e * ov])
        })
        .collect();
    let mut row = vec![[0.0f32; 3]; width];
    let pixel = |u: usize, vf: f32| {
        let uf = u as f32;
        let (x, y) = (a * uf + b * vf + c, d * uf + e * vf + f);
        let mut acc = [0.0f32; 3];
        for &[dx, dy] in &subs {
            let s = bilinear(img, x + dx, y + dy);
            acc[0] += s[0];
            acc[1] += s[1];
            acc[2] += s[2];
        }
        if n > 1 {
            acc.iter_mut().for_each(|v| *v *= weight);
        }
        acc
    };
    for v in 0..height {
        let vf = v as f32;
        let done = if vectorise {
            vectorised_row(img, &inv.0, &subs, weight, vf, &mut row, &pixel)
        } else {
            0
        };
        for (i, px) in row[done..].iter_mut().enumerate() {
            *px = pixel(done + i, vf);
        }
        put_row(&mut out, layout, norm, width, height, v, &row);
    }
    out
}

/// Fills the first pixels of `row` (chip row `vf`) 16 at a time where the CPU has AVX-512,
/// through `pixel` where a run leaves the image; returns how many it filled.
#[cfg(target_arch = "x86_64")]
fn vectorised_row(
    img: &RgbImage,
    inv: &[f32; 6],
    subs: &[[f32; 2]],
    weight: f32,
    vf: f32,
    row: &mut [[f32; 3]],
    pixel: &dyn Fn(usize, f32) -> [f32; 3],
) -> usize {
    if !avx512::available(img) {
        return 0;
    }
    let mut u = 0;
    while u + 16 <= row.len() {
        let run = &mut row[u..u + 16];
        // SAFETY: `available` holds for `img`, and `run` holds 16 pixels.
        if !unsafe { avx512::pixels(img, inv, subs, weight, u, vf, run) } {
            for (i, px) in run.iter_mut().enumerate() {
                *px = pixel(u + i, vf);
            }
        }
        u += 16;
    }
    u
}

/// Elsewhere every pixel goes through `pixel`.
#[cfg(not(target_arch = "x86_64"))]
fn vectorised_row(
    _img: &RgbImage,
    _inv: &[f32; 6],
    _subs: &[[f32; 2]],
    _weight: f32,
    _vf: f32,
    _row: &mut [[f32; 3]],
    _pixel: &dyn Fn(usize, f32) -> [f32; 3],
) -> usize {
    0
}

/// [`sample`] 16 chip pixels at a time with gathers, for runs whose every bilinear tap lies
/// inside the image (the rest go through [`bilinear`]). The arithmetic is [`bilinear`]'s fast
/// path and [`sample`]'s, operation for operation, so the values are the same bits: the scalar
/// loop spent 26 ns per pixel on a FaceMesh crop, 60% of it.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use image::RgbImage;

    /// Whether the gathers may be used on `img`: AVX-512F, and byte offsets within `i32`.
    pub(super) fn available(img: &RgbImage) -> bool {
        std::arch::is_x86_feature_detected!("avx512f") && img.as_raw().len() < i32::MAX as usize
    }

    /// Chip pixels `u0 .. u0 + 16` of the row at `vf` into `out`; false (with `out` unspecified)
    /// when some tap is not inside the image.
    ///
    /// # Safety
    /// [`available`] must hold for `img`; `out` holds 16 pixels.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pixels(
        img: &RgbImage,
        inv: &[f32; 6],
        subs: &[[f32; 2]],
        weight: f32,
        u0: usize,
        vf: f32,
        out: &mut [[f32; 3]],
    ) -> bool {
        let [a, b, c, d, e, f] = [0, 1, 2, 3, 4, 5].map(|i| _mm512_set1_ps(inv[i]));
        let uf = _mm512_add_ps(
            _mm512_set1_ps(u0 as f32),
            _mm512_setr_ps(
                0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0,
                15.0,
            ),
        );
        let vf = _mm512_set1_ps(vf);
        // `a * uf + b * vf + c`, evaluated left to right as in `sample`.
        let x = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(a, uf), _mm512_mul_ps(b, vf)), c);
        let y = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(d, uf), _mm512_mul_ps(e, vf)), f);
        let mut acc = [_mm512_setzero_ps(); 3];
        for &[dx, dy] in subs {
            let Some(s) = tap(
                img,
                _mm512_add_ps(x, _mm512_set1_ps(dx)),
                _mm512_add_ps(y, _mm512_set1_ps(dy)),
            ) else {
                return false;
            };
            for (acc, s) in acc.iter_mut().zip(s) {
                *acc = _mm512_add_ps(*acc, s);
            }
        }
        if subs.len() > 1 {
            let w = _mm512_set1_ps(weight);
            acc = acc.map(|v| _mm512_mul_ps(v, w));
        }
        let mut lanes = [[0.0f32; 16]; 3];
        for (l, v) in lanes.iter_mut().zip(acc) {
            _mm512_storeu_ps(l.as_mut_ptr(), v);
        }
        for (i, px) in out.iter_mut().enumerate().take(16) {
            *px = [lanes[0][i], lanes[1][i], lanes[2][i]];
        }
        true
    }

    /// [`super::bilinear`] at 16 points, when all four taps of every point are inside `img`.
    #[inline(always)]
    unsafe fn tap(img: &RgbImage, x: __m512, y: __m512) -> Option<[__m512; 3]> {
        let (w, h) = (img.width() as i32, img.height() as i32);
        let one = _mm512_set1_ps(1.0);
        // Truncating `v + 1` floors `v` for `v > -1`, as in `bilinear`.
        let x0 = _mm512_sub_epi32(
            _mm512_cvttps_epi32(_mm512_add_ps(x, one)),
            _mm512_set1_epi32(1),
        );
        let y0 = _mm512_sub_epi32(
            _mm512_cvttps_epi32(_mm512_add_ps(y, one)),
            _mm512_set1_epi32(1),
        );
        let minus_one = _mm512_set1_ps(-1.0);
        let inside = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, minus_one)
            & _mm512_cmp_ps_mask::<_CMP_GT_OQ>(y, minus_one)
            & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_set1_ps(w as f32))
            & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(y, _mm512_set1_ps(h as f32))
            & _mm512_cmpge_epi32_mask(x0, _mm512_setzero_si512())
            & _mm512_cmpge_epi32_mask(y0, _mm512_setzero_si512())
            & _mm512_cmplt_epi32_mask(x0, _mm512_set1_epi32(w - 1))
            & _mm512_cmplt_epi32_mask(y0, _mm512_set1_epi32(h - 1));
        if inside != u16::MAX {
            return None;
        }
        let fx = _mm512_sub_ps(x, _mm512_cvtepi32_ps(x0));
        let fy = _mm512_sub_ps(y, _mm512_cvtepi32_ps(y0));
        let (gx, gy) = (_mm512_sub_ps(one, fx), _mm512_sub_ps(one, fy));
        let weights = [
            _mm512_mul_ps(gx, gy),
            _mm512_mul_ps(fx, gy),
            _mm512_mul_ps(gx, fy),
            _mm512_mul_ps(fx, fy),
        ];
        // Byte offsets of the top-left tap; the right taps are read from one byte before them
        // (and shifted) so that no 4-byte read passes the pixel's last byte.
        let three = _mm512_set1_epi32(3);
        let p = _mm512_mullo_epi32(
            _mm512_add_epi32(_mm512_mullo_epi32(y0, _mm512_set1_epi32(w)), x0),
            three,
        );
        let q = _mm512_add_epi32(p, _mm512_set1_epi32(3 * w));
        let base = img.as_raw().as_ptr();
        let two = _mm512_set1_epi32(2);
        let words = [
            _mm512_i32gather_epi32::<1>(p, base as *const i32),
            _mm512_srli_epi32::<8>(_mm512_i32gather_epi32::<1>(
                _mm512_add_epi32(p, two),
                base as *const i32,
            )),
            _mm512_i32gather_epi32::<1>(q, base as *const i32),
            _mm512_srli_epi32::<8>(_mm512_i32gather_epi32::<1>(
                _mm512_add_epi32(q, two),
                base as *const i32,
            )),
        ];
        let byte = _mm512_set1_epi32(0xff);
        let channel = |word: __m512i, c: u32| {
            let shifted = _mm512_srlv_epi32(word, _mm512_set1_epi32(8 * c as i32));
            _mm512_cvtepi32_ps(_mm512_and_si512(shifted, byte))
        };
        let mut out = [_mm512_setzero_ps(); 3];
        for (c, o) in out.iter_mut().enumerate() {
            // `w00 * tl + w01 * tr + w10 * bl + w11 * br`, left to right.
            let mut sum = _mm512_mul_ps(weights[0], channel(words[0], c as u32));
            for k in 1..4 {
                sum = _mm512_add_ps(sum, _mm512_mul_ps(weights[k], channel(words[k], c as u32)));
            }
            *o = sum;
        }
        Some(out)
    }
}

/// `outer ∘ inner` for maps stored as `[a, b, c, d, e, f]`.
fn compose(outer: &[f32; 6], inner: &[f32; 6]) -> [f32; 6] {
    let [a, b, c, d, e, f] = *outer;
    let [p, q, r, s, t, u] = *inner;
    [
        a * p + b * s,
        a * q + b * t,
        a * r + b * u + c,
        d * p + e * s,
        d * q + e * t,
        d * r + e * u + f,
    ]
}

/// Box-averages by `k` the part of `img` that the chip (`inv`: chip -> image) covers, with a
/// margin for the bilinear taps. Returns the reduced image and the map from image pixel
/// coordinates to reduced pixel coordinates (pixel centres stay centres); `None` when the chip
/// falls outside the image or the region is smaller than one reduced pixel.
fn box_reduce_region(
    img: &RgbImage,
    inv: &Affine,
    width: usize,
    height: usize,
    k: u32,
) -> Option<(RgbImage, Affine)> {
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    let corners = [
        [-1.0, -1.0],
        [width as f32, -1.0],
        [-1.0, height as f32],
        [width as f32, height as f32],
    ]
    .map(|p| inv.apply(p));
    let margin = 2.0 * k as f32;
    let lo = |i: usize| corners.iter().map(|p| p[i]).fold(f32::INFINITY, f32::min) - margin;
    let hi = |i: usize| {
        corners
            .iter()
            .map(|p| p[i])
            .fold(f32::NEG_INFINITY, f32::max)
            + margin
    };
    let x0 = lo(0).max(0.0).floor();
    let y0 = lo(1).max(0.0).floor();
    let x1 = hi(0).min(iw).ceil();
    let y1 = hi(1).min(ih).ceil();
    if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
        return None;
    }
    let (x0, y0) = (x0 as u32, y0 as u32);
    let sw = (x1 as u32).saturating_sub(x0) / k;
    let sh = (y1 as u32).saturating_sub(y0) / k;
    if sw == 0 || sh == 0 {
        return None;
    }
    let small = box_reduce(img, [x0, y0, sw * k, sh * k], k);
    // Reduced pixel i covers image pixels x0 + i*k .. x0 + (i+1)*k - 1, centred at
    // x0 + i*k + (k-1)/2: image x -> (x - x0 - (k-1)/2) / k.
    let kf = k as f32;
    let off = (kf - 1.0) / 2.0;
    let from_img = Affine([
        1.0 / kf,
        0.0,
        -(x0 as f32 + off) / kf,
        0.0,
        1.0 / kf,
        -(y0 as f32 + off) / kf,
    ]);
    Some((small, from_img))
}

/// Bilinear RGB sample at `(x, y)` (pixel-index coordinates); pixels outside the image are black.
#[inline]
pub fn bilinear(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    if !(x > -1.0 && y > -1.0 && x < w as f32 && y < h as f32) {
        return [0.0; 3];
    }
    // Both are above -1, so truncating `v + 1` floors `v`: `f32::floor` is a libm call on
    // baseline x86_64 and was a tenth of the warp's time.
    let (x0, y0) = ((x + 1.0) as i64 - 1, (y + 1.0) as i64 - 1);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let raw = img.as_raw();
    if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
        // All four taps inside: the common case, without per-tap checks.
        let p = ((y0 * w + x0) * 3) as usize;
        let q = p + (w * 3) as usize;
        let (top, bottom) = (&raw[p..p + 6], &raw[q..q + 6]);
        let (w00, w01) = ((1.0 - fx) * (1.0 - fy), fx * (1.0 - fy));
        let (w10, w11) = ((1.0 - fx) * fy, fx * fy);
        let mut acc = [0.0f32; 3];
        for (c, a) in acc.iter_mut().enumerate() {
            *a = w00 * f32::from(top[c])
                + w01 * f32::from(top[c + 3])
                + w10 * f32::from(bottom[c])
                + w11 * f32::from(bottom[c + 3]);
        }
        return acc;
    }
    let mut acc = [0.0f32; 3];
    for (dy, wy) in [(0i64, 1.0 - fy), (1, fy)] {
        let yy = y0 + dy;
        if wy == 0.0 || yy < 0 || yy >= h {
            continue;
        }
        for (dx, wx) in [(0i64, 1.0 - fx), (1, fx)] {
            let xx = x0 + dx;
            if wx == 0.0 || xx < 0 || xx >= w {
                continue;
            }
            let p = ((yy * w + xx) * 3) as usize;
            let wgt = wx * wy;
            acc[0] += wgt * f32::from(raw[p]);
            acc[1] += wgt * f32::from(raw[p + 1]);
            acc[2] += wgt * f32::from(raw[p + 2]);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let t = Affine::rotate_scale([10.0, 20.0], 0.3, 1.7, [50.0, 40.0]);
        let src = [
            [1.0, 2.0],
            [30.0, 5.0],
            [12.0, 40.0],
            [7.0, 9.0],
            [25.0, 33.0],
        ];
        let dst: Vec<[f32; 2]> = src.iter().map(|&p| t.apply(p)).collect();
        let est = similarity(&src, &dst).expect("fit");
        for (a, b) in est.0.iter().zip(t.0.iter()) {
            assert!((a - b).abs() < 1e-3, "{:?} vs {:?}", est, t);
        }
        let back = est.inverse().expect("inverse").apply(dst[1]);
        assert!((back[0] - 30.0).abs() < 1e-3 && (back[1] - 5.0).abs() < 1e-3);
    }

    #[test]
    fn degenerate_points_give_none() {
        assert!(similarity(&[[1.0, 1.0]; 5], &[[0.0, 0.0]; 5]).is_none());
    }

    #[test]
    fn a_strong_shrink_matches_dense_supersampling() {
        // Smooth gradients with fine stripes, shrunk 7.3x and rotated: the box-reduced warp must
        // agree with 12x12 bilinear supersampling of the original (the two filters differ a
        // little on the stripes, not in geometry).
        let img = RgbImage::from_fn(900, 700, |x, y| {
            let stripe = if (x / 3 + y / 5) % 2 == 0 { 40 } else { 0 };
            image::Rgb([
                (x * 200 / 900 + stripe) as u8,
                (y * 200 / 700) as u8,
                ((x + y) * 100 / 1600) as u8,
            ])
        });
        let to_chip = Affine::rotate_scale([450.0, 350.0], 0.2, 1.0 / 7.3, [40.0, 40.0]);
        let fast = warp_to_tensor(&img, &to_chip, 80, 80, Layout::Nhwc, &Normalize::RAW_RGB)
            .expect("warp");
        let inv = to_chip.inverse().expect("inverse");
        let mut worst = 0.0f32;
        let mut sum = 0.0f32;
        for v in 10..70 {
            for u in 10..70 {
                let mut acc = [0.0f32; 3];
                for i in 0..12 {
                    for j in 0..12 {
                        let p = inv.apply([
                            u as f32 + (j as f32 + 0.5) / 12.0 - 0.5,
                            v as f32 + (i as f32 + 0.5) / 12.0 - 0.5,
                        ]);
                        let s = bilinear(&img, p[0], p[1]);
                        (0..3).for_each(|c| acc[c] += s[c] / 144.0);
                    }
                }
                for c in 0..3 {
                    worst = worst.max((fast[(v * 80 + u) * 3 + c] - acc[c]).abs());
                    sum += (fast[(v * 80 + u) * 3 + c] - acc[c]).abs();
                }
            }
        }
        let mean = sum / (60.0 * 60.0 * 3.0);
        assert!(
            worst < 12.0 && mean < 1.5,
            "largest difference {worst} grey levels, mean {mean}"
        );
    }

    #[test]
    fn bilinear_matches_the_textbook_formula_inside_and_at_the_borders() {
        let img = RgbImage::from_fn(7, 5, |x, y| {
            image::Rgb([
                (x * 37 + y * 11) as u8,
                (y * 50) as u8,
                (200 - x * 20) as u8,
            ])
        });
        let pixel = |x: i64, y: i64, c: usize| -> f32 {
            if x < 0 || y < 0 || x >= 7 || y >= 5 {
                0.0
            } else {
                f32::from(img.get_pixel(x as u32, y as u32).0[c])
            }
        };
        let mut points = 0;
        for iy in -12..=52 {
            for ix in -12..=72 {
                // Off-grid positions, including just above -1 and just below the far edge.
                let (x, y) = (ix as f32 / 10.0 + 0.013, iy as f32 / 10.0 - 0.007);
                let got = bilinear(&img, x, y);
                let (x0, y0) = (x.floor(), y.floor());
                let (fx, fy) = (x - x0, y - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                for (c, &g) in got.iter().enumerate() {
                    let want = if x > -1.0 && y > -1.0 && x < 7.0 && y < 5.0 {
                        (1.0 - fx) * (1.0 - fy) * pixel(x0, y0, c)
                            + fx * (1.0 - fy) * pixel(x0 + 1, y0, c)
                            + (1.0 - fx) * fy * pixel(x0, y0 + 1, c)
                            + fx * fy * pixel(x0 + 1, y0 + 1, c)
                    } else {
                        0.0
                    };
                    assert!(
                        (g - want).abs() < 1e-3,
                        "({x}, {y}) channel {c}: {g} vs {want}"
                    );
                }
                points += 1;
            }
        }
        assert_eq!(points, 65 * 85);
    }

    #[test]
    fn the_vectorised_sampler_gives_the_scalar_bits() {
        let img = RgbImage::from_fn(301, 203, |x, y| {
            let v = x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503);
            image::Rgb([(v >> 3) as u8, (v >> 11) as u8, (v >> 19) as u8])
        });
        let norm = Normalize::RAW_RGB;
        // Rotated and scaled maps: inside the image, across its borders, and shrinks that
        // take one bilinear sample per pixel and 2 x 2 or 3 x 3 of them.
        for (angle, scale, centre) in [
            (0.0f32, 1.0f32, [150.0f32, 100.0f32]),
            (0.3, 0.8, [150.0, 100.0]),
            (-0.7, 0.55, [60.0, 40.0]),
            (1.2, 0.4, [290.0, 190.0]),
            (0.1, 1.9, [10.0, 150.0]),
        ] {
            let to_chip = Affine::rotate_scale(centre, angle, scale, [40.0, 40.0]);
            let inv = to_chip.inverse().expect("invertible");
            // The first map keeps row 40's first 16 pixels inside: the gathers take them.
            #[cfg(target_arch = "x86_64")]
            if angle == 0.0 && avx512::available(&img) {
                let mut run = [[0.0f32; 3]; 16];
                // SAFETY: `available` holds and `run` holds 16 pixels.
                let taken =
                    unsafe { avx512::pixels(&img, &inv.0, &[[0.0, 0.0]], 1.0, 0, 40.0, &mut run) };
                assert!(taken);
            }
            let shrink = 1.0 / scale;
            for (w, h) in [(80, 80), (37, 21)] {
                for layout in [Layout::Nhwc, Layout::Nchw] {
                    let fast = sample_with(&img, &inv, shrink, (w, h), layout, &norm, true);
                    let slow = sample_with(&img, &inv, shrink, (w, h), layout, &norm, false);
                    let same = fast
                        .iter()
                        .zip(&slow)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "angle {angle} scale {scale} at {centre:?}, {w}x{h}");
                    assert!(slow.iter().any(|v| *v != 0.0));
                }
            }
        }
    }

    #[test]
    fn identity_warp_copies_pixels() {
        let mut img = RgbImage::new(8, 8);
        img.put_pixel(3, 4, image::Rgb([200, 100, 50]));
        let id = Affine([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let t = warp_to_tensor(&img, &id, 8, 8, Layout::Nhwc, &Normalize::RAW_RGB).expect("warp");
        let p = (4 * 8 + 3) * 3;
        assert_eq!(&t[p..p + 3], &[200.0, 100.0, 50.0]);
        assert_eq!(t[0], 0.0);
    }
}
