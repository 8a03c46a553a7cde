//! 3x3 convolutions (stride 1 or 2, one group) over narrow planes, vectorised along the output
//! channels, with their ReLU.
//!
//! The recognition ResNet's later stages are 3x3 convolutions over 17x17 to 1x1 planes with 64
//! to 256 channels. [`super::Conv3x3`] vectorises along the rows and leaves most lanes idle
//! there, so tract ran them through an explicit `Pad`, an im2col buffer and its packed matrix
//! kernels: 0.25-0.29 ms per 64-channel 17x17 layer against onnxruntime's 0.19
//! (`cargo bench --bench model_ops`, `benches/ort_op_profile.py`). Here a tile of 64 output
//! channels (four AVX-512 registers) by six output positions (24 accumulators) reads its
//! weights as they lie (`[I * 9, O]`, one row per input channel and tap) and broadcasts each
//! position's input value straight from a zero-padded copy of the planes: no packing, and any
//! stride, since a position is only an offset into the padded plane. The arithmetic is tract's
//! im2col product: one fused multiply-add per input channel and tap, in the kernel's OIHW
//! order, from zero, then the bias, then the ReLU. The outputs are the same bits.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::direct::{available, SharedOut, MIN_SPLIT};
use super::{conv_node, f32_output, f32_output_fact, f32_slice, planes, replace_convolutions};
use super::{tap_major, tract_direct_spatial};
use super::{with_planes, zero_padded};

/// Taps of the kernel: 3x3.
const TAPS: usize = 9;
/// Output channels per lane block: one AVX-512 register.
const LANES: usize = 16;

/// The shape of a tile: `registers` blocks of 16 output channels by `positions` output
/// positions, one accumulator register each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tile {
    registers: usize,
    positions: usize,
}

impl Tile {
    /// The tile for `positions` outputs per channel and `co` channels (a multiple of 16). Wide
    /// outputs take 4 x 6 (24 accumulators, 4 weight registers and a broadcast in the 32
    /// registers); outputs of at most 16 positions take all of them in one tile, so that each
    /// weight is read once, in the shape that wastes the fewest multiply-adds.
    fn for_output(positions: usize, co: usize) -> Tile {
        let fits = |registers: &usize| co.is_multiple_of(LANES * registers);
        let choices = match positions {
            0..=9 => [8, 4, 1],
            10..=12 => [2, 1, 1],
            13..=16 => [1, 1, 1],
            _ => [4, 2, 1],
        };
        let registers = choices.into_iter().find(fits).unwrap_or(1);
        Tile::with_registers(registers, positions)
    }

    /// The tile of `registers` blocks for `positions` outputs per channel: as many positions
    /// as leave room for the weights and a broadcast in the 32 registers (with 8 blocks, 1 for
    /// a single output, 3 otherwise).
    fn with_registers(registers: usize, positions: usize) -> Tile {
        let positions = match registers {
            1 => 16,
            2 => 12,
            4 => 6,
            _ if positions <= 1 => 1,
            _ => 3,
        };
        Tile {
            registers,
            positions,
        }
    }
}

/// `out[o, y, x] = relu?(bias[o] + sum_{i, dy, dx} w[o, i, dy, dx] * xpad[i, sy * y + dy,
/// sx * x + dx])` for an f32 `[I, H, W]` or `[1, I, H, W]` input, `xpad` being the input with
/// `before` rows and columns of zeros before it and `after` after; the output has the input's
/// rank, with `O` channels (a multiple of 16).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NarrowConv {
    /// `[O / C, I * 9, C]`, `C` being 16 times the tile's registers: for each block of `C`
    /// output channels, row `i * 9 + 3 * dy + dx` holds that tap's weights (see
    /// [`tile_blocks`]).
    pub weights: Arc<Tensor>,
    /// `[O]`.
    pub bias: Arc<Tensor>,
    /// Row and column strides.
    pub strides: (usize, usize),
    /// Rows and columns of zeros before the input.
    pub before: (usize, usize),
    /// Rows and columns of zeros after the input.
    pub after: (usize, usize),
    /// Whether a ReLU follows.
    pub relu: bool,
}

/// The padded input and output sizes of one convolution.
struct Sizes {
    /// Rows and columns of the padded input.
    hp: usize,
    wp: usize,
    /// Output rows and columns.
    oh: usize,
    ow: usize,
}

impl NarrowConv {
    fn channels(&self) -> (usize, usize) {
        let s = self.weights.shape();
        (s[1] / TAPS, s[0] * s[2])
    }

