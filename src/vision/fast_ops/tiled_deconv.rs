//! Transposed convolutions whose kernel equals their stride, with the batch norm, ReLU and
//! sum that follow them, as one product and one pass over the output.
//!
//! CenterFace's neck upsamples three times with a 2x2, stride-2 `ConvTranspose` of 24
//! channels, each followed by a batch norm (`Mul`, `Add`), a ReLU and the sum with a lateral
//! branch. tract runs that as a packing pass, a matrix product, a `DeconvSum` that scatters the
//! product's rows into the output, and a chain of four element-wise steps over the output:
//! 0.55 ms at one thread, against 0.31 for onnxruntime (0.21 in its three `ConvTranspose`, into
//! which it folds the batch norms, and 0.10 in the `Add` and `Relu` nodes). When the kernel
//! equals the stride every output pixel receives exactly one tap, so the product is a 1x1
//! convolution into `O * kh * kw` rows (one per output channel and tap), here
//! [`super::direct`]'s, and the scatter applies the element-wise steps on the way. Each step is
//! tract's own arithmetic in tract's order (the product from zero, `+ bias`, `* scale`,
//! `+ shift`, the ReLU, `+ other`), so the outputs are the same bits.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Deconv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

use super::direct::{available, convolve, Geometry};
use super::{
    channel_operand, constant_weights, f32_slice, other_operand, padding, past_relu, planes,
    sole_consumer, substitute_on, with_planes,
};

/// `out[o, y * kh + ky, x * kw + kx] = f(bias[o] + sum_i w[o, i, ky, kx] * x[i, y, x])` over a
/// `[I, H, W]` or `[1, I, H, W]` f32 input, where `f` applies the optional steps below in
/// order; with `residual`, the op's second input (of the output's shape) is added last.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TiledDeconv {
    /// `[I, O * kh * kw]`: column `(o * kh + ky) * kw + kx` holds output channel `o`'s weights
    /// for tap `(ky, kx)`, the layout the direct kernel reads.
    pub weights: Arc<Tensor>,
    /// `[O]`: the transposed convolution's bias.
    pub bias: Arc<Tensor>,
    /// `(kh, kw)`, which are also the strides.
    pub kernel: (usize, usize),
    /// `[O]`: a following batch norm's `Mul`.
    pub scale: Option<Arc<Tensor>>,
    /// `[O]`: a following batch norm's `Add`.
    pub shift: Option<Arc<Tensor>>,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// Whether a second input is added to the result.
    pub residual: bool,
}

impl TiledDeconv {
    /// Output channels.
    fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// The output shape for an input of `shape`, or `None` when it does not fit the weights.
    fn output_shape(&self, shape: &[usize]) -> Option<TVec<usize>> {
        let (i, h, w) = planes(shape)?;
        let (kh, kw) = self.kernel;
        (i == self.weights.shape()[0]).then(|| with_planes(shape, self.outputs(), h * kh, w * kw))
    }

