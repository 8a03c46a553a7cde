//! The wide stride-2 3x3 convolutions tract runs through its direct spatial kernel
//! (`DirectSpatialConv`), with that kernel's rounding, on AVX-512.
//!
//! tract sends a convolution there when its input and output rows are at least 128 wide and it
//! has at most 576 inputs per output point: CenterFace's first layer (3 -> 32 channels, 256x320
//! -> 128x160) took 1.0 ms there against onnxruntime's 0.46. That kernel mixes two roundings in
//! one convolution. Within a run of output points along a row it computes 8 points to an AVX2
//! register with one fused multiply-add per input channel and tap, but the last points of the
//! run (past [`fused_points`]) one at a time, with a multiply and then an add; runs that go down
//! a column (the left and right borders) are all multiply-then-add. Each sum starts from the
//! bias and takes the taps inside the input in the kernel's order, channel by channel. This op
//! keeps all of that, point by point, so its outputs are the same bits. It computes 16 points
//! to a register, two registers and eight output channels at a time, with the fused or the
//! separate rounding as the point needs, each zone's tap offsets and weights laid out once
//! (`avx512::Zone`): 0.65-0.73 ms for that layer and its ReLU (tract's kernel: 1.03 + 0.08;
//! before the zone layout, 0.83-1.07 in the same three alternating runs of
//! `cargo bench --bench model_ops -- centerface` on a busy machine).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::{conv_node, tract_direct_spatial};
use super::{f32_output_fact, f32_slice, planes, replace_convolutions, with_planes};

/// The kernel side this op takes.
const K: usize = 3;
/// The stride this op takes, on both axes.
const S: usize = 2;

/// `out[o, y, x] = relu?(bias[o] + sum_{i, dy, dx} w[o, i, dy, dx] * x[i, 2y + dy - top,
/// 2x + dx - left])` over the taps inside the input, for an f32 `[I, H, W]` or `[1, I, H, W]`
/// input, rounded as tract's direct spatial kernel rounds it (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpatialConv {
    /// `[O, I, 3, 3]`, as the model has them.
    pub weights: Arc<Tensor>,
    /// `[O]`.
    pub bias: Arc<Tensor>,
    /// Rows and columns of zeros before the input.
    pub before: (usize, usize),
    /// Rows and columns of zeros after the input.
    pub after: (usize, usize),
    /// Whether a ReLU follows.
    pub relu: bool,
}

/// Output points of one axis whose inside taps are the same: tract's `PatchAxis` regions.
#[derive(Debug, Clone, PartialEq)]
struct Region {
    range: std::ops::Range<usize>,
    /// Which of the kernel's 3 taps along this axis fall inside the input.
    inside: [bool; K],
}

/// Output size of one axis: `(n + before + after - 3) / 2 + 1`, when the kernel fits.
fn output_len(n: usize, before: usize, after: usize) -> Option<usize> {
    let padded = n + before + after;
    (padded >= K).then(|| (padded - K) / S + 1)
}

/// The regions of one axis of `n` inputs with `before` zeros before, in output order: runs of
/// consecutive output points with the same taps inside the input, as tract groups them.
fn regions(n: usize, before: usize, out: usize) -> Vec<Region> {
    let inside = |o: usize| -> [bool; K] {
        std::array::from_fn(|t| {
            let at = o * S + t;
            at >= before && at - before < n
        })
    };
    let mut v: Vec<Region> = Vec::new();
    for o in 0..out {
        let mask = inside(o);
        match v.last_mut() {
            Some(r) if r.inside == mask && r.range.end == o => r.range.end = o + 1,
            _ => v.push(Region {
                range: o..o + 1,
                inside: mask,
            }),
        }
    }
    v
}

/// How many leading points of a run of `len` output points along a row tract's `conv_w4`
/// computes with fused multiply-adds at input stride 2: 16 at a time while 16 more and the 9
/// inputs the next load reads fit, then 8 at a time.
fn fused_points(len: usize) -> usize {
    const BLOCK: usize = 9;
    let mut i = 0;
    while i + 8 + BLOCK <= len {
        i += 16;
    }
    while i + BLOCK <= len {
        i += 8;
    }
    i
}

