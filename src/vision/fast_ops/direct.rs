//! The multiply-accumulate kernel behind [`super::Pointwise`] and [`super::Conv3x3`]: a
//! convolution read straight from NCHW planes, without tract's packing.
//!
//! Each output value is a sum over input channels `i` and taps `t` of
//! `x[i * plane + p + taps[t]] * weights[i * T + t, o]`: a 1x1 convolution has one tap at 0; a
//! 3x3 convolution over a zero-padded plane `Wp` wide has the nine taps `dy * Wp + dx`, with `p`
//! running over the padded plane's row-major positions (the two positions per row that fall in
//! the padding are computed and dropped by the caller). Strips of 32 consecutive positions are
//! multiplied into 12 output channels held in 24 AVX-512 registers. The arithmetic is tract's:
//! one fused multiply-add per (input channel, tap) in that order from zero, then the bias, then
//! the ReLU, so the outputs are the same bits as tract's kernels give.

/// Where a convolution reads and writes, in f32 elements.
pub(super) struct Geometry<'a> {
    /// Distance between input channels.
    pub plane: usize,
    /// Offsets of the taps from an output position, in the order the weights list them.
    pub taps: &'a [usize],
    /// Output positions computed per output channel.
    pub positions: usize,
    /// Distance between output channels (at least `positions`).
    pub out_stride: usize,
}

impl Geometry<'_> {
    /// Whether `x` (`k` channels), `weights` (`[k * taps, co]`), `bias` and `out` are large
    /// enough for every access.
    fn fits(&self, x: &[f32], k: usize, co: usize, bias: Option<&[f32]>, out: &[f32]) -> bool {
        let reach = self.taps.iter().max().copied().unwrap_or(0) + self.positions;
        !self.taps.is_empty()
            && self.positions <= self.out_stride
            && (k == 0 || x.len() >= (k - 1) * self.plane + reach)
            && out.len() == co * self.out_stride
            && bias.is_none_or(|b| b.len() == co)
    }
}

/// One checked convolution's operands (see [`convolve`]), as the kernels take them.
#[derive(Clone, Copy)]
struct Operands<'a> {
    x: &'a [f32],
    g: &'a Geometry<'a>,
    /// Input channels.
    k: usize,
    weights: &'a [f32],
    co: usize,
    bias: Option<&'a [f32]>,
    relu: bool,
}

/// Fewest multiply-adds worth splitting across threads: about 40 us of work, well above what
/// handing a part to another thread costs. FaceMesh's small layers ran slower split.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) const MIN_SPLIT: usize = 4 << 20;

/// Runs the convolution: `weights` is `[k * taps, co]`, `out` is `[co, out_stride]`. Writes
/// the first `positions` values of every output row and returns true, or returns false and
/// leaves `out` untouched when the inputs do not fit `geometry` (the ops check shapes before
/// calling).
pub(super) fn convolve(
    x: &[f32],
    geometry: &Geometry,
    weights: &[f32],
    co: usize,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) -> bool {
    let k = weights.len() / (co * geometry.taps.len()).max(1);
    if !geometry.fits(x, k, co, bias, out) {
        return false;
    }
    if co == 0 {
        return true;
    }
    let ops = Operands {
        x,
        g: geometry,
        k,
        weights,
        co,
        bias,
        relu,
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        let stride = geometry.out_stride;
        let base = SharedOut(out.as_mut_ptr());
        // SAFETY: the CPU has AVX-512F; `fits` bounds every input read (strips stay below
        // `positions`, the last one masked, channels below `k`, taps below their maximum) and
        // every write (rows below `co`, columns below `positions`); the parts of a split cover
        // disjoint (channel, position) rectangles, so no two threads write the same value.
        let run = |part: &Part| unsafe {
            avx512::convolve(
                ops,
                part.channels.clone(),
                part.positions.clone(),
                base.get(),
            )
        };
        // With a tract thread pool in scope (the detector's `inference_threads`), the work is
        // split across it, by output channels or by positions (see `split`).
        let pool = match tract_linalg::multithread::current_tract_executor() {
            tract_linalg::multithread::Executor::MultiThread(pool) => Some(pool),
            _ => None,
        };
        let threads = pool.as_ref().map_or(1, |p| p.current_num_threads());
        let products = k * geometry.taps.len() * co * geometry.positions;
        // Tap counts the kernel has no unrolled form for run whole (see `avx512::convolve`).
        let parts = match geometry.taps.len() {
            1 | 9 | 49 => split(co, geometry.positions, threads),
            _ => Vec::new(),
        };
        match pool {
            Some(pool) if parts.len() > 1 && stride > 0 && products >= MIN_SPLIT => {
                pool.scope(|s| {
                    for part in &parts {
                        s.spawn(move |_| run(part));
                    }
                })
            }
            _ => run(&Part {
                channels: 0..co,
                positions: 0..geometry.positions,
            }),
        }
        return true;
    }
    portable(ops, out);
    true
}