    /// Registers per tile: the weights' blocks are 16 channels per register.
    fn registers(&self) -> usize {
        self.weights.shape()[2] / LANES
    }

    /// The sizes for an `h x w` input, when the kernel fits in it.
    fn sizes(&self, h: usize, w: usize) -> Option<Sizes> {
        let (hp, wp) = (
            h + self.before.0 + self.after.0,
            w + self.before.1 + self.after.1,
        );
        let (sy, sx) = self.strides;
        (hp >= 3 && wp >= 3 && sy > 0 && sx > 0).then(|| Sizes {
            hp,
            wp,
            oh: (hp - 3) / sy + 1,
            ow: (wp - 3) / sx + 1,
        })
    }

    fn output_shape(&self, shape: &[usize]) -> Option<TVec<usize>> {
        let (_, h, w) = planes(shape)?;
        let s = self.sizes(h, w)?;
        Some(with_planes(shape, self.channels().1, s.oh, s.ow))
    }
}

impl Op for NarrowConv {
    fn name(&self) -> StaticName {
        "NarrowConv".into()
    }

    op_as_typed_op!();
}

impl EvalOp for NarrowConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (k, co) = self.channels();
        let (Some((i, h, w)), Some(shape)) =
            (planes(input.shape()), self.output_shape(input.shape()))
        else {
            bail!("NarrowConv: input {:?} does not fit", input.shape());
        };
        ensure!(i == k, "NarrowConv: input has {i} channels, weights {k}");
        let Some(s) = self.sizes(h, w) else {
            bail!("NarrowConv: input {:?} does not fit", input.shape());
        };
        let x = f32_slice(&input, "NarrowConv input")?;
        let weights = f32_slice(&self.weights, "NarrowConv weights")?;
        let bias = f32_slice(&self.bias, "NarrowConv bias")?;
        let plane = s.hp * s.wp;
        let padded = zero_padded(x, (h, w), self.before, self.after);
        let (sy, sx) = self.strides;
        let positions: Vec<usize> = (0..s.oh)
            .flat_map(|y| (0..s.ow).map(move |x| sy * y * s.wp + sx * x))
            .collect();
        let taps = std::array::from_fn(|t| (t / 3) * s.wp + t % 3);
        let layout = Layout {
            x: &padded,
            plane,
            taps,
            positions: &positions,
            k,
            weights,
            co,
            registers: self.registers(),
            bias,
            relu: self.relu,
        };
        let mut written = false;
        let out = f32_output(&shape, |out| written = convolve(&layout, out))?;
        ensure!(
            written,
            "NarrowConv: input {:?} does not fit",
            input.shape()
        );
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for NarrowConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        f32_output_fact("NarrowConv", inputs[0], |s| self.output_shape(s))
    }

    as_op!();
}

/// One convolution's operands, in f32 elements.
struct Layout<'a> {
    /// The zero-padded input, `k` planes `plane` apart.
    x: &'a [f32],
    plane: usize,
    /// Offsets of the nine taps from an output position's first, in the weights' order.
    taps: [usize; TAPS],
    /// Offset of each output position's first tap in a padded plane, in output order.
    positions: &'a [usize],
    k: usize,
    /// `[co / (16 * registers), k * 9, 16 * registers]`: for each tile's block of output
    /// channels, one row per input channel and tap (see [`tile_blocks`]).
    weights: &'a [f32],
    co: usize,
    /// Registers of 16 output channels per tile.
    registers: usize,
    bias: &'a [f32],
    relu: bool,
}

impl Layout<'_> {
    /// Whether every read stays in the inputs and `out` is `[co, positions]`, with `co` whole
    /// lane blocks.
    fn fits(&self, out: &[f32]) -> bool {
        let reach = self.positions.iter().max().copied().unwrap_or(0)
            + self.taps.iter().max().copied().unwrap_or(0);
        matches!(self.registers, 1 | 2 | 4 | 8)
            && self.co.is_multiple_of(LANES * self.registers)
            && self.weights.len() == self.k * TAPS * self.co
            && self.bias.len() == self.co
            && out.len() == self.co * self.positions.len()
            && (self.k == 0 || self.x.len() > (self.k - 1) * self.plane + reach)
    }

    /// The tile shape and the number of tiles of the convolution.
    fn tiles(&self) -> (Tile, usize) {
        let tile = Tile::with_registers(self.registers, self.positions.len());
        let per_block = self.positions.len().div_ceil(tile.positions);
        (tile, self.co / (LANES * tile.registers) * per_block)
    }

    /// The weight of input channel `i`, tap `t`, output channel `o`.
    fn weight(&self, i: usize, t: usize, o: usize) -> f32 {
        let (rows, block) = (self.k * TAPS, LANES * self.registers);
        self.weights[((o / block) * rows + i * TAPS + t) * block + o % block]
    }
}