/// One convolution's checked operands.
#[derive(Clone, Copy)]
struct Operands<'a> {
    x: &'a [f32],
    /// Input channels, rows, columns.
    i: usize,
    h: usize,
    w: usize,
    weights: &'a [f32],
    bias: &'a [f32],
    before: (usize, usize),
    /// Output rows and columns.
    oh: usize,
    ow: usize,
    relu: bool,
}

impl SpatialConv {
    fn channels(&self) -> (usize, usize) {
        let s = self.weights.shape();
        (s[1], s[0])
    }

    fn output_shape(&self, shape: &[usize]) -> Option<TVec<usize>> {
        let (_, h, w) = planes(shape)?;
        let oh = output_len(h, self.before.0, self.after.0)?;
        let ow = output_len(w, self.before.1, self.after.1)?;
        Some(with_planes(shape, self.channels().1, oh, ow))
    }
}

impl Op for SpatialConv {
    fn name(&self) -> StaticName {
        "SpatialConv".into()
    }

    op_as_typed_op!();
}

impl EvalOp for SpatialConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (k, co) = self.channels();
        let (Some((i, h, w)), Some(shape)) =
            (planes(input.shape()), self.output_shape(input.shape()))
        else {
            bail!("SpatialConv: input {:?} does not fit", input.shape());
        };
        ensure!(i == k, "SpatialConv: input has {i} channels, weights {k}");
        let rank = shape.len();
        let ops = Operands {
            x: f32_slice(&input, "SpatialConv input")?,
            i,
            h,
            w,
            weights: f32_slice(&self.weights, "SpatialConv weights")?,
            bias: f32_slice(&self.bias, "SpatialConv bias")?,
            before: self.before,
            oh: shape[rank - 2],
            ow: shape[rank - 1],
            relu: self.relu,
        };
        ensure!(
            ops.x.len() == i * h * w && ops.weights.len() == co * i * K * K && ops.bias.len() == co,
            "SpatialConv: operands do not fit"
        );
        // Not zeroed first: CenterFace's first layer would clear 2.6 MB that `convolve` then
        // overwrites, since `regions` cuts each axis into runs that cover all of it and every
        // point of every output channel is computed.
        // SAFETY: f32 has no invalid bit patterns, and every value is written before the tensor
        // is read.
        let mut out = unsafe { Tensor::uninitialized::<f32>(&shape)? };
        convolve(ops, out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for SpatialConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        f32_output_fact("SpatialConv", inputs[0], |s| self.output_shape(s))
    }

    as_op!();
}

/// Output channels computed together by the vector path.
const GROUP: usize = 8;
/// Fewest multiply-adds worth splitting across threads (as `direct.rs`).
const MIN_SPLIT: usize = 4 << 20;

/// Every output value of `ops` into `out` (`[O, oh, ow]`, checked by the caller), split by
/// groups of output channels across the tract pool in scope, if any.
fn convolve(ops: Operands, out: &mut [f32]) {
    let plane = ops.oh * ops.ow;
    let co = ops.bias.len();
    if plane == 0 || co == 0 {
        return;
    }
    let pool = match tract_linalg::multithread::current_tract_executor() {
        tract_linalg::multithread::Executor::MultiThread(pool) => Some(pool),
        _ => None,
    };
    let threads = pool.as_ref().map_or(1, |p| p.current_num_threads());
    let per_part = co.div_ceil(threads.max(1)).div_ceil(GROUP) * GROUP;
    let run = |first: usize, part: &mut [f32]| channels(ops, first, part);
    match pool {
        Some(pool) if threads > 1 && per_part < co && co * plane * ops.i * K * K >= MIN_SPLIT => {
            pool.scope(|s| {
                for (n, part) in out.chunks_mut(per_part * plane).enumerate() {
                    s.spawn(move |_| run(n * per_part, part));
                }
            })
        }
        _ => run(0, out),
    }
}