/// Positions per strip: two 16-lane registers per output channel.
const STRIP: usize = 32;
/// Output channels per tile: 24 accumulators, 2 input vectors and a broadcast fit in the
/// 32 registers.
const TILE: usize = 12;

/// A rectangle of the output one thread computes: output channels by positions.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Debug, Clone, PartialEq)]
struct Part {
    channels: std::ops::Range<usize>,
    positions: std::ops::Range<usize>,
}

/// The output pointer, shared by the parts of a split (which write disjoint values).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Clone, Copy)]
pub(super) struct SharedOut(pub(super) *mut f32);
// SAFETY: only passed to parts that write disjoint rectangles of the output (see `convolve`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl SharedOut {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Splits `co` output channels by `positions` into at most `threads` parts of nearly equal
/// work: whole tiles of output channels each, or whole strips of positions each, whichever
/// leaves the largest part smaller. Splitting by channels alone left CenterFace's 16- and
/// 32-channel layers in parts of 12 and 4 or 24 and 8 channels, one thread waiting for the
/// other most of the layer; its 8x10 planes have too few strips to split by positions.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn split(co: usize, positions: usize, threads: usize) -> Vec<Part> {
    let whole = Part {
        channels: 0..co,
        positions: 0..positions,
    };
    if threads < 2 || co == 0 || positions == 0 {
        return vec![whole];
    }
    let per_channels = co.div_ceil(threads).div_ceil(TILE) * TILE;
    let per_positions = positions.div_ceil(threads).div_ceil(STRIP) * STRIP;
    // The largest part's share of the work, in units of co * positions.
    let by_channels = per_channels.min(co) * positions;
    let by_positions = per_positions.min(positions) * co;
    if by_positions <= by_channels && per_positions < positions {
        (0..positions)
            .step_by(per_positions)
            .map(|p| Part {
                channels: 0..co,
                positions: p..(p + per_positions).min(positions),
            })
            .collect()
    } else if per_channels < co {
        (0..co)
            .step_by(per_channels)
            .map(|c| Part {
                channels: c..(c + per_channels).min(co),
                positions: 0..positions,
            })
            .collect()
    } else {
        vec![whole]
    }
}

/// The same arithmetic one value at a time, for CPUs without AVX-512 (the rewrites are only
/// made where AVX-512 exists, so this runs only if a plan moves between machines).
fn portable(ops: Operands, out: &mut [f32]) {
    let Operands {
        x,
        g,
        k,
        weights,
        co,
        bias,
        relu,
    } = ops;
    let taps = g.taps.len();
    for (o, row) in out.chunks_exact_mut(g.out_stride).enumerate().take(co) {
        for (p, v) in row[..g.positions].iter_mut().enumerate() {
            let mut acc = 0.0f32;
            for i in 0..k {
                for (t, &off) in g.taps.iter().enumerate() {
                    acc = x[i * g.plane + p + off].mul_add(weights[(i * taps + t) * co + o], acc);
                }
            }
            *v = finish(acc, bias.map(|b| b[o]), relu);
        }
    }
}