    /// Writes every output value from the product (`O * kh * kw` rows of `h * w`): each
    /// output row `y * kh + ky` interleaves the rows of taps `(ky, 0..kw)`.
    fn scatter(
        &self,
        product: &[f32],
        (h, w): (usize, usize),
        residual: Option<&[f32]>,
        out: &mut [f32],
    ) -> TractResult<()> {
        let (kh, kw) = self.kernel;
        let (oh, ow, hw) = (h * kh, w * kw, h * w);
        let bias = f32_slice(&self.bias, "TiledDeconv bias")?;
        let scale = self
            .scale
            .as_ref()
            .map(|t| f32_slice(t, "TiledDeconv scale"))
            .transpose()?;
        let shift = self
            .shift
            .as_ref()
            .map(|t| f32_slice(t, "TiledDeconv shift"))
            .transpose()?;
        if oh * ow == 0 {
            return Ok(());
        }
        let planes = out.chunks_exact_mut(oh * ow);
        for ((o, plane), taps) in planes.enumerate().zip(product.chunks_exact(kh * kw * hw)) {
            let steps = Steps {
                bias: bias[o],
                scale: scale.map(|s| s[o]),
                shift: shift.map(|t| t[o]),
                relu: self.relu,
            };
            for (oy, row) in plane.chunks_exact_mut(ow).enumerate() {
                let (y, ky) = (oy / kh, oy % kh);
                let src = |kx: usize| &taps[(ky * kw + kx) * hw + y * w..][..w];
                let added = residual.map(|r| &r[(o * oh + oy) * ow..][..ow]);
                #[cfg(target_arch = "x86_64")]
                if kw == 2 && std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F; both sources hold `w` values, and the row
                    // and the added row `2 * w`.
                    unsafe { avx512::pairs(src(0), src(1), &steps, added, row) };
                    continue;
                }
                for kx in 0..kw {
                    for (x, v) in src(kx).iter().enumerate() {
                        row[x * kw + kx] = steps.apply(*v);
                    }
                }
                if let Some(r) = added {
                    for (v, r) in row.iter_mut().zip(r) {
                        *v += *r;
                    }
                }
            }
        }
        Ok(())
    }
}

/// What one output channel's values go through after the product, in this order.
struct Steps {
    bias: f32,
    scale: Option<f32>,
    shift: Option<f32>,
    relu: bool,
}

impl Steps {
    fn apply(&self, v: f32) -> f32 {
        let mut v = v + self.bias;
        if let Some(s) = self.scale {
            v *= s;
        }
        if let Some(t) = self.shift {
            v += t;
        }
        if self.relu {
            v = v.max(0.0);
        }
        v
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::Steps;

    /// One output row of a kernel two wide: `row[2x] = f(a[x])`, `row[2x + 1] = f(b[x])`, plus
    /// `added[2x..]` when given, 16 values of `a` and `b` (32 of the row) a step.
    ///
    /// # Safety
    /// AVX-512F must be available; `b` must hold `a.len()` values, `row` and `added`
    /// `2 * a.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pairs(
        a: &[f32],
        b: &[f32],
        steps: &Steps,
        added: Option<&[f32]>,
        row: &mut [f32],
    ) {
        let w = a.len();
        debug_assert!(b.len() == w && row.len() == 2 * w);
        debug_assert!(added.is_none_or(|r| r.len() == 2 * w));
        // Lanes 0..16 take a[0], b[0], a[1], b[1], ... from the low halves, the second from
        // the high halves (index 16 + i picks b[i]).
        let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let high = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        let bias = _mm512_set1_ps(steps.bias);
        let apply = |v: __m512| {
            let mut v = _mm512_add_ps(v, bias);
            if let Some(s) = steps.scale {
                v = _mm512_mul_ps(v, _mm512_set1_ps(s));
            }
            if let Some(t) = steps.shift {
                v = _mm512_add_ps(v, _mm512_set1_ps(t));
            }
            if steps.relu {
                v = _mm512_max_ps(v, _mm512_setzero_ps());
            }
            v
        };
        let mut x = 0;
        while x < w {
            let n = (w - x).min(16);
            // The low `bits` lanes (0..=16).
            let lanes = |bits: usize| ((1u32 << bits.min(16)) - 1) as __mmask16;
            let take = lanes(n);
            // Row values 2x..2x + 2n: the first 16 (or fewer) in `lo`, the rest in `hi`.
            let (first, second) = (lanes(2 * n), lanes((2 * n).saturating_sub(16)));
            let va = apply(_mm512_maskz_loadu_ps(take, a.as_ptr().add(x)));
            let vb = apply(_mm512_maskz_loadu_ps(take, b.as_ptr().add(x)));
            let mut lo = _mm512_permutex2var_ps(va, low, vb);
            let mut hi = _mm512_permutex2var_ps(va, high, vb);
            let out = row.as_mut_ptr().add(2 * x);
            if let Some(r) = added {
                let r = r.as_ptr().add(2 * x);
                lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(first, r));
                hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(second, r.wrapping_add(16)));
            }
            _mm512_mask_storeu_ps(out, first, lo);
            _mm512_mask_storeu_ps(out.wrapping_add(16), second, hi);
            x += n;
        }
    }
}

