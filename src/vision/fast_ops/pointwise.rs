//! 1x1 convolutions as one direct AVX-512 pass, with their bias and ReLU.
//!
//! tract declutters a 1x1 convolution into an `EinSum` such as `IHW,OI->OHW` (with or without
//! a batch axis of 1 on either side), a bias `Add` and a ReLU `Max`, then runs the product through
//! its packed matrix kernels: a packing pass over the input, then tiles whose setup cost is
//! paid every few multiplies when the input has few channels. CenterFace's expand layers (16 to
//! 32 input channels over 20480 pixels) ran at 30-50 GFLOPS that way. [`super::direct`] reads
//! the input planes as they are, with tract's arithmetic, so the outputs are the same bits.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use super::direct::{available, convolve, Geometry};
use super::{channel_operand, f32_slice, past_relu, sole_consumer, substitute};

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
        let hw = shape.iter().rev().take(2).product();
        let geometry = Geometry {
            plane: hw,
            taps: &[0],
            positions: hw,
            out_stride: hw,
        };
        // Not zeroed first: that was a memset of up to 8 MB per layer, and every value is
        // written below.
        // SAFETY: f32 has no invalid bit patterns, and `convolve` either writes every value
        // (`positions == out_stride == hw` for all `co` rows) or reports that it wrote none, in
        // which case the tensor is dropped unread.
        let mut out = unsafe { Tensor::uninitialized::<f32>(&shape)? };
        let written = convolve(
            x,
            &geometry,
            weights,
            co,
            bias,
            self.relu,
            out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        );
        ensure!(written, "Pointwise: input {:?} does not fit", input.shape());
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

/// Replaces every 1x1 convolution of a decluttered `model` (one of the [`PRODUCTS`] over a
/// batch of 1, f32, constant weights) with
/// [`Pointwise`], taking in a bias `Add` and a ReLU that follow it alone. Does nothing on CPUs
/// without AVX-512.
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
            .map(|n| channel_operand(model, n, last, "Add", co, batch))
            .transpose()?
            .flatten()
        {
            bias = Some(b.into_arc_tensor());
            last = OutletId::new(add, 0);
        }
        let (last, relu) = past_relu(model, last)?;
        let name = format!("{}.pointwise", model.node(id).name);
        let op = Pointwise {
            weights: weights.into_arc_tensor(),
            bias,
            relu,
            batch,
        };
        substitute(model, x, last, name, op)?;
    }
    Ok(())
}

/// The `EinSum`s a 1x1 convolution declutters into, with or without the batch axis on either
/// side. The two last ones are CenterFace's neck (`IHW,OI->NOHW`: a lateral convolution of a
/// backbone output, whose batch axis tract had already dropped) and its one-channel heatmap
/// head.
const PRODUCTS: [&str; 5] = [
    "IHW,OI->OHW",
    "NIHW,OI->OHW",
    "NIHW,OI->NOHW",
    "IHW,OI->NOHW",
    "NIHW,I->NOHW",
];

/// `(input, weights as [I, O], batch)` when node `id` is a 1x1 convolution's `EinSum`.
fn pointwise_at(model: &TypedModel, id: usize) -> TractResult<Option<(OutletId, Tensor, bool)>> {
    let node = model.node(id);
    let Some(einsum) = node.op_as::<EinSum>() else {
        return Ok(None);
    };
    let expr = einsum.axes.to_string();
    if einsum.q_params.is_some()
        || einsum.operating_dt != f32::datum_type()
        || !PRODUCTS.contains(&expr.as_str())
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
    // A single output channel's weights come as `[I]` (`NIHW,I->NOHW`).
    let (co, k) = match *w.shape() {
        [co, k] => (co, k),
        [k] => (1, k),
        _ => return Ok(None),
    };
    if fact.datum_type != f32::datum_type() || w.datum_type() != f32::datum_type() {
        return Ok(None);
    }
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