/// `[rows, co]` weights (one row per input channel and tap, see [`super::tap_major`]) as
/// `[co / C, rows, C]` for tiles of `C = 16 * registers` output channels: each tile's weights
/// in one contiguous run, which it streams from start to end. (Blocks of 16 channels each,
/// read side by side, ran 1.6x slower: 36 KB apart, they all fell in the same cache sets.)
fn tile_blocks(tap_major: &Tensor, registers: usize) -> TractResult<Tensor> {
    let (rows, co) = (tap_major.shape()[0], tap_major.shape()[1]);
    let block = LANES * registers;
    ensure!(
        block > 0 && co.is_multiple_of(block),
        "NarrowConv: {co} output channels in tiles of {block}"
    );
    let w = f32_slice(tap_major, "convolution weights")?;
    let mut blocked = vec![0.0f32; rows * co];
    for (r, row) in w.chunks_exact(co).enumerate() {
        for (b, lanes) in row.chunks_exact(block).enumerate() {
            let at = (b * rows + r) * block;
            blocked[at..at + block].copy_from_slice(lanes);
        }
    }
    Tensor::from_shape(&[co / block, rows, block], &blocked)
}

/// Fills `out` (`[co, positions]`) and returns true, or returns false and leaves it untouched
/// when the operands do not fit. The tiles are split across the tract pool in scope, if any,
/// in runs of whole tiles.
fn convolve(l: &Layout, out: &mut [f32]) -> bool {
    if !l.fits(out) {
        return false;
    }
    let (shape, tiles) = l.tiles();
    if tiles == 0 {
        return true;
    }
    if !available() {
        portable(l, out);
        return true;
    }
    let base = SharedOut(out.as_mut_ptr());
    // SAFETY: the CPU has AVX-512F (`available`); `fits` bounds every read of every tile and
    // every write (output channels below `co`, positions below their count); the parts cover
    // disjoint runs of tiles, and no two tiles write the same value.
    let run = |range: std::ops::Range<usize>| unsafe {
        for tile in range {
            avx512::tile(l, shape, tile, base.get());
        }
    };
    let pool = match tract_linalg::multithread::current_tract_executor() {
        tract_linalg::multithread::Executor::MultiThread(pool) => Some(pool),
        _ => None,
    };
    let threads = pool.as_ref().map_or(1, |p| p.current_num_threads());
    let products = l.k * TAPS * l.co * l.positions.len();
    let per_part = tiles.div_ceil(threads.max(1));
    match pool {
        Some(pool) if threads > 1 && tiles > 1 && products >= MIN_SPLIT => pool.scope(|s| {
            for first in (0..tiles).step_by(per_part) {
                s.spawn(move |_| run(first..(first + per_part).min(tiles)))
            }
        }),
        _ => run(0..tiles),
    }
    true
}