impl Op for TiledDeconv {
    fn name(&self) -> StaticName {
        "TiledDeconv".into()
    }

    op_as_typed_op!();
}

impl EvalOp for TiledDeconv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == 1 + usize::from(self.residual),
            "TiledDeconv: {} inputs",
            inputs.len()
        );
        let input = &inputs[0];
        let (Some(shape), Some((_, h, w))) =
            (self.output_shape(input.shape()), planes(input.shape()))
        else {
            bail!("TiledDeconv: input {:?} does not fit", input.shape());
        };
        let residual = match inputs.get(1) {
            Some(r) => {
                ensure!(
                    r.shape() == &shape[..],
                    "TiledDeconv: the added input {:?} is not {shape:?}",
                    r.shape()
                );
                Some(f32_slice(r, "TiledDeconv added input")?)
            }
            None => None,
        };
        let (kh, kw) = self.kernel;
        let rows = self.outputs() * kh * kw;
        let hw = h * w;
        let geometry = Geometry {
            plane: hw,
            taps: &[0],
            positions: hw,
            out_stride: hw,
        };
        // SAFETY (both): f32 has no invalid bit patterns. `convolve` writes every value of the
        // product (`positions == out_stride == hw` for all rows) or reports that it wrote none,
        // and then both are dropped unread; `scatter` writes every output value (each output
        // row takes `w` values from each of its `kw` taps).
        let mut product = unsafe { Tensor::uninitialized::<f32>(&[rows, hw])? };
        let mut out = unsafe { Tensor::uninitialized::<f32>(&shape)? };
        let written = convolve(
            f32_slice(input, "TiledDeconv input")?,
            &geometry,
            f32_slice(&self.weights, "TiledDeconv weights")?,
            rows,
            None,
            false,
            product.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        );
        ensure!(
            written,
            "TiledDeconv: input {:?} does not fit",
            input.shape()
        );
        self.scatter(
            f32_slice(&product, "TiledDeconv product")?,
            (h, w),
            residual,
            out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        )?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for TiledDeconv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        super::f32_output_fact("TiledDeconv", inputs[0], |s| self.output_shape(s))
    }

    as_op!();
}

/// Replaces every transposed convolution of a decluttered `model` whose kernel equals its
/// stride (no padding, dilation or output adjustment, one group, constant f32 weights and
/// bias) with [`TiledDeconv`], taking in the per-channel `Mul`, `Add`, ReLU and the sum with
/// another tensor of its shape that follow it, each alone. Does nothing on CPUs without
/// AVX-512.
pub fn replace_tiled_deconvs(model: &mut TypedModel) -> TractResult<()> {
    if !available() {
        return Ok(());
    }
    for id in model.eval_order()? {
        let Some((input, op)) = tiled_deconv_at(model, id)? else {
            continue;
        };
        let batch = model.outlet_fact(input)?.rank() == 4;
        let co = op.outputs();
        let mut last = OutletId::new(id, 0);
        let mut op = op;
        for (name, field) in [("Mul", &mut op.scale), ("Add", &mut op.shift)] {
            if let Some((node, values)) = sole_consumer(model, last)?
                .map(|n| channel_operand(model, n, last, name, co, batch))
                .transpose()?
                .flatten()
            {
                *field = Some(values.into_arc_tensor());
                last = OutletId::new(node, 0);
            }
        }
        let (mut last, relu) = past_relu(model, last)?;
        op.relu = relu;
        let mut inputs = tvec![input];
        if let Some(other) = added_tensor(model, last)? {
            inputs.push(other.1);
            op.residual = true;
            last = OutletId::new(other.0, 0);
        }
        let name = format!("{}.tiled", model.node(id).name);
        substitute_on(model, &inputs, last, name, op)?;
    }
    Ok(())
}

