//! 3x3 convolutions (stride 1, padding 1, one group) as a direct AVX-512 pass over a
//! zero-padded copy of the input, with their ReLU.
//!
//! tract runs these through an im2col buffer and its packed matrix kernels: the recognition
//! ResNet's 35x35x32 layers reached about 50 GFLOPS that way. [`super::direct`] instead reads
//! the nine taps straight from the padded planes (the positions that fall in the padding
//! columns are computed and dropped), with tract's arithmetic: one fused multiply-add per input
//! channel and tap, in the kernel's OIHW order, from zero, then the bias, then the ReLU. The
//! outputs are the same bits.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

use super::direct::{available, convolve, Geometry};
use super::{
    constant_weights, f32_output, f32_slice, padding, past_relu, planes, substitute, tap_major,
    zero_padded,
};

/// `out[o, y, x] = relu?(bias[o] + sum_{i, dy, dx} w[o, i, dy, dx] * xpad[i, y + dy, x + dx])`
/// for an f32 `[I, H, W]` or `[1, I, H, W]` input, `xpad` being the input with a one-pixel
/// border of zeros; the output has the input's rank, with `O` channels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conv3x3 {
    /// `[I * 9, O]`: row `i * 9 + 3 * dy + dx` holds that tap's weights for every output channel.
    pub weights: Arc<Tensor>,
    /// `[O]`, when the convolution had a bias.
    pub bias: Option<Arc<Tensor>>,
    /// Whether a ReLU follows.
    pub relu: bool,
}

impl Conv3x3 {
    fn channels(&self) -> (usize, usize) {
        let s = self.weights.shape();
        (s[0] / 9, s[1])
    }
}

/// `shape` with its channel axis set to `outputs`.
fn with_channels(shape: &[usize], outputs: usize) -> TVec<usize> {
    let mut s: TVec<usize> = shape.into();
    let axis = s.len() - 3;
    s[axis] = outputs;
    s
}

impl Op for Conv3x3 {
    fn name(&self) -> StaticName {
        "Conv3x3".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Conv3x3 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (k, co) = self.channels();
        let Some((i, h, w)) = planes(input.shape()) else {
            bail!("Conv3x3: input {:?} is not [I, H, W]", input.shape());
        };
        ensure!(i == k, "Conv3x3: input has {i} channels, weights {k}");
        let x = f32_slice(&input, "Conv3x3 input")?;
        let weights = f32_slice(&self.weights, "Conv3x3 weights")?;
        let bias = match &self.bias {
            Some(b) => Some(f32_slice(b, "Conv3x3 bias")?),
            None => None,
        };
        let shape = with_channels(input.shape(), co);
        if h == 0 || w == 0 {
            return Ok(tvec!(Tensor::zero::<f32>(&shape)?.into_tvalue()));
        }
        // The input with a border of zeros, then the product over the padded grid: row `y` of
        // output channel `o` is `wide[o][y * wp .. y * wp + w]`.
        let (hp, wp) = (h + 2, w + 2);
        let padded = zero_padded(x, (h, w), (1, 1), (1, 1));
        let taps: Vec<usize> = (0..3)
            .flat_map(|dy| (0..3).map(move |dx| dy * wp + dx))
            .collect();
        let geometry = Geometry {
            plane: hp * wp,
            taps: &taps,
            positions: (h - 1) * wp + w,
            out_stride: h * wp,
        };
        let mut wide = vec![0.0f32; co * h * wp];
        let written = convolve(&padded, &geometry, weights, co, bias, self.relu, &mut wide);
        ensure!(written, "Conv3x3: input {:?} does not fit", input.shape());
        let out = f32_output(&shape, |out| {
            for (dst, src) in out.chunks_exact_mut(w).zip(wide.chunks_exact(wp)) {
                dst.copy_from_slice(&src[..w]);
            }
        })?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for Conv3x3 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let fact = inputs[0];
        ensure!(fact.datum_type == f32::datum_type());
        let shape = fact
            .shape
            .as_concrete()
            .filter(|s| planes(s).is_some())
            .ok_or_else(|| format_err!("Conv3x3: input {:?} is not [I, H, W]", fact.shape))?;
        Ok(tvec!(f32::fact(with_channels(shape, self.channels().1))))
    }

    as_op!();
}

/// Narrowest input [`replace_conv3x3`] takes. The kernel vectorises along the padded rows, so
/// a narrow plane leaves strip lanes idle and rereads all the weights for few outputs: on the
/// recognition ResNet it was 1.6x faster than tract at 35 pixels wide, even at 17 and 2x
/// slower at 4 (`cargo bench --bench model_ops`), where tract vectorises along the channels.
const MIN_WIDTH: usize = 24;

/// Replaces every f32 3x3 convolution of a decluttered `model` with stride 1, dilation 1,
/// padding 1 on each side, one group, constant weights and bias, over a `[I, H, W]` or
/// `[1, I, H, W]` input at least [`MIN_WIDTH`] wide, with [`Conv3x3`], taking in a ReLU that
/// follows it alone. Does nothing on CPUs without AVX-512.
pub fn replace_conv3x3(model: &mut TypedModel) -> TractResult<()> {
    if !available() {
        return Ok(());
    }
    for id in model.eval_order()? {
        let Some((x, weights, bias)) = conv3x3_at(model, id)? else {
            continue;
        };
        let (last, relu) = past_relu(model, OutletId::new(id, 0))?;
        let name = format!("{}.conv3x3", model.node(id).name);
        let op = Conv3x3 {
            weights: weights.into_arc_tensor(),
            bias: Some(bias.into_arc_tensor()),
            relu,
        };
        substitute(model, x, last, name, op)?;
    }
    Ok(())
}

/// `(input, weights as [I * 9, O], bias as [O])` when node `id` is such a convolution.
type Conv3x3Parts = (OutletId, Tensor, Tensor);

fn conv3x3_at(model: &TypedModel, id: usize) -> TractResult<Option<Conv3x3Parts>> {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &conv.pool_spec;
    let unit = |v: &[usize]| v.iter().all(|&d| d == 1);
    let padding_one = padding(&spec.padding) == Some(((1, 1), (1, 1)));
    if conv.group != 1
        || conv.q_params.is_some()
        || conv.kernel_fmt != KernelFormat::OIHW
        || !matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
        || spec.kernel_shape.as_slice() != [3, 3]
        || !unit(&spec.strides())
        || !unit(&spec.dilations())
        || !padding_one
        || node.inputs.len() != 3
    {
        return Ok(None);
    }
    let fact = model.outlet_fact(node.inputs[0])?;
    let Some((i, _, width)) = fact.shape.as_concrete().and_then(planes) else {
        return Ok(None);
    };
    if width < MIN_WIDTH {
        return Ok(None);
    }
    let Some((w, bias)) = constant_weights(model, node)? else {
        return Ok(None);
    };
    if w.shape()[1..] != [i, 3, 3] {
        return Ok(None);
    }
    let bias = Tensor::from_shape(&[bias.len()], &bias)?;
    Ok(Some((node.inputs[0], tap_major(&w)?, bias)))
}