/// Output channels `first ..` (as many as `out` holds planes of) of the convolution.
fn channels(ops: Operands, first: usize, out: &mut [f32]) {
    let plane = ops.oh * ops.ow;
    let rows = regions(ops.h, ops.before.0, ops.oh);
    let cols = regions(ops.w, ops.before.1, ops.ow);
    let count = out.len() / plane;
    for r in &rows {
        for c in &cols {
            // The taps of this zone, channel by channel, in the kernel's row-major order.
            let taps: Vec<(usize, usize, usize)> = (0..ops.i)
                .flat_map(|ch| (0..K).map(move |dy| (ch, dy)))
                .filter(|&(_, dy)| r.inside[dy])
                .flat_map(|(ch, dy)| (0..K).map(move |dx| (ch, dy, dx)))
                .filter(|&(_, _, dx)| c.inside[dx])
                .collect();
            // tract scans the zone with every tap inside row by row, any other along its
            // longer axis (the columns when equal); only runs along a row have fused points.
            let inside = r.inside.iter().chain(&c.inside).all(|&t| t);
            let along_rows = inside || c.range.len() >= r.range.len();
            let fused = if along_rows {
                fused_points(c.range.len())
            } else {
                0
            };
            let split = c.range.start + fused;
            #[cfg(target_arch = "x86_64")]
            let zone = avx512::Zone::new(ops, &taps, first, count);
            for y in r.range.clone() {
                #[cfg(target_arch = "x86_64")]
                let o = zone.row(ops, y, c.range.start..split, split..c.range.end, out);
                #[cfg(not(target_arch = "x86_64"))]
                let o = 0;
                for oc in o..count {
                    let dst = &mut out[oc * plane..(oc + 1) * plane];
                    scalar(ops, &taps, first + oc, y, c.range.start..split, true, dst);
                    scalar(ops, &taps, first + oc, y, split..c.range.end, false, dst);
                }
            }
        }
    }
}