/// `(input, op without its following steps)` when node `id` is such a transposed convolution.
fn tiled_deconv_at(model: &TypedModel, id: usize) -> TractResult<Option<(OutletId, TiledDeconv)>> {
    let node = model.node(id);
    let Some(deconv) = node.op_as::<Deconv>() else {
        return Ok(None);
    };
    let spec = &deconv.pool_spec;
    let (&[kh, kw], &[sy, sx]) = (spec.kernel_shape.as_slice(), spec.strides().as_ref()) else {
        return Ok(None);
    };
    if (kh, kw) != (sy, sx)
        || deconv.group != 1
        || deconv.kernel_format != KernelFormat::OIHW
        || !matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
        || spec.dilations().iter().any(|&d| d != 1)
        || deconv.adjustments.iter().any(|&a| a != 0)
        || padding(&spec.padding) != Some(((0, 0), (0, 0)))
        || node.outputs.len() != 1
    {
        return Ok(None);
    }
    let Some((weights, bias)) = constant_weights(model, node)? else {
        return Ok(None);
    };
    let Some(shape) = model.outlet_fact(node.inputs[0])?.shape.as_concrete() else {
        return Ok(None);
    };
    let Some((i, _, _)) = planes(shape) else {
        return Ok(None);
    };
    let co = weights.shape()[0];
    if weights.shape() != [co, i, kh, kw] {
        return Ok(None);
    }
    // OIHW to `[I, O * kh * kw]`.
    let (taps, rows) = (kh * kw, co * kh * kw);
    let w = f32_slice(&weights, "transposed convolution weights")?;
    let mut t = vec![0.0f32; i * rows];
    for o in 0..co {
        for c in 0..i {
            for tap in 0..taps {
                t[c * rows + o * taps + tap] = w[(o * i + c) * taps + tap];
            }
        }
    }
    let op = TiledDeconv {
        weights: Tensor::from_shape(&[i, rows], &t)?.into_arc_tensor(),
        bias: Tensor::from_shape(&[co], &bias)?.into_arc_tensor(),
        kernel: (kh, kw),
        scale: None,
        shift: None,
        relu: false,
        residual: false,
    };
    // The op must give the shape tract's transposed convolution declares.
    let declared = model.outlet_fact(OutletId::new(id, 0))?.shape.as_concrete();
    if op.output_shape(shape).as_deref() != declared {
        return Ok(None);
    }
    Ok(Some((node.inputs[0], op)))
}

