//! 1x1 convolutions as one direct AVX-512 pass, with their bias and ReLU.
//!
//! tract declutters a 1x1 convolution into `EinSum IHW,OI->OHW` (or `NIHW,OI->OHW` with batch
//! 1), a bias `Add` and a ReLU `Max`, then runs the product through its packed matrix kernels:
//! a packing pass over the input, then tiles whose setup cost is paid every few multiplies
//! when the input has few channels. CenterFace's expand layers (16 to 32 input channels over
//! 20480 pixels) ran at 30-50 GFLOPS that way. Here each 32-pixel strip of the input, one row
//! per input channel, is read straight from the tensor and multiplied into 12 output channels
//! held in registers: no packing, and the arithmetic of tract's kernel (one fused multiply-add
//! per input channel in channel order from zero, then the bias, then the ReLU), so the outputs
//! are the same bits.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use super::{f32_output, f32_slice, is_zero};

/// `out[o, p] = relu?(bias[o] + sum_i weights[i, o] * x[i, p])` over the pixels `p` of a
/// `[I, H, W]` or `[1, I, H, W]` f32 input; the output is `[O, H, W]`, or `[1, O, H, W]` when
/// `batch` is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pointwise {
    /// `[I, O]`: the weights of one input channel for consecutive output channels are adjacent,
    /// the order the kernel broadcasts them in.
    pub weights: Arc<Tensor>,
    /// `[O]`, when the convolution had a bias.
    pub bias: Option<Arc<Tensor>>,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// Whether the output keeps the batch axis (`NIHW,OI->NOHW`).
    pub batch: bool,
}

impl Pointwise {
    fn channels(&self) -> (usize, usize) {
        let s = self.weights.shape();
        (s[0], s[1])
    }
}

impl Op for Pointwise {
    fn name(&self) -> StaticName {
        "Pointwise".into()
    }

    op_as_typed_op!();
}

/// The input's channel count and output shape (`[O, H, W]`, or `[1, O, H, W]` with `batch`),
/// or `None` when `shape` is not `[I, H, W]` or `[1, I, H, W]`.
fn output_shape(shape: &[usize], outputs: usize, batch: bool) -> Option<(usize, TVec<usize>)> {
    let (i, h, w) = match *shape {
        [i, h, w] | [1, i, h, w] => (i, h, w),
        _ => return None,
    };
    Some((
        i,
        if batch {
            tvec![1, outputs, h, w]
        } else {
            tvec![outputs, h, w]
        },
    ))
}

impl EvalOp for Pointwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (k, co) = self.channels();
        let Some((i, shape)) = output_shape(input.shape(), co, self.batch) else {
            bail!("Pointwise: input {:?} is not [I, H, W]", input.shape());
        };
        ensure!(i == k, "Pointwise: input has {i} channels, weights {k}");
        let x = f32_slice(&input, "Pointwise input")?;
        let weights = f32_slice(&self.weights, "Pointwise weights")?;
        let bias = match &self.bias {
            Some(b) => Some(f32_slice(b, "Pointwise bias")?),
            None => None,
        };
        let out = f32_output(&shape, |out| {
            pointwise(
                x,
                shape.iter().rev().take(2).product(),
                weights,
                co,
                bias,
                self.relu,
                out,
            )
        })?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for Pointwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let fact = inputs[0];
        ensure!(fact.datum_type == f32::datum_type());
        let shape = fact
            .shape
            .as_concrete()
            .and_then(|s| output_shape(s, self.channels().1, self.batch))
            .ok_or_else(|| format_err!("Pointwise: input {:?} is not [I, H, W]", fact.shape))?;
        Ok(tvec!(f32::fact(shape.1)))
    }

    as_op!();
}

/// The whole product, on `hw` pixels: `x` is `[k, hw]`, `weights` `[k, co]`, `out` `[co, hw]`.
fn pointwise(
    x: &[f32],
    hw: usize,
    weights: &[f32],
    co: usize,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    let k = weights.len() / co.max(1);
    if x.len() != k * hw || out.len() != co * hw || bias.is_some_and(|b| b.len() != co) {
        return; // shapes were checked by the caller; never index out of bounds
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY (both calls): the CPU has AVX-512F, and the lengths above bound every pointer
        // the kernel forms: pixel strips stay below `hw` (the last one is masked), input
        // channels below `k`, and each call writes only the `[channels, hw]` rows of its
        // `out` part.
        let run = |channels: std::ops::Range<usize>, part: &mut [f32]| unsafe {
            avx512::pointwise(x, hw, k, weights, co, bias, relu, channels, part)
        };
        // With a tract thread pool in scope (the detector's `inference_threads`), the output
        // channels are split across it in whole 12-channel tiles, as tract splits its products.
        let pool = match tract_linalg::multithread::current_tract_executor() {
            tract_linalg::multithread::Executor::MultiThread(pool) => Some(pool),
            _ => None,
        };
        let threads = pool.as_ref().map_or(1, |p| p.current_num_threads());
        let per_part = co.div_ceil(threads.max(1)).div_ceil(avx512::TILE) * avx512::TILE;
        match pool {
            Some(pool) if threads > 1 && per_part < co && hw > 0 => pool.scope(|s| {
                for (i, part) in out.chunks_mut(per_part * hw).enumerate() {
                    let lo = i * per_part;
                    let channels = lo..lo + part.len() / hw;
                    s.spawn(move |_| run(channels, part));
                }
            }),
            _ => run(0..co, out),
        }
        return;
    }
    portable(x, hw, k, weights, co, bias, relu, out);
}

