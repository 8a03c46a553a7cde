//! A graph rewrite that keeps tract's depthwise convolutions on its vectorised kernel.
//!
//! tract's depthwise kernel is vectorised only along a contiguous row: with a horizontal stride
//! of 2 it falls back to a scalar gather that costs about 12x more per output (CenterFace's
//! first stride-2 depthwise took 5.1 ms of its 31 ms; `cargo bench --bench model_ops`). A
//! depthwise convolution with explicit padding and horizontal stride 2 is the same as the
//! stride-1 convolution followed by keeping every other column ([`EveryOther`]), so it is rewired that way:
//! twice the arithmetic on the vectorised path, plus a copy, is still far cheaper. The vertical
//! stride stays in the convolution (rows are skipped for free).
//!
//! It runs between tract's declutter and codegen passes: declutter would fold the downsample
//! back into the convolution's stride, while codegen first turns the convolution into tract's
//! depthwise operator, which the downsample is never folded into. It runs after
//! `fast_ops::replace_slow_ops`: where that made the direct depthwise op (AVX-512), which
//! strides itself, no depthwise convolution is left for this rewrite.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, PaddingSpec};

use super::fast_ops::EveryOther;

/// Rewrites every stride-2 (horizontal) depthwise f32 convolution with explicit padding in a
/// decluttered `model`; returns how many it rewrote.
pub fn unstride_depthwise(model: &mut TypedModel) -> TractResult<usize> {
    let candidates: Vec<usize> = model
        .eval_order()?
        .into_iter()
        .filter(|&id| model.node(id).op_is::<Conv>())
        .collect();
    let mut rewritten = 0;
    for id in candidates {
        if let Some(patch) = patch_for(model, id)? {
            patch.apply(model)?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// The rewrite of node `id`, when it is a convolution the rewrite applies to.
fn patch_for(model: &TypedModel, id: usize) -> TractResult<Option<TypedModelPatch>> {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &conv.pool_spec;
    let input = model.outlet_fact(node.inputs[0])?;
    let shape = spec.data_format.shape(input.shape.to_tvec())?;
    let strides = spec.strides();
    let depthwise =
        conv.group > 1 && conv.group == spec.input_channels && conv.group == spec.output_channels;
    // Explicit padding places the windows the same way whatever the stride ("same" padding
    // does not); dilation and quantisation are left to tract as they are.
    if !depthwise
        || conv.q_params.is_some()
        || input.datum_type != f32::datum_type()
        || !matches!(spec.padding, PaddingSpec::Explicit(..) | PaddingSpec::Valid)
        || spec.dilations().iter().any(|&d| d != 1)
        || strides.len() != 2
        || strides[1] != 2
        || node.outputs.len() != 1
    {
        return Ok(None);
    }
    let mut unstrided = conv.clone();
    unstrided.pool_spec.strides = Some(tvec![strides[0], 1]);
    let mut patch = TypedModelPatch::default();
    let taps = patch.taps(model, &node.inputs)?;
    let wide = patch.wire_node(format!("{}.unstrided", node.name), unstrided, &taps)?[0];
    let down = EveryOther {
        axis: shape.h_axis() + 1,
    };
    let kept = patch.wire_node(format!("{}.every_other_column", node.name), down, &[wide])?[0];
    patch.shunt_outside(model, OutletId::new(id, 0), kept)?;
    Ok(Some(patch))
}
