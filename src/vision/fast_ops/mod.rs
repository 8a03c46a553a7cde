//! Direct f32 loops for the operators tract runs far slower than their arithmetic needs.
//!
//! `cargo bench --bench model_ops` showed FaceMesh spending more time in max pooling, in the
//! five-node PReLU its converter emitted (`Neg`, `Relu`, `Mul`, `Relu`, `Add`) and in column
//! downsampling than in its depthwise convolutions: tract walks pooling windows through a
//! generic patch scanner, evaluates each PReLU node as a separate pass with its own buffer, and
//! copies a downsample element by element through a strided view. The ops here compute the
//! same values as one tight pass each: the same products and sums in the same order, and
//! maxima, which do not depend on order. Outputs are bit-identical; `tests/model_parity.rs`
//! checks this on every shipped model.
//!
//! On CPUs with AVX-512, 1x1 convolutions ([`Pointwise`]), wide 3x3 stride-1 convolutions
//! ([`Conv3x3`]) and wide stride-2 ones ([`StridedConv`]) also leave tract's packed matrix
//! kernels for a direct kernel (`direct.rs`) that reads the NCHW planes as they are, narrow
//! 3x3 ones for [`NarrowConv`], which vectorises along the output channels instead, and
//! depthwise convolutions leave tract's depthwise operator for [`Depthwise`], and transposed
//! convolutions whose kernel equals their stride, with what follows them, become one
//! [`TiledDeconv`]; each keeps tract's arithmetic, so these outputs are the same bits too.
//!
//! [`replace_slow_ops`] runs between tract's declutter and codegen passes, like
//! [`super::unstride`]: after declutter the patterns have their canonical form, and codegen
//! leaves ops it does not know alone.

mod conv3x3;
mod depthwise;
mod direct;
mod every_other;
mod max_pool;
mod narrow;
mod pointwise;
mod prelu;
mod spatial;
mod strided;
mod tiled_deconv;

pub use conv3x3::Conv3x3;
pub use depthwise::Depthwise;
pub use every_other::EveryOther;
pub use max_pool::PlaneMaxPool;
pub use narrow::NarrowConv;
pub use pointwise::Pointwise;
pub use prelu::ChannelPRelu;
pub use spatial::SpatialConv;
pub use strided::StridedConv;
pub use tiled_deconv::TiledDeconv;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::PaddingSpec;

/// Replaces every max pooling, every decomposed PReLU and (with AVX-512) every 1x1, wide 3x3,
/// stride-2 (im2col's and tract's direct spatial 3x3 ones), narrow 3x3, depthwise and tiled
/// transposed convolution of a decluttered `model` that the direct ops cover;
/// anything else is left to tract. `tests/model_parity.rs` pins the resulting op counts of the shipped models, so a tract
/// upgrade that changes the decluttered patterns cannot silently undo the speed-up.
pub fn replace_slow_ops(model: &mut TypedModel) -> TractResult<()> {
    max_pool::replace_max_pools(model)?;
    prelu::fuse_prelus(model)?;
    pointwise::replace_pointwise(model)?;
    tiled_deconv::replace_tiled_deconvs(model)?;
    conv3x3::replace_conv3x3(model)?;
    strided::replace_strided(model)?;
    spatial::replace_spatial(model)?;
    narrow::replace_narrow(model)?;
    depthwise::replace_depthwise(model)
}

/// Whether this CPU gets the AVX-512 convolutions ([`Pointwise`], [`Conv3x3`],
/// [`StridedConv`], [`SpatialConv`], [`NarrowConv`], [`Depthwise`], [`TiledDeconv`]): where it does not, those convolutions stay
/// tract's.
pub fn direct_convolutions_available() -> bool {
    direct::available()
}

/// `n` fixed test values in about [-1.43, 1.43], a different run for each `seed`: the inputs
/// and weights the direct ops' unit tests compare against their definitions.
#[cfg(test)]
fn test_values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7919 + seed * 104729) % 2001) as f32 - 1000.0) / 700.0)
        .collect()
}

/// The f32 data of a plain tensor, or an error naming `what` (tract hands these ops only plain
/// f32 tensors, as their output facts declare; the check keeps a surprise from being a panic).
fn f32_slice<'a>(t: &'a Tensor, what: &str) -> TractResult<&'a [f32]> {
    t.try_as_plain_ram()
        .and_then(|v| v.as_slice::<f32>())
        .map_err(|e| e.context(format!("{what}: expected a plain f32 tensor")))
}