/// Points `xs` of output row `y` of channel `oc`, one at a time: the sum from the bias over
/// `taps`, each with a fused multiply-add (`fused`) or a multiply and then an add.
fn scalar(
    ops: Operands,
    taps: &[(usize, usize, usize)],
    oc: usize,
    y: usize,
    xs: std::ops::Range<usize>,
    fused: bool,
    dst: &mut [f32],
) {
    for xo in xs {
        let mut sum = ops.bias[oc];
        for &(ch, dy, dx) in taps {
            let iy = y * S + dy - ops.before.0;
            let ix = xo * S + dx - ops.before.1;
            let v = ops.x[(ch * ops.h + iy) * ops.w + ix];
            let k = ops.weights[((oc * ops.i + ch) * K + dy) * K + dx];
            sum = if fused {
                v.mul_add(k, sum)
            } else {
                sum + k * v
            };
        }
        dst[y * ops.ow + xo] = if ops.relu { sum.max(0.0) } else { sum };
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{Operands, GROUP, K, S};

    /// One zone's taps as the vector kernel reads them, for the output channels `first ..`
    /// that the caller's `out` holds whole groups of: where each tap's input lies, and each
    /// group's weights tap by tap. Made once per zone, so that the loop over a zone's taps
    /// adds an offset and reads eight consecutive weights instead of recomputing both from
    /// the channel, row and column at every tap of every chunk of points.
    pub(super) struct Zone {
        /// Per tap: the input's offset from output point (0, 0) of the zone's row, in values
        /// (negative where the padding lies before it).
        offsets: Vec<isize>,
        /// Per group of [`GROUP`] output channels, per tap, the group's weights.
        weights: Vec<f32>,
        first: usize,
        /// Output channels the vector kernel computes: whole groups, none without AVX-512F.
        channels: usize,
    }

    impl Zone {
        pub(super) fn new(
            ops: Operands,
            taps: &[(usize, usize, usize)],
            first: usize,
            count: usize,
        ) -> Zone {
            let channels = if std::arch::is_x86_feature_detected!("avx512f") {
                count / GROUP * GROUP
            } else {
                0
            };
            let origin = (ops.before.0 * ops.w + ops.before.1) as isize;
            let offsets = taps
                .iter()
                .map(|&(ch, dy, dx)| ((ch * ops.h + dy) * ops.w + dx) as isize - origin)
                .collect();
            let weights = (0..channels / GROUP)
                .flat_map(|g| taps.iter().map(move |&t| (g, t)))
                .flat_map(|(g, (ch, dy, dx))| {
                    (0..GROUP).map(move |c| {
                        let oc = first + g * GROUP + c;
                        ops.weights[((oc * ops.i + ch) * K + dy) * K + dx]
                    })
                })
                .collect();
            Zone {
                offsets,
                weights,
                first,
                channels,
            }
        }

        /// Row `y`'s points `fused` and `rest` of the zone's channels; returns how many of
        /// `out`'s channels were computed (0 without AVX-512F).
        pub(super) fn row(
            &self,
            ops: Operands,
            y: usize,
            fused: Range<usize>,
            rest: Range<usize>,
            out: &mut [f32],
        ) -> usize {
            let plane = ops.oh * ops.ow;
            let taps = self.offsets.len();
            for g in 0..self.channels / GROUP {
                let o = g * GROUP;
                let group = Group {
                    x: ops.x.as_ptr().wrapping_add(y * S * ops.w),
                    offsets: &self.offsets,
                    weights: &self.weights[g * taps * GROUP..(g + 1) * taps * GROUP],
                    bias: &ops.bias[self.first + o..self.first + o + GROUP],
                    relu: ops.relu,
                    out: out[o * plane..(o + GROUP) * plane]
                        .as_mut_ptr()
                        .wrapping_add(y * ops.ow),
                    plane,
                };
                // SAFETY: AVX-512F is present (`channels` is 0 otherwise); every tap lies
                // inside the input for every point of the zone, so every load is in bounds,
                // and `out` holds the group's output planes, whose row `y` holds `fused` and
                // `rest`.
                unsafe {
                    points::<true>(&group, fused.clone());
                    points::<false>(&group, rest.clone());
                };
            }
            self.channels
        }
    }

    /// One group of output channels on one output row.
    struct Group<'a> {
        /// The input at the zone's row's point (0, 0) before the offsets: row `y * S`.
        x: *const f32,
        offsets: &'a [isize],
        /// Per tap, the group's [`GROUP`] weights.
        weights: &'a [f32],
        bias: &'a [f32],
        relu: bool,
        /// The group's first output plane at the row.
        out: *mut f32,
        plane: usize,
    }

    /// Output registers (16 points each) a pass computes per channel.
    const V: usize = 2;

    /// Points `xs` of the group's row, each the bias and then, per tap, one fused multiply-add
    /// (`FUSED`) or a multiply and then an add: the same bits as one point at a time.
    ///
    /// # Safety
    /// AVX-512F must be available; for every tap and every point of `xs` the input value read
    /// must lie inside the input; the group's `GROUP` output planes must hold the points.
    #[target_feature(enable = "avx512f")]
    unsafe fn points<const FUSED: bool>(group: &Group, xs: Range<usize>) {
        let mut x0 = xs.start;
        while x0 < xs.end {
            let n = (xs.end - x0).min(16 * V);
            // Only the registers that hold points are multiplied.
            match n.div_ceil(16) {
                1 => chunk::<FUSED, 1>(group, x0, n),
                _ => chunk::<FUSED, V>(group, x0, n),
            }
            x0 += n;
        }
    }

    /// Points `x0 .. x0 + n` (`n` at most `16 * R`) as [`points`] computes them.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn chunk<const FUSED: bool, const R: usize>(group: &Group, x0: usize, n: usize) {
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let zero = _mm512_setzero_ps();
        // Points per register and the lanes of the two loads that hold their inputs (the
        // inputs of `m` points span `2m - 1` values).
        let lanes: [usize; R] = std::array::from_fn(|v| n.saturating_sub(16 * v).min(16));
        let masks: [(u16, u16, u16); R] = std::array::from_fn(|v| {
            let m = lanes[v];
            let span = (2 * m).saturating_sub(1);
            (
                low_bits(m),
                low_bits(span.min(16)),
                low_bits(span.saturating_sub(16)),
            )
        });
        let mut acc = [[zero; R]; GROUP];
        for (g, a) in acc.iter_mut().enumerate() {
            *a = [_mm512_set1_ps(*group.bias.get_unchecked(g)); R];
        }
        let start = group.x.wrapping_add(x0 * S);
        let mut w = group.weights.as_ptr();
        for &offset in group.offsets {
            let at = start.wrapping_offset(offset);
            let inputs: [__m512; R] = std::array::from_fn(|v| {
                let (_, lo, hi) = masks[v];
                let p = at.wrapping_add(16 * S * v);
                let a = _mm512_maskz_loadu_ps(lo, p);
                let b = _mm512_maskz_loadu_ps(hi, p.wrapping_add(16));
                _mm512_permutex2var_ps(a, even, b)
            });
            for (g, a) in acc.iter_mut().enumerate() {
                let k = _mm512_set1_ps(*w.add(g));
                for (a, x) in a.iter_mut().zip(&inputs) {
                    *a = if FUSED {
                        _mm512_fmadd_ps(*x, k, *a)
                    } else {
                        _mm512_add_ps(*a, _mm512_mul_ps(k, *x))
                    };
                }
            }
            w = w.add(GROUP);
        }
        for (g, a) in acc.iter().enumerate() {
            let dst = group.out.add(g * group.plane + x0);
            for (v, &r) in a.iter().enumerate() {
                let r = if group.relu {
                    _mm512_max_ps(r, zero)
                } else {
                    r
                };
                _mm512_mask_storeu_ps(dst.add(16 * v), masks[v].0, r);
            }
        }
    }

    /// A mask of the lowest `n` (at most 16) lanes.
    fn low_bits(n: usize) -> u16 {
        if n >= 16 {
            u16::MAX
        } else {
            (1u16 << n) - 1
        }
    }
}