/// `(node id, other input)` when the sole reader of `outlet` is an `Add` of it and another
/// computed f32 tensor of the same shape.
fn added_tensor(model: &TypedModel, outlet: OutletId) -> TractResult<Option<(usize, OutletId)>> {
    let Some(add) = sole_consumer(model, outlet)? else {
        return Ok(None);
    };
    let Some(other) = other_operand(add, outlet).filter(|_| add.op().name() == "Add") else {
        return Ok(None);
    };
    let (mine, theirs) = (model.outlet_fact(outlet)?, model.outlet_fact(other)?);
    let same_shape = mine.shape.as_concrete().is_some() && mine.shape == theirs.shape;
    if theirs.konst.is_some() || theirs.datum_type != f32::datum_type() || !same_shape {
        return Ok(None);
    }
    Ok(Some((add.id, other)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_values as values;

    fn arc(shape: &[usize], v: &[f32]) -> Arc<Tensor> {
        Tensor::from_shape(shape, v)
            .expect("tensor")
            .into_arc_tensor()
    }

    /// The definition with the kernel's rounding: one fused multiply-add per input channel
    /// from zero, then the steps in order, then the added value.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f32],
        (i, h, w): (usize, usize, usize),
        oihw: &[f32],
        (co, kh, kw): (usize, usize, usize),
        steps: impl Fn(usize) -> Steps,
        added: Option<&[f32]>,
    ) -> Vec<f32> {
        let (oh, ow) = (h * kh, w * kw);
        let mut out = vec![f32::NAN; co * oh * ow];
        for o in 0..co {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (y, ky, xx, kx) = (oy / kh, oy % kh, ox / kw, ox % kw);
                    let mut acc = 0.0f32;
                    for c in 0..i {
                        let wv = oihw[((o * i + c) * kh + ky) * kw + kx];
                        acc = x[(c * h + y) * w + xx].mul_add(wv, acc);
                    }
                    let at = (o * oh + oy) * ow + ox;
                    let mut v = steps(o).apply(acc);
                    if let Some(r) = added {
                        v += r[at];
                    }
                    out[at] = v;
                }
            }
        }
        out
    }

    #[test]
    fn every_kernel_and_width_gives_the_definitions_bits() {
        let (i, co) = (5, 3);
        for kernel in [(2, 2), (3, 3), (1, 2), (2, 1)] {
            let (kh, kw) = kernel;
            // Widths around the 16-lane vector (the two-wide path takes 16 columns a step).
            for (h, w) in [
                (1, 1),
                (2, 3),
                (3, 8),
                (2, 15),
                (3, 16),
                (2, 17),
                (4, 33),
                (8, 10),
            ] {
                for case in 0..4 {
                    let (batch_norm, relu, residual) = (case & 1 == 1, case > 1, case == 3);
                    let oihw = values(co * i * kh * kw, 1);
                    let bias = values(co, 2);
                    let (scale, shift) = (values(co, 3), values(co, 4));
                    let mut t = vec![0.0f32; i * co * kh * kw];
                    for o in 0..co {
                        for c in 0..i {
                            for tap in 0..kh * kw {
                                t[c * co * kh * kw + o * kh * kw + tap] =
                                    oihw[(o * i + c) * kh * kw + tap];
                            }
                        }
                    }
                    let op = TiledDeconv {
                        weights: arc(&[i, co * kh * kw], &t),
                        bias: arc(&[co], &bias),
                        kernel,
                        scale: batch_norm.then(|| arc(&[co], &scale)),
                        shift: batch_norm.then(|| arc(&[co], &shift)),
                        relu,
                        residual,
                    };
                    let x = values(i * h * w, 5);
                    let out_shape = [1, co, h * kh, w * kw];
                    let added = values(co * h * kh * w * kw, 6);
                    let mut inputs = tvec![arc(&[1, i, h, w], &x).into_tvalue()];
                    if residual {
                        inputs.push(arc(&out_shape, &added).into_tvalue());
                    }
                    let out = op
                        .eval(&EvalContext::out_of_plan(), inputs)
                        .expect("eval")
                        .remove(0);
                    assert_eq!(out.shape(), out_shape);
                    let got = f32_slice(&out, "out").expect("f32");
                    let steps = |o: usize| Steps {
                        bias: bias[o],
                        scale: batch_norm.then_some(scale[o]),
                        shift: batch_norm.then_some(shift[o]),
                        relu,
                    };
                    let added = residual.then_some(&added[..]);
                    let want = reference(&x, (i, h, w), &oihw, (co, kh, kw), steps, added);
                    let what = format!("{kernel:?} over {h}x{w}, case {case}");
                    for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(g.to_bits(), w.to_bits(), "{what} #{j}: {g} against {w}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_input_of_the_wrong_channel_count_is_an_error() {
        let op = TiledDeconv {
            weights: arc(&[4, 8], &[0.5; 32]),
            bias: arc(&[2], &[0.0; 2]),
            kernel: (2, 2),
            scale: None,
            shift: None,
            relu: false,
            residual: false,
        };
        let input = arc(&[1, 3, 2, 2], &[1.0; 12]).into_tvalue();
        assert!(op.eval(&EvalContext::out_of_plan(), tvec![input]).is_err());
    }
}
