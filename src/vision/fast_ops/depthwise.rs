//! Depthwise convolutions (one filter per channel) as one direct AVX-512 pass over the NCHW
//! planes, with their horizontal stride and the ReLU that follows them.
//!
//! tract's depthwise operator walks each output row through a zone scanner and a 256-bit
//! kernel, vectorises only stride-1 rows (so a horizontal stride of 2 runs as a stride-1
//! convolution and a column downsample, `super::super::unstride`), and leaves the ReLU to a
//! separate pass: CenterFace spent 5.8 ms of 19 in its 17 depthwise layers where onnxruntime
//! spends about 2. [`Depthwise`] computes 16 outputs of a row per register, several registers
//! and (at vertical stride 1) three output rows at a time so that the sums are independent
//! chains and each loaded input row serves every output row whose window covers it; it reads
//! stride-2 columns with one permute, masks only the vectors at the ends of a row, and clamps
//! before the store. CenterFace's depthwise layers went from 5.8 to 2.9 ms
//! (`cargo bench --bench model_ops`). Narrow stride-1 planes (CenterFace's 16x20 and 8x10) run
//! as one run of values instead, 16 outputs per register across row ends ([`avx512::Flat`]).
//!
//! The arithmetic is tract's: from the bias, one multiply and then one add (no fused
//! multiply-add) per tap, in the kernel's row-major order, skipping the taps that fall in the
//! padding. The outputs are the same bits as tract's; `tests/model_parity.rs` checks it on every
//! shipped model.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::{conv_node, f32_output_fact, f32_slice, planes, replace_convolutions, with_planes};

/// The filter window of a depthwise convolution: its size, its strides, and the padding before
/// and after the input plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Vertical and horizontal stride; the horizontal one is 1 or 2.
    pub strides: (usize, usize),
    /// Rows and columns of zeros before the plane.
    pub before: (usize, usize),
    /// Rows and columns of zeros after the plane.
    pub after: (usize, usize),
}

impl Window {
    /// The output plane for an `h x w` input, or `None` when the window does not fit in it.
    fn output(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let side = |n: usize, k: usize, s: usize, b: usize, a: usize| {
            let padded = n + b + a;
            (s > 0 && k > 0 && padded >= k).then(|| (padded - k) / s + 1)
        };
        let (kh, kw) = self.kernel;
        Some((
            side(h, kh, self.strides.0, self.before.0, self.after.0)?,
            side(w, kw, self.strides.1, self.before.1, self.after.1)?,
        ))
    }
}

/// `out[c, y, x] = relu?(bias[c] + sum_{dy, dx} w[c, dy, dx] * x[c, y * sy + dy - py,
/// x * sx + dx - px])` over the taps inside the plane, for an f32 `[C, H, W]` or `[1, C, H, W]`
/// input; the output has the input's rank.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Depthwise {
    pub window: Window,
    /// `[C, kh * kw]`: each channel's taps, row-major.
    pub weights: Arc<Tensor>,
    /// `[C]`.
    pub bias: Arc<Tensor>,
    /// Whether a ReLU follows.
    pub relu: bool,
}

impl Depthwise {
    /// The output shape for an input of `shape`.
    fn output_shape(&self, shape: &[usize]) -> Option<TVec<usize>> {
        let (c, h, w) = planes(shape)?;
        let (oh, ow) = self.window.output(h, w)?;
        Some(with_planes(shape, c, oh, ow))
    }
}

impl Op for Depthwise {
    fn name(&self) -> StaticName {
        "Depthwise".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Depthwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (Some((c, h, w)), Some(shape)) =
            (planes(input.shape()), self.output_shape(input.shape()))
        else {
            bail!("Depthwise: input {:?} does not fit", input.shape());
        };
        let x = f32_slice(&input, "Depthwise input")?;
        let weights = f32_slice(&self.weights, "Depthwise weights")?;
        let bias = f32_slice(&self.bias, "Depthwise bias")?;
        ensure!(
            bias.len() == c,
            "Depthwise: input has {c} channels, bias {}",
            bias.len()
        );
        // SAFETY: f32 has no invalid bit patterns, and `convolve` either writes every value or
        // reports that it wrote none, in which case the tensor is dropped unread.
        let mut out = unsafe { Tensor::uninitialized::<f32>(&shape)? };
        let written = convolve(
            x,
            (h, w),
            &self.window,
            weights,
            bias,
            self.relu,
            out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        );
        ensure!(written, "Depthwise: input {:?} does not fit", input.shape());
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for Depthwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        f32_output_fact("Depthwise", inputs[0], |s| self.output_shape(s))
    }