/// The same arithmetic one value at a time, for CPUs without AVX-512 (the rewrite is only made
/// where AVX-512 exists, so this runs only if a plan moves between machines).
fn portable(l: &Layout, out: &mut [f32]) {
    let n = l.positions.len();
    for (o, row) in out.chunks_exact_mut(n.max(1)).enumerate().take(l.co) {
        for (v, &p) in row.iter_mut().zip(l.positions) {
            let mut acc = 0.0f32;
            for i in 0..l.k {
                for (t, &off) in l.taps.iter().enumerate() {
                    let x = l.x[i * l.plane + p + off];
                    acc = x.mul_add(l.weight(i, t, o), acc);
                }
            }
            let v1 = acc + l.bias[o];
            *v = if l.relu { v1.max(0.0) } else { v1 };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Layout, Tile, TAPS};

    /// Tile `tile` of the convolution into `out`, the whole `[co, positions]` output, with
    /// the tile shape `shape`.
    ///
    /// # Safety
    /// AVX-512F must be available, `Layout::fits` must hold for `out`'s whole output, `co`
    /// must be a multiple of `shape`'s channels and `tile` below [`Layout::tiles`].
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile(l: &Layout, shape: Tile, tile: usize, out: *mut f32) {
        match (shape.registers, shape.positions) {
            (1, 16) => tile_of::<1, 16>(l, tile, out),
            (2, 12) => tile_of::<2, 12>(l, tile, out),
            (4, 6) => tile_of::<4, 6>(l, tile, out),
            (8, 3) => tile_of::<8, 3>(l, tile, out),
            _ => tile_of::<8, 1>(l, tile, out),
        }
    }

    /// [`tile`] for `R` registers of 16 output channels by `P` positions.
    #[inline(always)]
    unsafe fn tile_of<const R: usize, const P: usize>(l: &Layout, tile: usize, out: *mut f32) {
        let per_block = l.positions.len().div_ceil(P);
        let (o0, p0) = ((tile / per_block) * 16 * R, (tile % per_block) * P);
        let n = (l.positions.len() - p0).min(P);
        // A last tile of fewer positions repeats its last one; the repeats are not stored.
        let at: [usize; P] = std::array::from_fn(|j| l.positions[p0 + j.min(n - 1)]);
        let mut acc = [[_mm512_setzero_ps(); R]; P];
        let x = l.x.as_ptr();
        // The tile's block of weights: `k * 9` rows of `16 * R`, one after the other.
        let w = l.weights.as_ptr().add(o0 * l.k * TAPS);
        for i in 0..l.k {
            let plane = x.add(i * l.plane);
            for (t, &off) in l.taps.iter().enumerate() {
                let xt = plane.add(off);
                let row = w.add((i * TAPS + t) * 16 * R);
                let wv: [__m512; R] = std::array::from_fn(|r| _mm512_loadu_ps(row.add(16 * r)));
                for (a, &p) in acc.iter_mut().zip(&at) {
                    let xv = _mm512_set1_ps(*xt.add(p));
                    for (a, w) in a.iter_mut().zip(&wv) {
                        *a = _mm512_fmadd_ps(xv, *w, *a);
                    }
                }
            }
        }
        // Bias and ReLU on the registers, then each position's values to their output planes.
        let zero = _mm512_setzero_ps();
        let bias: [__m512; R] =
            std::array::from_fn(|r| _mm512_loadu_ps(l.bias.as_ptr().add(o0 + 16 * r)));
        let mut values = [[[0.0f32; 16]; R]; P];
        for (a, dst) in acc.iter().zip(values.iter_mut()) {
            for ((&v, b), d) in a.iter().zip(&bias).zip(dst.iter_mut()) {
                let mut v = _mm512_add_ps(v, *b);
                if l.relu {
                    v = _mm512_max_ps(v, zero);
                }
                _mm512_storeu_ps(d.as_mut_ptr(), v);
            }
        }
        let stride = l.positions.len();
        for c in 0..16 * R {
            let row = out.add((o0 + c) * stride + p0);
            for (j, v) in values.iter().take(n).enumerate() {
                *row.add(j) = v[c / 16][c % 16];
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod avx512 {
    use super::{Layout, Tile};

    /// Never called: `available` is false off x86_64.
    pub(super) unsafe fn tile(_: &Layout, _: Tile, _: usize, _: *mut f32) {
        unreachable!("AVX-512 kernel called off x86_64")
    }
}

/// Widest output [`replace_narrow`] takes: at 24 and more [`super::Conv3x3`] and
/// [`super::StridedConv`] fill their row-wise registers.
const MAX_WIDTH: usize = 24;

/// Replaces every f32 3x3 convolution of a decluttered `model` with stride 1 or 2, dilation 1,
/// explicit or no padding, one group, a multiple of 16 output channels, constant weights and
/// bias, over a `[I, H, W]` or `[1, I, H, W]` input, into outputs narrower than
/// [`MAX_WIDTH`], with [`NarrowConv`], taking in a ReLU that follows it alone. Does nothing on
/// CPUs without AVX-512.
pub fn replace_narrow(model: &mut TypedModel) -> TractResult<()> {
    replace_convolutions(model, "narrow", narrow_at, |op, relu| NarrowConv {
        relu,
        ..op
    })
}

fn narrow_at(model: &TypedModel, id: usize) -> TractResult<Option<(OutletId, NarrowConv)>> {
    let Some(c) = conv_node(model, id)? else {
        return Ok(None);
    };
    let (i, _, w_in) = c.planes;
    let stride = matches!(c.strides, (1, 1) | (2, 2));
    if c.group != 1 || !stride || c.kernel != (3, 3) || !c.bias.len().is_multiple_of(LANES) {
        return Ok(None);
    }
    let declared_positions = c.declared.iter().rev().take(2).product();
    let tile = Tile::for_output(declared_positions, c.bias.len());
    let op = NarrowConv {
        weights: tile_blocks(&tap_major(&c.weights)?, tile.registers)?.into_arc_tensor(),
        bias: Tensor::from_shape(&[c.bias.len()], &c.bias)?.into_arc_tensor(),
        strides: c.strides,
        before: c.before,
        after: c.after,
        relu: false,
    };
    let Some(out) = op.output_shape(&c.shape).filter(|s| *s == c.declared) else {
        return Ok(None);
    };
    let w_out = out[out.len() - 1];
    if w_out >= MAX_WIDTH || tract_direct_spatial(i * TAPS, w_in, w_out) {
        return Ok(None);
    }
    Ok(Some((c.input, op)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition in f64, for one `[I, H, W]` input and `[I * 9, O]` weights.
    fn reference(
        op: &NarrowConv,
        weights: &[f32],
        x: &[f32],
        (i, h, w): (usize, usize, usize),
    ) -> Vec<f64> {
        let (k, co) = op.channels();
        assert_eq!(k, i);
        let s = op.sizes(h, w).expect("fits");
        let bias = f32_slice(&op.bias, "b").expect("b");
        let mut out = Vec::new();
        for o in 0..co {
            for y in 0..s.oh {
                for xo in 0..s.ow {
                    let mut acc = f64::from(bias[o]);
                    for c in 0..i {
                        for t in 0..TAPS {
                            let (dy, dx) = (t / 3, t % 3);
                            let iy = (op.strides.0 * y + dy) as isize - op.before.0 as isize;
                            let ix = (op.strides.1 * xo + dx) as isize - op.before.1 as isize;
                            if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                                let v = x[c * h * w + iy as usize * w + ix as usize];
                                let wt = weights[(c * TAPS + t) * co + o];
                                acc += f64::from(v) * f64::from(wt);
                            }
                        }
                    }
                    out.push(if op.relu { acc.max(0.0) } else { acc });
                }
            }
        }
        out
    }

    use super::super::test_values as values;

    /// The op and its weights as `[I * 9, O]`.
    fn op(
        i: usize,
        positions: usize,
        co: usize,
        strides: (usize, usize),
        pads: [usize; 4],
        relu: bool,
    ) -> (NarrowConv, Vec<f32>) {
        let w = values(i * TAPS * co, 1);
        let registers = Tile::for_output(positions, co).registers;
        let tap_major = Tensor::from_shape(&[i * TAPS, co], &w).expect("weights");
        let op = NarrowConv {
            weights: tile_blocks(&tap_major, registers)
                .expect("tile blocks")
                .into_arc_tensor(),
            bias: Tensor::from_shape(&[co], &values(co, 2))
                .expect("bias")
                .into_arc_tensor(),
            strides,
            before: (pads[0], pads[1]),
            after: (pads[2], pads[3]),
            relu,
        };
        (op, w)
    }

    #[test]
    fn every_tile_shape_matches_the_definition_and_the_portable_path() {
        // Output sizes of 289, 64, 16, 12, 9, 3 and 1 positions (every tile shape, with whole
        // and partial last tiles); 16 to 256 channels; both strides; symmetric, one-sided and
        // no padding.
        let cases = [
            ((1, 1), [1, 1, 1, 1], (5, 17, 17), 64),
            ((1, 1), [1, 1, 1, 1], (3, 8, 8), 128),
            ((1, 1), [1, 1, 1, 1], (3, 4, 4), 256),
            ((1, 1), [1, 1, 1, 1], (2, 3, 4), 32),
            ((1, 1), [1, 1, 1, 1], (2, 3, 3), 16),
            ((1, 1), [1, 1, 1, 1], (2, 1, 1), 128),
            ((2, 2), [1, 1, 1, 1], (4, 17, 17), 64),
            ((2, 2), [0, 0, 1, 1], (3, 8, 8), 256),
            ((2, 2), [0, 0, 0, 0], (2, 9, 7), 48),
            ((1, 1), [0, 0, 0, 0], (1, 5, 8), 128),
        ];
        for (strides, pads, (i, h, w), co) in cases {
            for relu in [false, true] {
                let positions = ((h + pads[0] + pads[2] - 3) / strides.0 + 1)
                    * ((w + pads[1] + pads[3] - 3) / strides.1 + 1);
                let (op, tap_major) = op(i, positions, co, strides, pads, relu);
                let x = values(i * h * w, 3);
                let input = Tensor::from_shape(&[1, i, h, w], &x).expect("input");
                let out = op
                    .eval(&EvalContext::out_of_plan(), tvec!(input.into_tvalue()))
                    .expect("eval");
                let got = f32_slice(&out[0], "out").expect("out");
                let want = reference(&op, &tap_major, &x, (i, h, w));
                assert_eq!(got.len(), want.len(), "{strides:?} {pads:?} {h}x{w}");
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    let err = (f64::from(*g) - w).abs();
                    assert!(err < 1e-3, "{strides:?} {pads:?} #{j}: off by {err}");
                }
                // The vector path and the one-value-at-a-time path: the same bits.
                let s = op.sizes(h, w).expect("fits");
                let plane = s.hp * s.wp;
                let mut padded = vec![0.0f32; i * plane];
                for c in 0..i {
                    for y in 0..h {
                        for xx in 0..w {
                            padded[c * plane + (y + pads[0]) * s.wp + xx + pads[1]] =
                                x[c * h * w + y * w + xx];
                        }
                    }
                }
                let positions: Vec<usize> = (0..s.oh)
                    .flat_map(|y| (0..s.ow).map(move |xx| (y * strides.0 * s.wp, xx)))
                    .map(|(row, xx)| row + strides.1 * xx)
                    .collect();
                let layout = Layout {
                    x: &padded,
                    plane,
                    taps: std::array::from_fn(|t| (t / 3) * s.wp + t % 3),
                    positions: &positions,
                    k: i,
                    weights: f32_slice(&op.weights, "w").expect("w"),
                    co,
                    registers: op.registers(),
                    bias: f32_slice(&op.bias, "b").expect("b"),
                    relu,
                };
                let mut slow = vec![f32::NAN; co * positions.len()];
                portable(&layout, &mut slow);
                let same = got
                    .iter()
                    .zip(&slow)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{strides:?} {pads:?} {h}x{w}: paths differ");
            }
        }
    }

    #[test]
    fn tiles_divide_the_channels_and_waste_few_positions() {
        let t = |registers, positions| Tile {
            registers,
            positions,
        };
        // With 8 registers, a single output is a tile of its own.
        assert_eq!(Tile::with_registers(8, 1), t(8, 1));
        assert_eq!(Tile::with_registers(8, 2), t(8, 3));
        assert_eq!(Tile::for_output(289, 64), t(4, 6));
        assert_eq!(Tile::for_output(64, 128), t(4, 6));
        assert_eq!(Tile::for_output(289, 32), t(2, 12));
        assert_eq!(Tile::for_output(289, 48), t(1, 16));
        assert_eq!(Tile::for_output(16, 256), t(1, 16));
        assert_eq!(Tile::for_output(9, 256), t(8, 3));
        assert_eq!(Tile::for_output(9, 64), t(4, 6));
        assert_eq!(Tile::for_output(1, 256), t(8, 1));
        assert_eq!(Tile::for_output(1, 64), t(4, 6));
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        let (op, _) = op(2, 289, 64, (1, 1), [1, 1, 1, 1], false);
        assert_eq!(
            op.output_shape(&[1, 2, 17, 17]).as_deref(),
            Some(&[1, 64, 17, 17][..])
        );
        let strided = NarrowConv {
            strides: (2, 2),
            ..op.clone()
        };
        assert_eq!(
            strided.output_shape(&[2, 17, 17]).as_deref(),
            Some(&[64, 9, 9][..])
        );
        // Too small for the kernel once padded.
        let bare = NarrowConv {
            before: (0, 0),
            after: (0, 0),
            ..op.clone()
        };
        assert_eq!(bare.output_shape(&[1, 2, 2, 5]), None);
        // Output channels that are not whole lane blocks are refused, the output untouched.
        let x = vec![1.0f32; 9];
        let w = vec![1.0f32; 9 * 24];
        let b = vec![0.0f32; 24];
        let layout = Layout {
            x: &x,
            plane: 9,
            taps: std::array::from_fn(|t| (t / 3) * 3 + t % 3),
            positions: &[0],
            k: 1,
            weights: &w,
            co: 24,
            registers: 1,
            bias: &b,
            relu: false,
        };
        let mut out = vec![f32::NAN; 24];
        assert!(!convolve(&layout, &mut out));
        assert!(out.iter().all(|v| v.is_nan()));
        assert!(tile_blocks(&Tensor::zero::<f32>(&[9, 24]).expect("zero"), 1).is_err());
        assert!(tile_blocks(&Tensor::zero::<f32>(&[9, 32]).expect("zero"), 4).is_err());
    }
}