/// The f32 output fact of op `name` on the f32 input `fact`, whose shape `output_shape` gives
/// (`None`: the input does not fit).
fn f32_output_fact(
    name: &str,
    fact: &TypedFact,
    output_shape: impl Fn(&[usize]) -> Option<TVec<usize>>,
) -> TractResult<TVec<TypedFact>> {
    tract_onnx::tract_core::internal::ensure!(fact.datum_type == f32::datum_type());
    let shape = fact
        .shape
        .as_concrete()
        .and_then(output_shape)
        .ok_or_else(|| {
            tract_onnx::tract_core::internal::format_err!(
                "{name}: input {:?} does not fit",
                fact.shape
            )
        })?;
    Ok(tvec!(f32::fact(shape)))
}

/// A new f32 tensor of `shape`, zeroed, then filled by `fill`.
fn f32_output(shape: &[usize], fill: impl FnOnce(&mut [f32])) -> TractResult<Tensor> {
    let mut out = Tensor::zero::<f32>(shape)?;
    fill(out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
    Ok(out)
}

/// `(C, H, W)` of a `[C, H, W]` or `[1, C, H, W]` shape: the inputs the direct convolutions
/// take.
fn planes(shape: &[usize]) -> Option<(usize, usize, usize)> {
    match *shape {
        [c, h, w] | [1, c, h, w] => Some((c, h, w)),
        _ => None,
    }
}

/// `shape` (`[C, H, W]` or `[1, C, H, W]`) with its planes set to `c` channels of `oh x ow`:
/// the output shape of a convolution of that input.
fn with_planes(shape: &[usize], c: usize, oh: usize, ow: usize) -> TVec<usize> {
    let mut out: TVec<usize> = shape.into();
    let rank = out.len();
    out[rank - 3..].copy_from_slice(&[c, oh, ow]);
    out
}

/// The `h x w` planes of `x`, each with `before` rows and columns of zeros before it and
/// `after` after, as `(h + before.0 + after.0) x (w + before.1 + after.1)` planes: the input
/// the direct convolutions read every tap of without a bounds check.
fn zero_padded(
    x: &[f32],
    (h, w): (usize, usize),
    before: (usize, usize),
    after: (usize, usize),
) -> Vec<f32> {
    let (hp, wp) = (h + before.0 + after.0, w + before.1 + after.1);
    let planes = x.len() / (h * w).max(1);
    let mut padded = vec![0.0f32; planes * hp * wp];
    if h * w == 0 {
        return padded;
    }
    for (dst, src) in padded.chunks_exact_mut(hp * wp).zip(x.chunks_exact(h * w)) {
        let rows = dst[before.0 * wp..].chunks_exact_mut(wp);
        for (row, line) in rows.zip(src.chunks_exact(w)) {
            row[before.1..before.1 + w].copy_from_slice(line);
        }
    }
    padded
}

/// Rows and columns of zeros before and after the input of a 2-D convolution with explicit or
/// no padding; `None` for "same" padding, whose placement depends on the stride.
fn padding(spec: &PaddingSpec) -> Option<((usize, usize), (usize, usize))> {
    match spec {
        PaddingSpec::Explicit(b, a) if b.len() == 2 && a.len() == 2 => {
            Some(((b[0], b[1]), (a[0], a[1])))
        }
        PaddingSpec::Valid => Some(((0, 0), (0, 0))),
        _ => None,
    }
}

/// The weights of convolution `node` (a rank-4 f32 constant, `[O, ...]`) and its bias as one
/// value per output channel (a scalar bias repeated), when the input, weights and bias are f32
/// and the weights and bias constant.
fn constant_weights(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<(Arc<Tensor>, Vec<f32>)>> {
    let [x, w, b] = node.inputs[..] else {
        return Ok(None);
    };
    let (Some(w), Some(b)) = (
        model.outlet_fact(w)?.konst.clone(),
        model.outlet_fact(b)?.konst.clone(),
    ) else {
        return Ok(None);
    };
    let f32s = [
        model.outlet_fact(x)?.datum_type,
        w.datum_type(),
        b.datum_type(),
    ];
    if f32s.iter().any(|&t| t != f32::datum_type()) || w.rank() != 4 {
        return Ok(None);
    }
    let co = w.shape()[0];
    let b = f32_slice(&b, "convolution bias")?;
    let bias = match b.len() {
        1 => vec![b[0]; co],
        n if n == co => b.to_vec(),
        _ => return Ok(None),
    };
    Ok(Some((w, bias)))
}

/// A convolution node as the direct ops take it: constant f32 OIHW weights and bias, a
/// `[I, H, W]` or `[1, I, H, W]` input of known shape, explicit or no padding and dilation 1;
/// each op checks its own kernel, strides and groups.
pub(super) struct ConvNode {
    pub input: OutletId,
    /// The input's shape, and its channels, rows and columns.
    pub shape: TVec<usize>,
    pub planes: (usize, usize, usize),
    pub kernel: (usize, usize),
    pub strides: (usize, usize),
    pub group: usize,
    pub before: (usize, usize),
    pub after: (usize, usize),
    /// `[O, I / group, kh, kw]`, and one bias per output channel.
    pub weights: Arc<Tensor>,
    pub bias: Vec<f32>,
    /// The output shape tract's convolution declares: a replacement must give the same.
    pub declared: TVec<usize>,
}

/// Node `id` as a [`ConvNode`], or `None`.
pub(super) fn conv_node(model: &TypedModel, id: usize) -> TractResult<Option<ConvNode>> {
    use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
    use tract_onnx::tract_core::ops::nn::DataFormat;
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &conv.pool_spec;
    let Some((before, after)) = padding(&spec.padding) else {
        return Ok(None);
    };
    let (&[kh, kw], &[sy, sx]) = (spec.kernel_shape.as_slice(), spec.strides().as_ref()) else {
        return Ok(None);
    };
    if conv.group == 0
        || conv.q_params.is_some()
        || conv.kernel_fmt != KernelFormat::OIHW
        || !matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
        || spec.dilations().iter().any(|&d| d != 1)
        || node.inputs.len() != 3
        || node.outputs.len() != 1
    {
        return Ok(None);
    }
    let Some(shape) = model.outlet_fact(node.inputs[0])?.shape.as_concrete() else {
        return Ok(None);
    };
    let Some((i, h, w)) = planes(shape) else {
        return Ok(None);
    };
    let Some((weights, bias)) = constant_weights(model, node)? else {
        return Ok(None);
    };
    let Some(declared) = model.outlet_fact(OutletId::new(id, 0))?.shape.as_concrete() else {
        return Ok(None);
    };
    if i % conv.group != 0 || weights.shape()[1..] != [i / conv.group, kh, kw] {
        return Ok(None);
    }
    Ok(Some(ConvNode {
        input: node.inputs[0],
        shape: shape.into(),
        planes: (i, h, w),
        kernel: (kh, kw),
        strides: (sy, sx),
        group: conv.group,
        before,
        after,
        weights,
        bias,
        declared: declared.into(),
    }))
}

/// Whether tract would run a convolution of `inputs` values per output point, from rows
/// `w_in` wide into rows `w_out` wide, through its direct spatial kernel
/// (`can_direct_spatial` in tract-core's `conv.rs`: rows at least `MIN_DIRECT_SPATIAL_W` = 128
/// wide and at most 576 inputs per point), whose rounding differs from im2col's.
pub(super) fn tract_direct_spatial(inputs: usize, w_in: usize, w_out: usize) -> bool {
    w_in >= 128 && w_out >= 128 && inputs <= 576
}

/// OIHW weights (`O` rows of `I * kh * kw`) transposed to the direct kernel's `[I * kh * kw,
/// O]`: one row per input channel and tap, holding that tap's weight for every output channel.
fn tap_major(w: &Tensor) -> TractResult<Tensor> {
    let co = w.shape()[0];
    let taps = w.len() / co.max(1);
    let w = f32_slice(w, "convolution weights")?;
    let mut t = vec![0.0f32; taps * co];
    for o in 0..co {
        for r in 0..taps {
            t[r * co + o] = w[o * taps + r];
        }
    }
    Tensor::from_shape(&[taps, co], &t)
}

/// Whether `outlet` is a constant all of whose values are 0.
pub(super) fn is_zero(model: &TypedModel, outlet: OutletId) -> TractResult<bool> {
    let fact = model.outlet_fact(outlet)?;
    Ok(match &fact.konst {
        Some(k) if k.datum_type() == f32::datum_type() => {
            f32_slice(k, "zero")?.iter().all(|v| *v == 0.0)
        }
        _ => false,
    })
}

/// The node reading `outlet`, when it is the only reader and `outlet` is no model output.
pub(super) fn sole_consumer(
    model: &TypedModel,
    outlet: OutletId,
) -> TractResult<Option<&TypedNode>> {
    let succ = &model.node(outlet.node).outputs[outlet.slot].successors;
    if succ.len() != 1 || model.output_outlets()?.contains(&outlet) {
        return Ok(None);
    }
    Ok(Some(model.node(succ[0].node)))
}

/// The other input of a two-input `node` one of whose inputs is `input` (and not both).
pub(super) fn other_operand(node: &TypedNode, input: OutletId) -> Option<OutletId> {
    match node.inputs[..] {
        [a, b] if a == input && b != input => Some(b),
        [a, b] if b == input && a != input => Some(a),
        _ => None,
    }
}

/// `(node id, values as [O])` when `node` is the binary op `op` (`"Add"`, `"Mul"`) of `input`
/// and a constant f32 with one value per channel of a `co`-channel output: `[co, 1, 1]`, or
/// `[1, co, 1, 1]` when the output keeps its batch axis (`batch`). How a convolution's bias, or
/// a batch norm's scale and shift, follow it after declutter.
pub(super) fn channel_operand(
    model: &TypedModel,
    node: &TypedNode,
    input: OutletId,
    op: &str,
    co: usize,
    batch: bool,
) -> TractResult<Option<(usize, Tensor)>> {
    let Some(other) = other_operand(node, input).filter(|_| node.op().name() == op) else {
        return Ok(None);
    };
    let Some(b) = model.outlet_fact(other)?.konst.clone() else {
        return Ok(None);
    };
    let shape_ok = b.shape() == [co, 1, 1] || (batch && b.shape() == [1, co, 1, 1]);
    if b.datum_type() != f32::datum_type() || !shape_ok {
        return Ok(None);
    }
    let values = f32_slice(&b, op)?.to_vec();
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

/// `(outlet after the ReLU, true)` when a ReLU alone reads `outlet`, else `(outlet, false)`: how
/// the direct convolutions take in the ReLU that follows them.
pub(super) fn past_relu(model: &TypedModel, outlet: OutletId) -> TractResult<(OutletId, bool)> {
    if let Some(max) = sole_consumer(model, outlet)? {
        if is_relu_of(model, max, outlet)? {
            return Ok((OutletId::new(max.id, 0), true));
        }
    }
    Ok((outlet, false))
}

/// With AVX-512, replaces every node `at` matches (it gives the node's input and the op that
/// computes it) with that op, named after the node with `suffix`, taking in a ReLU that
/// follows the node alone (`with_relu` sets the op's flag): the loop of the convolution
/// rewrites.
pub(super) fn replace_convolutions<O: Into<Box<dyn TypedOp>>>(
    model: &mut TypedModel,
    suffix: &str,
    at: impl Fn(&TypedModel, usize) -> TractResult<Option<(OutletId, O)>>,
    with_relu: impl Fn(O, bool) -> O,
) -> TractResult<()> {
    if !direct::available() {
        return Ok(());
    }
    for id in model.eval_order()? {
        let Some((x, op)) = at(model, id)? else {
            continue;
        };
        let (last, relu) = past_relu(model, OutletId::new(id, 0))?;
        let name = format!("{}.{suffix}", model.node(id).name);
        substitute(model, x, last, name, with_relu(op, relu))?;
    }
    Ok(())
}

/// Wires `op` on `input` as `name` and routes every reader of `last` to it instead: one
/// replacement, for the nodes from `input`'s readers up to `last`.
pub(super) fn substitute(
    model: &mut TypedModel,
    input: OutletId,
    last: OutletId,
    name: String,
    op: impl Into<Box<dyn TypedOp>>,
) -> TractResult<()> {
    substitute_on(model, &[input], last, name, op)
}

/// [`substitute`] for an op of several `inputs`.
pub(super) fn substitute_on(
    model: &mut TypedModel,
    inputs: &[OutletId],
    last: OutletId,
    name: String,
    op: impl Into<Box<dyn TypedOp>>,
) -> TractResult<()> {
    let mut patch = TypedModelPatch::default();
    let taps = inputs
        .iter()
        .map(|&i| patch.tap_model(model, i))
        .collect::<TractResult<TVec<_>>>()?;
    let out = patch.wire_node(name, op, &taps)?[0];
    patch.shunt_outside(model, last, out)?;
    patch.apply(model)
}