/// Bias, then ReLU, as tract's fused ops apply them after the product.
#[inline(always)]
fn finish(acc: f32, bias: Option<f32>, relu: bool) -> f32 {
    let v = match bias {
        Some(b) => acc + b,
        None => acc,
    };
    if relu {
        v.max(0.0)
    } else {
        v
    }
}

/// Whether the kernel runs on this CPU (AVX-512F); the rewrites that use it are made only then.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{Operands, STRIP, TILE};

    /// Planes above this many values get their strips packed (see `strips`); below it the
    /// input rows sit close enough together to stay in L1.
    const PACK_PLANE: usize = 1024;
    /// Input values (over all channels and taps) a block of strips should span: 64 KB, well
    /// inside L2, so that every tile of a block finds them there.
    const BLOCK_VALUES: usize = 16 << 10;

    /// Output channels `channels` at positions `positions` of the convolution, into `out`,
    /// the whole `[co, out_stride]` output.
    ///
    /// # Safety
    /// AVX-512F must be available, `Geometry::fits` must hold for `x`, `weights` (`[k * taps,
    /// co]`), `bias` and the whole output `out` points to, `channels` must lie within `0..co`,
    /// and `positions` within `0..positions`, starting at a multiple of 32.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn convolve(
        ops: Operands,
        channels: Range<usize>,
        positions: Range<usize>,
        out: *mut f32,
    ) {
        match *ops.g.taps {
            [a] => strips(ops, [a], channels, positions, out),
            [a, b, c, d, e, f, h, i, j] => {
                strips(ops, [a, b, c, d, e, f, h, i, j], channels, positions, out)
            }
            ref taps => match <[usize; 49]>::try_from(taps) {
                Ok(taps) => strips(ops, taps, channels, positions, out),
                Err(_) => {
                    let whole = ops.co * ops.g.out_stride;
                    super::portable(ops, std::slice::from_raw_parts_mut(out, whole))
                }
            },
        }
    }

    /// [`convolve`] with the tap count known at compile time, so the tap loop unrolls.
    #[inline(always)]
    unsafe fn strips<const T: usize>(
        ops: Operands,
        taps: [usize; T],
        channels: Range<usize>,
        positions: Range<usize>,
        out: *mut f32,
    ) {
        let g = ops.g;
        // Positions go in blocks of strips, and each tile of output channels runs over a whole
        // block before the next tile starts: a tile writes a few long runs of each of its 12
        // output rows, which the prefetchers follow, instead of 32 values of every output row
        // in turn (96 to 960 interleaved write streams). The block's inputs are re-read once
        // per tile, from L2.
        let per_block = (BLOCK_VALUES / (ops.k * T * STRIP).max(1)).max(1);
        // A 1x1 convolution over large planes reads its `k` input rows a plane apart: when the
        // plane is a multiple of 4 KB (CenterFace's 128x160 and 64x80) all of them fall in the
        // same L1 sets. Copying each strip's inputs once into `k` consecutive 32-value rows
        // makes them one contiguous run. Same values, same order: the bits do not change.
        let mut packed = (T == 1 && channels.len() > TILE && g.plane > PACK_PLANE)
            .then(|| vec![0.0f32; per_block * ops.k * STRIP]);
        let packed = packed.as_mut().map(|buf| buf.as_mut_ptr());
        let strip_at = |p0: usize| {
            let n = (positions.end - p0).min(STRIP);
            // Lanes of the strip's two registers that hold positions (all but at the end).
            let lo = if n >= 16 { u16::MAX } else { (1u16 << n) - 1 };
            let hi = if n >= STRIP {
                u16::MAX
            } else if n > 16 {
                (1u16 << (n - 16)) - 1
            } else {
                0
            };
            Strip {
                x: ops.x.as_ptr().wrapping_add(p0),
                out: out.wrapping_add(p0),
                plane: g.plane,
                out_stride: g.out_stride,
                taps,
                k: ops.k,
                weights: ops.weights.as_ptr(),
                co: ops.co,
                bias: ops.bias.map(|b| b.as_ptr()),
                relu: ops.relu,
                masks: [lo, hi],
            }
        };
        let mut block = positions.start;
        while block < positions.end {
            let starts = (block..positions.end).step_by(STRIP).take(per_block);
            if let Some(buf) = packed {
                for (s, p0) in starts.clone().enumerate() {
                    strip_at(p0).pack(buf.add(s * ops.k * STRIP));
                }
            }
            let run = |c0: usize, tile: unsafe fn(&Strip<T>, usize)| {
                for (s, p0) in starts.clone().enumerate() {
                    let mut strip = strip_at(p0);
                    if let Some(buf) = packed {
                        strip.x = buf.add(s * ops.k * STRIP);
                        strip.plane = STRIP;
                        strip.taps = [0; T];
                    }
                    tile(&strip, c0);
                }
            };
            let (mut c0, end) = (channels.start, channels.end);
            while c0 + TILE <= end {
                run(c0, Strip::<T>::tile::<TILE>);
                c0 += TILE;
            }
            // Two leftover tiles of 4 would each keep only 8 accumulators busy.
            while c0 + 8 <= end {
                run(c0, Strip::<T>::tile::<8>);
                c0 += 8;
            }
            while c0 + 4 <= end {
                run(c0, Strip::<T>::tile::<4>);
                c0 += 4;
            }
            while c0 < end {
                run(c0, Strip::<T>::tile::<1>);
                c0 += 1;
            }
            block += per_block * STRIP;
        }
    }

    /// One strip of up to 32 positions: pointers to its first input and output value.
    struct Strip<const T: usize> {
        x: *const f32,
        out: *mut f32,
        plane: usize,
        out_stride: usize,
        taps: [usize; T],
        k: usize,
        weights: *const f32,
        co: usize,
        bias: Option<*const f32>,
        relu: bool,
        masks: [u16; 2],
    }

    impl<const T: usize> Strip<T> {
        /// Copies the strip's inputs at its first tap into `dst`, `k` rows of 32 values (the
        /// packed layout `strips` uses for one-tap convolutions).
        #[inline(always)]
        unsafe fn pack(&self, dst: *mut f32) {
            let [lo, hi] = self.masks;
            for i in 0..self.k {
                let row = self.x.wrapping_add(i * self.plane + self.taps[0]);
                _mm512_storeu_ps(dst.add(i * STRIP), _mm512_maskz_loadu_ps(lo, row));
                let x1 = _mm512_maskz_loadu_ps(hi, row.wrapping_add(16));
                _mm512_storeu_ps(dst.add(i * STRIP + 16), x1);
            }
        }

        /// Output channels `c0 .. c0 + C` of the strip.
        #[inline(always)]
        unsafe fn tile<const C: usize>(&self, c0: usize) {
            // A strip of at most 16 positions (the last one of a plane such as 8x10) needs only
            // its first register: the second would be multiplied for nothing.
            if self.masks[1] == 0 {
                self.registers::<C, 1>(c0)
            } else {
                self.registers::<C, 2>(c0)
            }
        }

        /// [`Self::tile`] with `R` registers of 16 positions per output channel.
        #[inline(always)]
        unsafe fn registers<const C: usize, const R: usize>(&self, c0: usize) {
            let mut acc = [[_mm512_setzero_ps(); R]; C];
            for i in 0..self.k {
                let row = self.x.add(i * self.plane);
                for (t, &off) in self.taps.iter().enumerate() {
                    // `wrapping_add`: at the end of the input the second register's lanes are all
                    // masked off, and its address may lie past the slice.
                    let x: [__m512; R] = std::array::from_fn(|r| {
                        _mm512_maskz_loadu_ps(self.masks[r], row.wrapping_add(off + 16 * r))
                    });
                    let w = self.weights.add((i * T + t) * self.co + c0);
                    for (c, a) in acc.iter_mut().enumerate() {
                        let wv = _mm512_set1_ps(*w.add(c));
                        for (a, x) in a.iter_mut().zip(&x) {
                            *a = _mm512_fmadd_ps(*x, wv, *a);
                        }
                    }
                }
            }
            let zero = _mm512_setzero_ps();
            for (c, a) in acc.iter().enumerate() {
                let o = self.out.add((c0 + c) * self.out_stride);
                for (r, &v) in a.iter().enumerate() {
                    let mut v = v;
                    if let Some(b) = self.bias {
                        v = _mm512_add_ps(v, _mm512_set1_ps(*b.add(c0 + c)));
                    }
                    if self.relu {
                        v = _mm512_max_ps(v, zero);
                    }
                    _mm512_mask_storeu_ps(o.wrapping_add(16 * r), self.masks[r], v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, in f64.
    fn reference(
        x: &[f32],
        g: &Geometry,
        w: &[f32],
        co: usize,
        bias: &[f32],
        relu: bool,
    ) -> Vec<f64> {
        let taps = g.taps.len();
        let k = w.len() / co / taps;
        let mut out = vec![0.0f64; co * g.out_stride];
        for o in 0..co {
            for p in 0..g.positions {
                let mut acc = f64::from(bias[o]);
                for i in 0..k {
                    for (t, &off) in g.taps.iter().enumerate() {
                        acc += f64::from(x[i * g.plane + p + off])
                            * f64::from(w[(i * taps + t) * co + o]);
                    }
                }
                out[o * g.out_stride + p] = if relu { acc.max(0.0) } else { acc };
            }
        }
        out
    }

    use super::super::test_values as values;

    /// `(geometry taps, plane, positions)` for a 1x1 over `hw`, and a 3x3 and a 7x7 over a
    /// padded `(h + 2r) x (w + 2r)` plane.
    fn shapes() -> Vec<(Vec<usize>, usize, usize)> {
        let mut v = Vec::new();
        for hw in [1, 15, 16, 17, 33, 80, 100, 1041] {
            v.push((vec![0], hw, hw));
        }
        for (h, w) in [(1, 1), (3, 5), (8, 8), (9, 30), (17, 17)] {
            for side in [3, 7] {
                let wp = w + side - 1;
                let taps = (0..side)
                    .flat_map(|dy| (0..side).map(move |dx| dy * wp + dx))
                    .collect();
                v.push((taps, (h + side - 1) * wp, (h - 1) * wp + w));
            }
        }
        v
    }

    #[test]
    fn every_strip_and_tile_width_matches_the_definition_and_the_portable_path() {
        // Position counts around the 32-wide strip and its 16-lane halves, channel counts
        // that leave 12-, 8-, 4- and 1-wide tiles, one, nine and 49 taps.
        for (taps, plane, positions) in shapes() {
            for (k, co) in [
                (3, 1),
                (5, 7),
                (8, 12),
                (16, 13),
                (6, 21),
                (24, 29),
                (4, 32),
            ] {
                let g = Geometry {
                    plane,
                    taps: &taps,
                    positions,
                    out_stride: positions + 3,
                };
                let x = values(k * plane, 1);
                let w = values(k * taps.len() * co, 2);
                let bias = values(co, 3);
                for relu in [false, true] {
                    let mut fast = vec![f32::NAN; co * g.out_stride];
                    convolve(&x, &g, &w, co, Some(&bias), relu, &mut fast);
                    let mut slow = vec![f32::NAN; co * g.out_stride];
                    let ops = Operands {
                        x: &x,
                        g: &g,
                        k,
                        weights: &w,
                        co,
                        bias: Some(&bias),
                        relu,
                    };
                    portable(ops, &mut slow);
                    let want = reference(&x, &g, &w, co, &bias, relu);
                    let what = format!("{} taps, {positions} positions, {k}x{co}", taps.len());
                    for o in 0..co {
                        for p in 0..g.out_stride {
                            let j = o * g.out_stride + p;
                            if p >= positions {
                                assert!(fast[j].is_nan(), "{what}: wrote past a row");
                                continue;
                            }
                            assert_eq!(fast[j].to_bits(), slow[j].to_bits(), "{what} #{j}");
                            let err = (f64::from(fast[j]) - want[j]).abs();
                            assert!(err < 1e-3, "{what} #{j}: off by {err}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_thread_pool_splits_the_work_without_changing_a_bit() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        // Split by positions (the first two and the fourth), by channels (the third), and not
        // at all (one tile, one strip); 1x1 and 3x3 taps.
        for (threads, hw, taps, k, co) in [
            (3, 4100, &[0usize][..], 16, 96),
            (2, 2049, &[0, 1, 2, 50, 51, 52, 100, 101, 102][..], 80, 16),
            (2, 80, &[0][..], 960, 320),
            (3, 1030, &[0][..], 400, 13),
            (2, 32, &[0][..], 12000, 12),
        ] {
            let taps_n = taps.len();
            let positions = hw - taps.iter().max().copied().unwrap_or(0);
            assert!(positions * k * co * taps_n >= MIN_SPLIT);
            let pool = Executor::multithread(threads);
            let g = Geometry {
                plane: hw,
                taps,
                positions,
                out_stride: hw,
            };
            let x = values(k * hw, 4);
            let w = values(k * taps_n * co, 5);
            let bias = values(co, 6);
            let mut one = vec![f32::NAN; co * hw];
            convolve(&x, &g, &w, co, Some(&bias), true, &mut one);
            let mut many = vec![f32::NAN; co * hw];
            multithread_tract_scope(pool.clone(), || {
                convolve(&x, &g, &w, co, Some(&bias), true, &mut many)
            });
            let same = one
                .iter()
                .zip(&many)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{hw}x{k}x{co}x{taps_n}");
        }
    }

    #[test]
    fn a_split_covers_every_value_once_in_balanced_parts() {
        for (co, positions, threads, by_positions) in [
            (16, 20480, 2, true),
            (32, 5120, 2, true),
            (320, 80, 2, false),
            (960, 80, 4, false),
            (96, 4096, 3, true),
        ] {
            let parts = split(co, positions, threads);
            assert!(
                parts.len() > 1 && parts.len() <= threads,
                "{co}x{positions}"
            );
            let mut seen = vec![0u8; co * positions];
            for p in &parts {
                assert_eq!(p.positions.start % 32, 0);
                assert!(p.channels.start % 12 == 0 || p.channels.start == 0);
                for c in p.channels.clone() {
                    for q in p.positions.clone() {
                        seen[c * positions + q] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{co}x{positions}");
            let whole_channels = parts.iter().all(|p| p.channels == (0..co));
            assert_eq!(whole_channels, by_positions, "{co}x{positions}: {parts:?}");
            let largest = parts
                .iter()
                .map(|p| p.channels.len() * p.positions.len())
                .max()
                .unwrap_or(0);
            assert!(largest * threads <= co * positions * 3 / 2, "{parts:?}");
        }
        assert_eq!(
            split(5, 20, 2).len(),
            1,
            "one tile and one strip stay whole"
        );
        assert_eq!(split(96, 4096, 1).len(), 1);
    }

    #[test]
    fn no_bias_adds_nothing_and_relu_clamps() {
        let (hw, co) = (20, 2);
        let g = Geometry {
            plane: hw,
            taps: &[0],
            positions: hw,
            out_stride: hw,
        };
        let x = vec![1.0f32; 2 * hw];
        let w = vec![-1.0, 1.0, -1.0, 1.0]; // [I, O]: channel 0 sums to -2, channel 1 to 2
        let mut out = vec![0.0f32; co * hw];
        convolve(&x, &g, &w, co, None, true, &mut out);
        assert!(out[..hw].iter().all(|v| *v == 0.0));
        assert!(out[hw..].iter().all(|v| *v == 2.0));
        convolve(&x, &g, &w, co, None, false, &mut out);
        assert!(out[..hw].iter().all(|v| *v == -2.0));
    }

    #[test]
    fn inputs_that_do_not_fit_leave_the_output_alone() {
        let g = Geometry {
            plane: 10,
            taps: &[0, 1],
            positions: 10,
            out_stride: 10,
        };
        // 2 channels need 10 + 1 + 10 values; 20 is one short.
        let mut out = vec![7.0f32; 10];
        assert!(!convolve(
            &[1.0; 20], &g, &[1.0; 4], 1, None, false, &mut out
        ));
        assert!(out.iter().all(|v| *v == 7.0));
    }
}