    as_op!();
}

/// Fewest multiplies worth splitting across a thread pool, a quarter of `direct.rs`'s: at a
/// million, CenterFace's 16x20 and 32x40 layers split too, and detect took 12.1-12.3 against
/// 12.9-13.0 ms at 2 threads (alternating in one process, calls run inside the pool).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const MIN_SPLIT: usize = 1 << 20;

/// Runs the convolution of `x` (`C` planes of `h x w`) into `out` (`C` planes of the window's
/// output size): returns true when every output value was written, false (writing nothing)
/// when the sizes do not agree or the horizontal stride is not 1 or 2.
fn convolve(
    x: &[f32],
    (h, w): (usize, usize),
    window: &Window,
    weights: &[f32],
    bias: &[f32],
    relu: bool,
    out: &mut [f32],
) -> bool {
    let c = bias.len();
    let taps = window.kernel.0 * window.kernel.1;
    let Some((oh, ow)) = window.output(h, w) else {
        return false;
    };
    if x.len() != c * h * w
        || out.len() != c * oh * ow
        || weights.len() != c * taps
        || !matches!(window.strides.1, 1 | 2)
    {
        return false;
    }
    let plane = Plane {
        h,
        w,
        oh,
        ow,
        window: *window,
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && oh * ow > 0 && avx512::takes(&plane) {
        let columns = avx512::Columns::new(&plane);
        let flat = avx512::Flat::new(&plane);
        let run = |first: usize, part: &mut [f32]| {
            for (i, dst) in part.chunks_exact_mut(oh * ow).enumerate() {
                let ch = first + i;
                let (src, k) = (
                    &x[ch * h * w..(ch + 1) * h * w],
                    &weights[ch * taps..(ch + 1) * taps],
                );
                // SAFETY: the CPU has AVX-512F and `takes` the window; the sizes were checked
                // above, so channel `ch`'s plane, taps and output are in bounds; rows outside
                // the plane are skipped and columns outside it masked. `flat` was made for
                // this plane.
                unsafe {
                    match &flat {
                        Some(flat) => avx512::flat_channel(src, flat, k, bias[ch], relu, dst),
                        None => avx512::channel(src, &plane, &columns, k, bias[ch], relu, dst),
                    }
                };
            }
        };
        let pool = match tract_linalg::multithread::current_tract_executor() {
            tract_linalg::multithread::Executor::MultiThread(pool) => Some(pool),
            _ => None,
        };
        let threads = pool.as_ref().map_or(1, |p| p.current_num_threads());
        let per_part = c.div_ceil(threads.max(1));
        match pool {
            Some(pool) if threads > 1 && per_part < c && c * oh * ow * taps >= MIN_SPLIT => pool
                .scope(|s| {
                    for (i, part) in out.chunks_mut(per_part * oh * ow).enumerate() {
                        s.spawn(move |_| run(i * per_part, part));
                    }
                }),
            _ => run(0, out),
        }
        return true;
    }
    for (ch, dst) in out.chunks_exact_mut(oh * ow.max(1)).enumerate().take(c) {
        portable(
            &x[ch * h * w..(ch + 1) * h * w],
            &plane,
            &weights[ch * taps..(ch + 1) * taps],
            bias[ch],
            relu,
            dst,
        );
    }
    true
}

/// One channel's input and output plane sizes, with the window.
struct Plane {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    window: Window,
}

impl Plane {
    /// The input row of output row `oy` and kernel row `dy`, if it lies inside the plane.
    #[inline(always)]
    fn row(&self, oy: usize, dy: usize) -> Option<usize> {
        (oy * self.window.strides.0 + dy)
            .checked_sub(self.window.before.0)
            .filter(|&iy| iy < self.h)
    }
}

/// One channel, one value at a time, for CPUs without AVX-512 (the rewrite is made only where
/// AVX-512 exists, so this runs only if a plan moves between machines).
fn portable(x: &[f32], p: &Plane, k: &[f32], bias: f32, relu: bool, out: &mut [f32]) {
    let (kh, kw) = p.window.kernel;
    for (oy, line) in out.chunks_exact_mut(p.ow).take(p.oh).enumerate() {
        for (ox, v) in line.iter_mut().enumerate() {
            let mut sum = bias;
            for dy in 0..kh {
                let Some(iy) = p.row(oy, dy) else { continue };
                for dx in 0..kw {
                    let ix = (ox * p.window.strides.1 + dx).checked_sub(p.window.before.1);
                    if let Some(ix) = ix.filter(|&ix| ix < p.w) {
                        sum += k[dy * kw + dx] * x[iy * p.w + ix];
                    }
                }
            }
            *v = if relu { sum.max(0.0) } else { sum };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::Plane;

    /// Whether [`channel`] takes this window: square 3x3 and 5x5 kernels (the loops over the
    /// taps unroll), strides 1 or 2.
    pub(super) fn takes(p: &Plane) -> bool {
        let (sy, sx) = p.window.strides;
        matches!(p.window.kernel, (3, 3) | (5, 5)) && matches!(sx, 1 | 2) && matches!(sy, 1 | 2)
    }

    /// One channel: `x` its `h x w` plane, `k` its taps, `out` its `oh x ow` plane.
    ///
    /// # Safety
    /// AVX-512F must be available, [`takes`] must hold for `p`, `columns` be made for `p`, `x`
    /// hold `h * w` values, `k` `kh * kw` and `out` `oh * ow`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn channel(
        x: &[f32],
        p: &Plane,
        columns: &Columns,
        k: &[f32],
        bias: f32,
        relu: bool,
        out: &mut [f32],
    ) {
        let c = Channel {
            x: x.as_ptr(),
            p,
            columns,
            k,
            bias,
            relu,
            out: out.as_mut_ptr(),
        };
        match (p.window.kernel.0, p.window.strides) {
            (3, (1, 1)) => c.rows::<1, 1, 3, 3>(),
            (3, (1, _)) => c.rows::<2, 1, 3, 3>(),
            (3, (_, 1)) => c.rows::<1, 2, 3, 2>(),
            (3, _) => c.rows::<2, 2, 3, 2>(),
            (_, (1, 1)) => c.rows::<1, 1, 5, 3>(),
            (_, (1, _)) => c.rows::<2, 1, 5, 3>(),
            (_, (_, 1)) => c.rows::<1, 2, 5, 2>(),
            _ => c.rows::<2, 2, 5, 2>(),
        }
    }

    /// A stride-1 plane whose output rows are as wide as its input rows, read as one run of
    /// values: output `p` reads input `p + offset` for each tap, so a register holds 16
    /// consecutive outputs whichever rows they lie on. Row by row, CenterFace's 20- and
    /// 10-wide planes fill 20 and 10 of every 32 and 16 lanes; as one run they fill them all.
    /// The masks (the same for every channel) leave out the taps that fall in the padding.
    pub(super) struct Flat {
        /// Output values per plane.
        len: usize,
        /// Per tap, row-major: how far from the output's position its input lies.
        offsets: Vec<isize>,
        /// Per vector of 16 outputs, per tap: the lanes whose tap lies inside the plane.
        masks: Vec<u16>,
    }

    impl Flat {
        /// `None` unless the plane has stride 1, output rows as wide as the input's, and
        /// at most three quarters of the vectors as one run that it has row by row. Row by
        /// row keeps its advantage of reading each input row once for three output rows: on
        /// 32x40 planes (80 vectors against 96) the two took the same time, on 16x20 and 8x10
        /// (20 against 32, 5 against 8) one run took 0.68-0.76 as long (alternating in one
        /// process, 192 to 960 channels).
        pub(super) fn new(p: &Plane) -> Option<Flat> {
            let (kh, kw) = p.window.kernel;
            let (top, left) = p.window.before;
            let len = p.oh * p.ow;
            let vectors = len.div_ceil(16);
            let by_rows = p.oh * p.ow.div_ceil(16);
            if p.window.strides != (1, 1) || p.ow != p.w || 4 * vectors > 3 * by_rows {
                return None;
            }
            let offsets = (0..kh * kw)
                .map(|t| {
                    let (dy, dx) = (t / kw, t % kw);
                    (dy as isize - top as isize) * p.w as isize + dx as isize - left as isize
                })
                .collect();
            let mut masks = vec![0u16; vectors * kh * kw];
            for pos in 0..len {
                let (oy, ox) = (pos / p.ow, pos % p.ow);
                for dy in 0..kh {
                    if p.row(oy, dy).is_none() {
                        continue;
                    }
                    for dx in 0..kw {
                        if (ox + dx).checked_sub(left).is_some_and(|ix| ix < p.w) {
                            masks[(pos / 16) * kh * kw + dy * kw + dx] |= 1 << (pos % 16);
                        }
                    }
                }
            }
            Some(Flat {
                len,
                offsets,
                masks,
            })
        }
    }

    /// One channel as one run: `x` its plane, `k` its taps, `out` its output plane.
    ///
    /// # Safety
    /// AVX-512F must be available, `flat` be made for this plane, whose window [`takes`]
    /// holds, `x` hold `h * w` values, `k` `kh * kw` and `out` `oh * ow`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn flat_channel(
        x: &[f32],
        flat: &Flat,
        k: &[f32],
        bias: f32,
        relu: bool,
        out: &mut [f32],
    ) {
        let (x, out) = (x.as_ptr(), out.as_mut_ptr());
        match flat.offsets.len() {
            9 => flat_run::<9>(x, flat, k, bias, relu, out),
            _ => flat_run::<25>(x, flat, k, bias, relu, out),
        }
    }

    /// Every vector of a run with `T` taps, four at a time, then one at a time.
    #[inline(always)]
    unsafe fn flat_run<const T: usize>(
        x: *const f32,
        flat: &Flat,
        k: &[f32],
        bias: f32,
        relu: bool,
        out: *mut f32,
    ) {
        let vectors = flat.len.div_ceil(16);
        let mut v = 0;
        while v + 4 <= vectors {
            flat_vectors::<T, 4>(x, flat, k, bias, relu, out, v);
            v += 4;
        }
        while v < vectors {
            flat_vectors::<T, 1>(x, flat, k, bias, relu, out, v);
            v += 1;
        }
    }

    /// Vectors `v0 .. v0 + N` of a run: each output's taps added in row-major order, those in
    /// the padding neither loaded nor added, then clamped and stored.
    #[inline(always)]
    unsafe fn flat_vectors<const T: usize, const N: usize>(
        x: *const f32,
        flat: &Flat,
        k: &[f32],
        bias: f32,
        relu: bool,
        out: *mut f32,
        v0: usize,
    ) {
        let mut acc = [_mm512_set1_ps(bias); N];
        for t in 0..T {
            let kv = _mm512_set1_ps(*k.get_unchecked(t));
            let offset = *flat.offsets.get_unchecked(t);
            for (j, a) in acc.iter_mut().enumerate() {
                let v = v0 + j;
                let lanes = *flat.masks.get_unchecked(v * T + t);
                // `wrapping_offset`: masked-off lanes may lie outside the plane.
                let xv =
                    _mm512_maskz_loadu_ps(lanes, x.wrapping_offset((16 * v) as isize + offset));
                *a = _mm512_mask_add_ps(*a, lanes, *a, _mm512_mul_ps(xv, kv));
            }
        }
        let zero = _mm512_setzero_ps();
        for (j, a) in acc.iter().enumerate() {
            let ox = 16 * (v0 + j);
            let value = if relu { _mm512_max_ps(*a, zero) } else { *a };
            _mm512_mask_storeu_ps(out.add(ox), span(0, (flat.len - ox) as isize), value);
        }
    }

    /// One channel's planes and filter.
    struct Channel<'a> {
        x: *const f32,
        p: &'a Plane,
        columns: &'a Columns,
        /// The taps, row-major.
        k: &'a [f32],
        bias: f32,
        relu: bool,
        out: *mut f32,
    }

    /// How the output vectors of a row read the input row, the same for every row and channel
    /// of a call: those whose loads all fall inside it, and those at either end, with masks.
    pub(super) struct Columns {
        inner: std::ops::Range<usize>,
        edges: Vec<Edge>,
    }

    impl Columns {
        pub(super) fn new(p: &Plane) -> Columns {
            let (sx, kw) = (p.window.strides.1, p.window.kernel.1);
            let vectors = p.ow.div_ceil(16);
            let left = p.window.before.1 as isize;
            // The first column a vector's loads reach, and one past the last (stride 2 loads
            // two registers from each tap's column).
            let first = |v: usize| (sx * 16 * v) as isize - left;
            let end = |v: usize| first(v) + (sx * 16 + kw - 1) as isize;
            let from = (0..vectors).find(|&v| first(v) >= 0).unwrap_or(vectors);
            let to = (from..vectors)
                .take_while(|&v| end(v) <= p.w as isize)
                .last()
                .map_or(from, |v| v + 1);
            let edges = (0..from)
                .chain(to..vectors)
                .map(|v| Edge::new(p, v))
                .collect();
            Columns {
                inner: from..to,
                edges,
            }
        }
    }

    /// An output vector some of whose taps fall outside the input row, with its masks.
    struct Edge {
        /// The vector's index in the row.
        v: usize,
        /// Per kernel column: the column lane 0 reads (may be negative), the lanes of the one
        /// or two registers loaded, and the lanes whose tap lies inside the row.
        taps: [(isize, [u16; 2], u16); 5],
    }

    /// The lanes `l` of 16 with `from <= l < to`.
    #[inline(always)]
    fn span(from: isize, to: isize) -> u16 {
        let bits = |n: isize| ((1u32 << n.clamp(0, 16)) - 1) as u16;
        bits(to) & !bits(from)
    }

    impl Edge {
        fn new(p: &Plane, v: usize) -> Edge {
            let (sx, kw) = (p.window.strides.1, p.window.kernel.1);
            let (w, ox) = (p.w as isize, 16 * v);
            let inside = span(0, p.ow as isize - ox as isize);
            let mut taps = [(0, [0, 0], 0); 5];
            for (dx, tap) in taps.iter_mut().enumerate().take(kw) {
                // Lane `l` reads column `base + sx * l`.
                let base = (sx * ox + dx) as isize - p.window.before.1 as isize;
                *tap = if sx == 1 {
                    let lanes = span(-base, w - base) & inside;
                    (base, [lanes, 0], lanes)
                } else {
                    let load = [span(-base, w - base), span(-base - 16, w - base - 16)];
                    // Lanes with `0 <= base + 2 l < w`.
                    let lanes = span((-base + 1).div_euclid(2), (w - base + 1).div_euclid(2));
                    (base, load, lanes & inside)
                };
            }
            Edge { v, taps }
        }
    }

    impl Channel<'_> {
        /// Every output row, `R` at a time (each input row loaded once serves every output
        /// row of the block whose window covers it): the vectors whose loads all fall inside
        /// the input row in runs of up to 8 unmasked, the ones at either end with masks.
        #[inline(always)]
        unsafe fn rows<const SX: usize, const SY: usize, const K: usize, const R: usize>(&self) {
            let p = self.p;
            let (inner, edges) = (&self.columns.inner, &self.columns.edges[..]);
            let mut oy = 0;
            while oy + R <= p.oh {
                self.block::<SX, SY, K, R>(oy, inner.clone(), edges);
                oy += R;
            }
            while oy < p.oh {
                self.block::<SX, SY, K, 1>(oy, inner.clone(), edges);
                oy += 1;
            }
        }

        /// Output rows `oy .. oy + R`.
        #[inline(always)]
        unsafe fn block<const SX: usize, const SY: usize, const K: usize, const R: usize>(
            &self,
            oy: usize,
            inner: std::ops::Range<usize>,
            edges: &[Edge],
        ) {
            // At least three sums in flight per row: one alone waits on its own chain of adds.
            let mut v = inner.start;
            while v + 8 <= inner.end && R == 1 {
                self.inner::<SX, SY, K, R, 8>(oy, v);
                v += 8;
            }
            while v + 4 <= inner.end {
                self.inner::<SX, SY, K, R, 4>(oy, v);
                v += 4;
            }
            match inner.end - v {
                3 => self.inner::<SX, SY, K, R, 3>(oy, v),
                2 => self.inner::<SX, SY, K, R, 2>(oy, v),
                1 => self.inner::<SX, SY, K, R, 1>(oy, v),
                _ => {}
            }
            for chunk in edges.chunks(2) {
                match chunk {
                    [a, b] => self.edge::<SX, SY, K, R, 2>(oy, [a, b]),
                    [a] => self.edge::<SX, SY, K, R, 1>(oy, [a]),
                    _ => {}
                }
            }
        }

        /// The sums of `N` vectors in output rows `oy .. oy + R`: `load(j, dx, row)` gives
        /// vector `j`'s inputs for kernel column `dx` from input row `row`, and the lanes that
        /// add them. Each output's taps are added in row-major order, rows in the padding
        /// skipped as tract skips them.
        #[inline(always)]
        unsafe fn sums<const SY: usize, const K: usize, const R: usize, const N: usize>(
            &self,
            oy: usize,
            load: impl Fn(usize, usize, *const f32) -> (__m512, u16),
        ) -> [[__m512; N]; R] {
            let p = self.p;
            let mut acc = [[_mm512_set1_ps(self.bias); N]; R];
            for ir in 0..(R - 1) * SY + K {
                let Some(iy) = p.row(oy, ir) else { continue };
                let row = self.x.add(iy * p.w);
                for dx in 0..K {
                    for j in 0..N {
                        let (xv, lanes) = load(j, dx, row);
                        for (r, acc) in acc.iter_mut().enumerate() {
                            // Output row `oy + r` reads this input row with kernel row `dy`.
                            let Some(dy) = ir.checked_sub(r * SY).filter(|&dy| dy < K) else {
                                continue;
                            };
                            let kv = _mm512_set1_ps(*self.k.get_unchecked(dy * K + dx));
                            let a = &mut acc[j];
                            *a = _mm512_mask_add_ps(*a, lanes, *a, _mm512_mul_ps(xv, kv));
                        }
                    }
                }
            }
            acc
        }

        /// Clamps (with a ReLU) and stores the sums of `vectors` in rows `oy ..`, masked to
        /// the row.
        #[inline(always)]
        unsafe fn store<const R: usize, const N: usize>(
            &self,
            oy: usize,
            vectors: [usize; N],
            acc: [[__m512; N]; R],
        ) {
            let zero = _mm512_setzero_ps();
            let ow = self.p.ow;
            for (r, acc) in acc.iter().enumerate() {
                for (&v, a) in vectors.iter().zip(acc) {
                    let value = if self.relu {
                        _mm512_max_ps(*a, zero)
                    } else {
                        *a
                    };
                    let ox = 16 * v;
                    let lanes = span(0, (ow - ox) as isize);
                    _mm512_mask_storeu_ps(self.out.add((oy + r) * ow + ox), lanes, value);
                }
            }
        }

        /// Vectors `v0 .. v0 + N`, all of whose loads fall inside the input row.
        #[inline(always)]
        unsafe fn inner<
            const SX: usize,
            const SY: usize,
            const K: usize,
            const R: usize,
            const N: usize,
        >(
            &self,
            oy: usize,
            v0: usize,
        ) {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let left = self.p.window.before.1;
            let acc = self.sums::<SY, K, R, N>(oy, |j, dx, row| {
                let at = row.add(SX * 16 * (v0 + j) + dx - left);
                let xv = if SX == 1 {
                    _mm512_loadu_ps(at)
                } else {
                    let lo = _mm512_loadu_ps(at);
                    _mm512_permutex2var_ps(lo, even, _mm512_loadu_ps(at.add(16)))
                };
                (xv, u16::MAX)
            });
            self.store(oy, std::array::from_fn(|j| v0 + j), acc);
        }

        /// `edges`: their lanes outside the input row neither load nor add.
        #[inline(always)]
        unsafe fn edge<
            const SX: usize,
            const SY: usize,
            const K: usize,
            const R: usize,
            const N: usize,
        >(
            &self,
            oy: usize,
            edges: [&Edge; N],
        ) {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let acc = self.sums::<SY, K, R, N>(oy, |j, dx, row| {
                let (base, load, lanes) = edges[j].taps[dx];
                // `wrapping_offset`: masked-off lanes may lie outside the plane.
                let at = row.wrapping_offset(base);
                let xv = if SX == 1 {
                    _mm512_maskz_loadu_ps(load[0], at)
                } else {
                    let lo = _mm512_maskz_loadu_ps(load[0], at);
                    let hi = _mm512_maskz_loadu_ps(load[1], at.wrapping_offset(16));
                    _mm512_permutex2var_ps(lo, even, hi)
                };
                (xv, lanes)
            });
            self.store(oy, edges.map(|e| e.v), acc);
        }
    }
}