/// Replaces every f32 convolution of a decluttered `model` that tract would run through its
/// direct spatial kernel and this op covers (3x3, stride 2, dilation 1, explicit or no padding,
/// one group, a multiple of 4 output channels, constant weights and bias, over a `[I, H, W]` or
/// `[1, I, H, W]` input) with [`SpatialConv`], taking in a ReLU that follows it alone. Does
/// nothing on CPUs without AVX-512.
pub fn replace_spatial(model: &mut TypedModel) -> TractResult<()> {
    replace_convolutions(model, "spatial", spatial_at, |op, relu| SpatialConv {
        relu,
        ..op
    })
}

fn spatial_at(model: &TypedModel, id: usize) -> TractResult<Option<(OutletId, SpatialConv)>> {
    let Some(c) = conv_node(model, id)? else {
        return Ok(None);
    };
    let (i, _, w_in) = c.planes;
    if c.group != 1 || c.strides != (S, S) || c.kernel != (K, K) || c.weights.shape()[0] % 4 != 0 {
        return Ok(None);
    }
    let op = SpatialConv {
        weights: c.weights,
        bias: Tensor::from_shape(&[c.bias.len()], &c.bias)?.into_arc_tensor(),
        before: c.before,
        after: c.after,
        relu: false,
    };
    let Some(out) = op.output_shape(&c.shape).filter(|s| *s == c.declared) else {
        return Ok(None);
    };
    // Only where tract would use its direct spatial kernel: elsewhere its arithmetic is
    // im2col's, which `StridedConv` keeps.
    if !tract_direct_spatial(i * K * K, w_in, out[out.len() - 1]) {
        return Ok(None);
    }
    Ok(Some((c.input, op)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::nn::DataFormat;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 - 1001.0) / 517.0)
            .collect()
    }

    /// A one-convolution model: `[1, i, h, w]` in, a 3x3 stride-2 convolution to `co` channels
    /// with the given padding, then a ReLU.
    fn conv_model(
        (i, h, w): (usize, usize, usize),
        co: usize,
        before: (usize, usize),
        after: (usize, usize),
    ) -> TypedModel {
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([1, i, h, w])).expect("source");
        let weights = Tensor::from_shape(&[co, i, K, K], &values(co * i * K * K, 2)).expect("w");
        let bias = Tensor::from_shape(&[co], &values(co, 3)).expect("b");
        let wk = m.add_const("w", weights).expect("w");
        let bk = m.add_const("b", bias).expect("b");
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec![K, K],
                padding: PaddingSpec::Explicit(tvec![before.0, before.1], tvec![after.0, after.1]),
                dilations: None,
                strides: Some(tvec![S, S]),
                input_channels: i,
                output_channels: co,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let y = m.wire_node("conv", conv, &[x, wk, bk]).expect("conv")[0];
        let zero = m
            .add_const(
                "zero",
                tensor0(0.0f32).broadcast_into_rank(4).expect("rank"),
            )
            .expect("zero");
        let relu = m
            .wire_node("relu", tract_onnx::tract_core::ops::math::max(), &[y, zero])
            .expect("relu")[0];
        m.select_output_outlets(&[relu]).expect("outputs");
        m
    }

    #[test]
    fn fused_points_follow_tracts_conv_w4_at_stride_two() {
        assert_eq!(fused_points(8), 0);
        assert_eq!(fused_points(9), 8);
        assert_eq!(fused_points(16), 8);
        assert_eq!(fused_points(17), 16);
        assert_eq!(fused_points(159), 152);
        assert_eq!(fused_points(160), 152);
        assert_eq!(fused_points(161), 160);
    }

    #[test]
    fn the_same_bits_as_tracts_direct_spatial_kernel() {
        if !super::super::direct_convolutions_available() {
            return;
        }
        // CenterFace's first layer, odd sizes and paddings; 32 and 12 output channels (the
        // vector groups of 8 and the one-at-a-time rest).
        for (input, co, before, after) in [
            ((3, 256, 320), 32, (1, 1), (1, 1)),
            ((3, 261, 290), 12, (0, 1), (2, 0)),
            ((2, 40, 259), 8, (1, 0), (0, 1)),
            // Portrait: more rows than columns in the zone with every tap inside.
            ((3, 320, 256), 16, (1, 1), (1, 1)),
        ] {
            let model = conv_model(input, co, before, after);
            let (i, h, w) = input;
            let x: Tensor =
                tract_ndarray::ArrayD::from_shape_vec(vec![1, i, h, w], values(i * h * w, 1))
                    .expect("x")
                    .into();
            let tracts = model.clone().into_optimized().expect("opt");
            let names: Vec<String> = tracts
                .nodes()
                .iter()
                .map(|n| n.op().name().to_string())
                .collect();
            assert!(names.iter().any(|n| n == "DirectSpatialConv"), "{names:?}");
            let mut ours = model;
            replace_spatial(&mut ours).expect("rewrite");
            let ours = ours.into_optimized().expect("opt");
            let names: Vec<String> = ours
                .nodes()
                .iter()
                .map(|n| n.op().name().to_string())
                .collect();
            assert_eq!(
                names.iter().filter(|n| *n == "SpatialConv").count(),
                1,
                "{names:?}"
            );
            assert!(
                !names.iter().any(|n| n == "Max" || n.contains("Max")),
                "{names:?}"
            );
            let run = |m: TypedModel| {
                m.into_runnable()
                    .expect("plan")
                    .run(tvec!(x.clone().into()))
                    .expect("run")[0]
                    .to_plain_array_view::<f32>()
                    .expect("f32")
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<u32>>()
            };
            let (a, b) = (run(tracts), run(ours));
            assert_eq!(a.len(), b.len());
            let differ = a.iter().zip(&b).filter(|(p, q)| p != q).count();
            assert_eq!(differ, 0, "{input:?} -> {co}: {differ} values differ");
        }
    }
}