/// The same arithmetic one value at a time, for CPUs without AVX-512 (the rewrite is only made
/// where AVX-512 exists, so this runs only if a plan moves between machines).
#[allow(clippy::too_many_arguments)]
fn portable(
    x: &[f32],
    hw: usize,
    k: usize,
    weights: &[f32],
    co: usize,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    for (o, row) in out.chunks_exact_mut(hw.max(1)).enumerate().take(co) {
        for (p, v) in row.iter_mut().enumerate() {
            let mut acc = 0.0f32;
            for i in 0..k {
                acc = x[i * hw + p].mul_add(weights[i * co + o], acc);
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

/// Whether [`replace_pointwise`] can use the AVX-512 kernel on this CPU.
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

    /// Pixels per strip: two 16-lane registers per output channel.
    const STRIP: usize = 32;
    /// Output channels per tile: 24 accumulators, 2 input vectors and a broadcast fit in the
    /// 32 registers.
    pub(super) const TILE: usize = 12;

    /// Output channels `channels` of the product, into `out`, their `[channels.len(), hw]` rows.
    ///
    /// # Safety
    /// AVX-512F must be available; `x` is `[k, hw]`, `weights` `[k, co]`, `bias` `[co]`,
    /// `channels` lies within `0..co` and `out` holds `channels.len() * hw` values.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn pointwise(
        x: &[f32],
        hw: usize,
        k: usize,
        weights: &[f32],
        co: usize,
        bias: Option<&[f32]>,
        relu: bool,
        channels: std::ops::Range<usize>,
        out: &mut [f32],
    ) {
        let mut p0 = 0;
        while p0 < hw {
            let n = (hw - p0).min(STRIP);
            // Lanes of the strip's two registers that hold pixels (all of them but at the end).
            let lo = if n >= 16 { u16::MAX } else { (1u16 << n) - 1 };
            let hi = if n >= STRIP {
                u16::MAX
            } else if n > 16 {
                (1u16 << (n - 16)) - 1
            } else {
                0
            };
            let strip = Strip {
                x: x.as_ptr().add(p0),
                out: out.as_mut_ptr().add(p0),
                hw,
                k,
                weights: weights.as_ptr(),
                co,
                bias: bias.map(|b| b.as_ptr()),
                relu,
                masks: [lo, hi],
                first: channels.start,
            };
            let (mut c0, co) = (channels.start, channels.end);
            while c0 + TILE <= co {
                strip.tile::<TILE>(c0);
                c0 += TILE;
            }
            while c0 + 4 <= co {
                strip.tile::<4>(c0);
                c0 += 4;
            }
            while c0 < co {
                strip.tile::<1>(c0);
                c0 += 1;
            }
            p0 += n;
        }
    }

    /// One strip of up to 32 pixels: pointers to its first input and output value.
    struct Strip {
        x: *const f32,
        out: *mut f32,
        hw: usize,
        k: usize,
        weights: *const f32,
        co: usize,
        bias: Option<*const f32>,
        relu: bool,
        masks: [u16; 2],
        /// The output channel whose row `out` points into.
        first: usize,
    }

    impl Strip {
        /// Output channels `c0 .. c0 + C` of the strip.
        #[inline(always)]
        unsafe fn tile<const C: usize>(&self, c0: usize) {
            let [lo, hi] = self.masks;
            let mut acc = [[_mm512_setzero_ps(); 2]; C];
            for i in 0..self.k {
                let row = self.x.add(i * self.hw);
                let x0 = _mm512_maskz_loadu_ps(lo, row);
                let x1 = _mm512_maskz_loadu_ps(hi, row.add(16));
                let w = self.weights.add(i * self.co + c0);
                for (c, a) in acc.iter_mut().enumerate() {
                    let wv = _mm512_set1_ps(*w.add(c));
                    a[0] = _mm512_fmadd_ps(x0, wv, a[0]);
                    a[1] = _mm512_fmadd_ps(x1, wv, a[1]);
                }
            }
            let zero = _mm512_setzero_ps();
            for (c, a) in acc.iter().enumerate() {
                let [mut v0, mut v1] = *a;
                if let Some(b) = self.bias {
                    let b = _mm512_set1_ps(*b.add(c0 + c));
                    v0 = _mm512_add_ps(v0, b);
                    v1 = _mm512_add_ps(v1, b);
                }
                if self.relu {
                    v0 = _mm512_max_ps(v0, zero);
                    v1 = _mm512_max_ps(v1, zero);
                }
                let o = self.out.add((c0 + c - self.first) * self.hw);
                _mm512_mask_storeu_ps(o, lo, v0);
                _mm512_mask_storeu_ps(o.add(16), hi, v1);
            }
        }
    }
}

/// Replaces every 1x1 convolution of a decluttered `model` (`EinSum IHW,OI->OHW`,
/// `NIHW,OI->OHW` or `NIHW,OI->NOHW` over a batch of 1, f32, constant weights) with [`Pointwise`], taking in a bias
/// `Add` and a ReLU that follow it alone. Does nothing on CPUs without AVX-512.
pub fn replace_pointwise(model: &mut TypedModel) -> TractResult<()> {
    if !available() {
        return Ok(());
    }
    for id in model.eval_order()? {
        let Some((x, weights, batch)) = pointwise_at(model, id)? else {
            continue;
        };
        let co = weights.shape()[1];
        let mut last = OutletId::new(id, 0);
        let mut bias = None;
        if let Some((add, b)) = sole_consumer(model, last)?
            .map(|n| bias_of(model, n, last, co, batch))
            .transpose()?
            .flatten()
        {
            bias = Some(b.into_arc_tensor());
            last = OutletId::new(add, 0);
        }
        let mut relu = false;
        if let Some(max) = sole_consumer(model, last)? {
            if is_relu_of(model, max, last)? {
                relu = true;
                last = OutletId::new(max.id, 0);
            }
        }
        let name = model.node(id).name.clone();
        let mut patch = TypedModelPatch::default();
        let tap = patch.tap_model(model, x)?;
        let op = Pointwise {
            weights: weights.into_arc_tensor(),
            bias,
            relu,
            batch,
        };
        let out = patch.wire_node(format!("{name}.pointwise"), op, &[tap])?[0];
        patch.shunt_outside(model, last, out)?;
        patch.apply(model)?;
    }
    Ok(())
}

/// The node reading `outlet`, when it is the only reader and `outlet` is no model output.
fn sole_consumer(model: &TypedModel, outlet: OutletId) -> TractResult<Option<&TypedNode>> {
    let succ = &model.node(outlet.node).outputs[outlet.slot].successors;
    if succ.len() != 1 || model.output_outlets()?.contains(&outlet) {
        return Ok(None);
    }
    Ok(Some(model.node(succ[0].node)))
}

/// `(input, weights as [I, O], batch)` when node `id` is a 1x1 convolution's `EinSum`.
fn pointwise_at(model: &TypedModel, id: usize) -> TractResult<Option<(OutletId, Tensor, bool)>> {
    let node = model.node(id);
    let Some(einsum) = node.op_as::<EinSum>() else {
        return Ok(None);
    };
    let expr = einsum.axes.to_string();
    if einsum.q_params.is_some()
        || einsum.operating_dt != f32::datum_type()
        || !["IHW,OI->OHW", "NIHW,OI->OHW", "NIHW,OI->NOHW"].contains(&expr.as_str())
        || node.inputs.len() != 2
    {
        return Ok(None);
    }
    let fact = model.outlet_fact(node.inputs[0])?;
    let Some(shape) = fact.shape.as_concrete() else {
        return Ok(None);
    };
    let Some(w) = model.outlet_fact(node.inputs[1])?.konst.clone() else {
        return Ok(None);
    };
    if fact.datum_type != f32::datum_type() || w.datum_type() != f32::datum_type() || w.rank() != 2
    {
        return Ok(None);
    }
    let (co, k) = (w.shape()[0], w.shape()[1]);
    let batch = expr.ends_with("NOHW");
    match output_shape(shape, co, batch) {
        Some((i, _)) if i == k => {}
        _ => return Ok(None),
    }
    let w = f32_slice(&w, "1x1 weights")?;
    let mut t = vec![0.0f32; k * co];
    for o in 0..co {
        for i in 0..k {
            t[i * co + o] = w[o * k + i];
        }
    }
    Ok(Some((
        node.inputs[0],
        Tensor::from_shape(&[k, co], &t)?,
        batch,
    )))
}

/// `(node id, bias as [O])` when `node` adds a constant f32 bias `[O, 1, 1]` (or
/// `[1, O, 1, 1]` to a `batch` output) to `input`.
fn bias_of(
    model: &TypedModel,
    node: &TypedNode,
    input: OutletId,
    co: usize,
    batch: bool,
) -> TractResult<Option<(usize, Tensor)>> {
    if node.op().name() != "Add" || node.inputs.len() != 2 {
        return Ok(None);
    }
    let other = if node.inputs[0] == input {
        node.inputs[1]
    } else if node.inputs[1] == input {
        node.inputs[0]
    } else {
        return Ok(None);
    };
    let Some(b) = model.outlet_fact(other)?.konst.clone() else {
        return Ok(None);
    };
    let shape_ok = b.shape() == [co, 1, 1] || (batch && b.shape() == [1, co, 1, 1]);
    if b.datum_type() != f32::datum_type() || !shape_ok {
        return Ok(None);
    }
    let values = f32_slice(&b, "bias")?.to_vec();
    Ok(Some((node.id, Tensor::from_shape(&[co], &values)?)))
}

/// Whether `node` is `Max(input, 0)` in either order.
fn is_relu_of(model: &TypedModel, node: &TypedNode, input: OutletId) -> TractResult<bool> {
    if node.op().name() != "Max" || node.inputs.len() != 2 {
        return Ok(false);
    }
    for (a, b) in [(0, 1), (1, 0)] {
        if node.inputs[a] == input && is_zero(model, node.inputs[b])? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, in f64: what both paths must approximate closely.
    fn reference(x: &[f32], hw: usize, w: &[f32], co: usize, bias: &[f32], relu: bool) -> Vec<f64> {
        let k = w.len() / co;
        let mut out = vec![0.0f64; co * hw];
        for o in 0..co {
            for p in 0..hw {
                let mut acc = f64::from(bias[o]);
                for i in 0..k {
                    acc += f64::from(x[i * hw + p]) * f64::from(w[i * co + o]);
                }
                out[o * hw + p] = if relu { acc.max(0.0) } else { acc };
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104729) % 2001) as f32 - 1000.0) / 700.0)
            .collect()
    }

    #[test]
    fn every_strip_and_tile_width_matches_the_definition_and_the_portable_path() {
        // Pixel counts around the 32-pixel strip and its 16-lane halves, channel counts that
        // leave 12-, 4- and 1-wide tiles.
        for (hw, k, co) in [
            (1, 3, 1),
            (15, 5, 7),
            (16, 8, 12),
            (17, 16, 13),
            (33, 24, 17),
            (80, 40, 29),
            (100, 16, 96),
        ] {
            let x = values(k * hw, 1);
            let w = values(k * co, 2);
            let bias = values(co, 3);
            for relu in [false, true] {
                let mut fast = vec![f32::NAN; co * hw];
                pointwise(&x, hw, &w, co, Some(&bias), relu, &mut fast);
                let mut slow = vec![f32::NAN; co * hw];
                portable(&x, hw, k, &w, co, Some(&bias), relu, &mut slow);
                let want = reference(&x, hw, &w, co, &bias, relu);
                for (j, ((f, s), r)) in fast.iter().zip(&slow).zip(&want).enumerate() {
                    assert_eq!(f.to_bits(), s.to_bits(), "{hw}x{k}x{co} value {j}");
                    assert!((f64::from(*f) - r).abs() < 1e-4, "{hw}x{k}x{co} value {j}");
                }
            }
        }
    }

    #[test]
    fn a_thread_pool_splits_the_channels_without_changing_a_bit() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let pool = Executor::multithread(3);
        for (hw, k, co) in [(50, 16, 96), (33, 8, 29), (40, 4, 13), (20, 4, 1)] {
            let x = values(k * hw, 4);
            let w = values(k * co, 5);
            let bias = values(co, 6);
            let mut one = vec![f32::NAN; co * hw];
            pointwise(&x, hw, &w, co, Some(&bias), true, &mut one);
            let mut many = vec![f32::NAN; co * hw];
            multithread_tract_scope(pool.clone(), || {
                pointwise(&x, hw, &w, co, Some(&bias), true, &mut many)
            });
            let same = one
                .iter()
                .zip(&many)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{hw}x{k}x{co}");
        }
    }

    #[test]
    fn no_bias_adds_nothing_and_relu_clamps() {
        let (hw, k, co) = (20, 2, 2);
        let x = vec![1.0f32; k * hw];
        let w = vec![-1.0, 1.0, -1.0, 1.0]; // [I, O]: channel 0 sums to -2, channel 1 to 2
        let mut out = vec![0.0f32; co * hw];
        pointwise(&x, hw, &w, co, None, true, &mut out);
        assert!(out[..hw].iter().all(|v| *v == 0.0));
        assert!(out[hw..].iter().all(|v| *v == 2.0));
        pointwise(&x, hw, &w, co, None, false, &mut out);
        assert!(out[..hw].iter().all(|v| *v == -2.0));
    }
}