/// Replaces every f32 depthwise convolution of a decluttered `model` (one group per channel,
/// 3x3 or 5x5 constant weights, constant bias, explicit or no padding, dilation 1, strides 1
/// or 2) over a `[C, H, W]` or `[1, C, H, W]` input with [`Depthwise`],
/// taking in a ReLU that follows it alone. Does nothing on CPUs without AVX-512.
pub fn replace_depthwise(model: &mut TypedModel) -> TractResult<()> {
    replace_convolutions(model, "depthwise", depthwise_at, |op, relu| Depthwise {
        relu,
        ..op
    })
}

/// The input and the op (without its ReLU) when node `id` is such a convolution.
fn depthwise_at(model: &TypedModel, id: usize) -> TractResult<Option<(OutletId, Depthwise)>> {
    let Some(conv) = conv_node(model, id)? else {
        return Ok(None);
    };
    let (c, _, _) = conv.planes;
    let (kh, kw) = conv.kernel;
    // The kernel sizes and strides the AVX-512 loops unroll for; others stay tract's.
    let unrolled = matches!(conv.kernel, (3, 3) | (5, 5))
        && matches!(conv.strides.0, 1 | 2)
        && matches!(conv.strides.1, 1 | 2);
    if !unrolled || conv.group < 2 || conv.group != c || conv.weights.shape() != [c, 1, kh, kw] {
        return Ok(None);
    }
    let op = Depthwise {
        window: Window {
            kernel: conv.kernel,
            strides: conv.strides,
            before: conv.before,
            after: conv.after,
        },
        weights: Tensor::from_shape(
            &[c, kh * kw],
            f32_slice(&conv.weights, "depthwise weights")?,
        )?
        .into_arc_tensor(),
        bias: Tensor::from_shape(&[c], &conv.bias)?.into_arc_tensor(),
        relu: false,
    };
    // The op must give the shape tract's convolution declares.
    if op.output_shape(&conv.shape).as_deref() != Some(&conv.declared[..]) {
        return Ok(None);
    }
    Ok(Some((conv.input, op)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_values as values;

    /// The definition, in f64, over the taps inside the plane.
    fn reference(
        x: &[f32],
        (h, w): (usize, usize),
        win: &Window,
        k: &[f32],
        b: &[f32],
    ) -> Vec<f64> {
        let (oh, ow) = win.output(h, w).unwrap_or((0, 0));
        let (kh, kw) = win.kernel;
        let mut out = Vec::new();
        for (ch, &bias) in b.iter().enumerate() {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = f64::from(bias);
                    for dy in 0..kh {
                        for dx in 0..kw {
                            let iy = (oy * win.strides.0 + dy) as isize - win.before.0 as isize;
                            let ix = (ox * win.strides.1 + dx) as isize - win.before.1 as isize;
                            if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                                let v = x[ch * h * w + iy as usize * w + ix as usize];
                                acc += f64::from(v) * f64::from(k[ch * kh * kw + dy * kw + dx]);
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
        out
    }

    #[test]
    fn every_window_matches_the_definition_and_the_portable_path() {
        let windows = [
            ((3, 3), (1, 1), (1, 1), (1, 1)),
            ((3, 3), (2, 2), (1, 1), (1, 1)),
            ((3, 3), (2, 2), (0, 0), (1, 1)),
            ((3, 3), (1, 2), (0, 0), (0, 0)),
            ((3, 3), (2, 1), (1, 0), (0, 2)),
            ((5, 5), (1, 1), (2, 2), (2, 2)),
            ((5, 5), (2, 2), (1, 1), (2, 2)),
            ((1, 3), (1, 1), (0, 1), (0, 1)),
        ];
        // Widths around the 16-lane vector, heights down to one row.
        for (kernel, strides, before, after) in windows {
            let win = Window {
                kernel,
                strides,
                before,
                after,
            };
            // 16x20 and 8x10 (CenterFace's) and the narrower ones run as one run at stride 1.
            for (h, w) in [
                (1, 1),
                (2, 3),
                (5, 16),
                (7, 17),
                (9, 33),
                (6, 40),
                (16, 20),
                (8, 10),
            ] {
                let Some((oh, ow)) = win.output(h, w) else {
                    continue;
                };
                let c = 3;
                let x = values(c * h * w, 1);
                let k = values(c * kernel.0 * kernel.1, 2);
                let b = values(c, 3);
                for relu in [false, true] {
                    let mut fast = vec![f32::NAN; c * oh * ow];
                    assert!(convolve(&x, (h, w), &win, &k, &b, relu, &mut fast));
                    let taps = kernel.0 * kernel.1;
                    let plane = Plane {
                        h,
                        w,
                        oh,
                        ow,
                        window: win,
                    };
                    let mut slow = vec![f32::NAN; c * oh * ow];
                    for (ch, dst) in slow.chunks_exact_mut(oh * ow).enumerate() {
                        let src = &x[ch * h * w..(ch + 1) * h * w];
                        portable(
                            src,
                            &plane,
                            &k[ch * taps..(ch + 1) * taps],
                            b[ch],
                            relu,
                            dst,
                        );
                    }
                    let want = reference(&x, (h, w), &win, &k, &b);
                    let what = format!("{win:?} over {h}x{w}");
                    for (j, (f, s)) in fast.iter().zip(&slow).enumerate() {
                        assert_eq!(f.to_bits(), s.to_bits(), "{what} #{j}");
                        let want = if relu { want[j].max(0.0) } else { want[j] };
                        let err = (f64::from(*f) - want).abs();
                        assert!(err < 1e-4, "{what} #{j}: off by {err}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_thread_pool_splits_the_channels_without_changing_a_bit() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let pool = Executor::multithread(3);
        let win = Window {
            kernel: (3, 3),
            strides: (2, 2),
            before: (1, 1),
            after: (1, 1),
        };
        let (c, h, w) = (97, 128, 160);
        let (oh, ow) = (64, 80);
        assert!(c * oh * ow * 9 >= MIN_SPLIT);
        let x = values(c * h * w, 4);
        let k = values(c * 9, 5);
        let b = values(c, 6);
        let mut one = vec![f32::NAN; c * oh * ow];
        assert!(convolve(&x, (h, w), &win, &k, &b, true, &mut one));
        let mut many = vec![f32::NAN; c * oh * ow];
        let split =
            multithread_tract_scope(pool, || convolve(&x, (h, w), &win, &k, &b, true, &mut many));
        assert!(split);
        assert!(one
            .iter()
            .zip(&many)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    /// CenterFace's 16x20 and 8x10 stride-1 planes run as one run; its 32x40 and 64x80 ones,
    /// and stride 2, row by row (`every_window_matches_the_definition_and_the_portable_path`
    /// checks both against the definition).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn only_narrow_stride_one_planes_run_as_one_run() {
        let plane = |(h, w): (usize, usize), s: usize| {
            let window = Window {
                kernel: (3, 3),
                strides: (s, s),
                before: (1, 1),
                after: (1, 1),
            };
            let (oh, ow) = window.output(h, w).expect("fits");
            Plane {
                h,
                w,
                oh,
                ow,
                window,
            }
        };
        for size in [(16, 20), (8, 10), (7, 17)] {
            assert!(avx512::Flat::new(&plane(size, 1)).is_some(), "{size:?}");
        }
        for size in [(32, 40), (64, 80), (5, 16)] {
            assert!(avx512::Flat::new(&plane(size, 1)).is_none(), "{size:?}");
        }
        assert!(avx512::Flat::new(&plane((16, 20), 2)).is_none());
    }

    #[test]
    fn sizes_that_do_not_agree_write_nothing() {
        let win = Window {
            kernel: (3, 3),
            strides: (1, 1),
            before: (1, 1),
            after: (1, 1),
        };
        let mut out = vec![7.0f32; 2 * 16];
        // 2 channels of 4x4 need 32 input values.
        assert!(!convolve(
            &[1.0; 31],
            (4, 4),
            &win,
            &[1.0; 18],
            &[0.0; 2],
            false,
            &mut out
        ));
        assert!(out.iter().all(|v| *v == 7.0));
        // A horizontal stride of 3 (4x2 outputs per channel) is not taken.
        let strided = Window {
            strides: (1, 3),
            ..win
        };
        let mut out = vec![7.0f32; 2 * 8];
        assert!(!convolve(
            &[1.0; 32],
            (4, 4),
            &strided,
            &[1.0; 18],
            &[0.0; 2],
            false,
            &mut out
        ));
        assert!(out.iter().all(|v| *v == 7.0));
    }
}
