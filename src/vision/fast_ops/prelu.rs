//! PReLU with one slope per channel, fused from the five nodes a converter spelled it with.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::{f32_slice, is_zero, substitute};

/// `y = x` for `x > 0`, else `slope[c] * x`, over an f32 tensor whose axis 1 is the channel.
///
/// FaceMesh's converter wrote each PReLU as `Add(Mul(Relu(Neg(x)), w), Relu(x))` with
/// `w = -slope`. For `x <= 0` that is `(-x) * w + 0 = x * slope` exactly (IEEE negation and
/// multiplication are sign-symmetric), for `x > 0` it is `0 * w + x = x`, so the fused op
/// gives the same bits in one pass instead of five.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelPRelu {
    /// One slope per channel, shape `[C]`.
    pub slope: Arc<Tensor>,
}

impl Op for ChannelPRelu {
    fn name(&self) -> StaticName {
        "ChannelPRelu".into()
    }

    op_as_typed_op!();
}

impl EvalOp for ChannelPRelu {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        let slope = f32_slice(&self.slope, "ChannelPRelu slope")?;
        ensure!(
            shape.len() >= 2 && shape[1] == slope.len(),
            "ChannelPRelu: input {shape:?} does not have {} channels on axis 1",
            slope.len()
        );
        let plane: usize = shape[2..].iter().product();
        let mut t = input.into_tensor();
        {
            let mut view = t.try_as_plain_ram_mut()?;
            let data = view.as_slice_mut::<f32>()?;
            if plane > 0 {
                for (i, chunk) in data.chunks_exact_mut(plane).enumerate() {
                    let a = slope[i % slope.len()];
                    for v in chunk {
                        // The five nodes' own arithmetic (`-a` is their `w`), so the sign of a
                        // zero output is theirs too.
                        let neg = (-*v).max(0.0) * -a;
                        *v = neg + v.max(0.0);
                    }
                }
            }
        }
        Ok(tvec!(t.into_tvalue()))
    }
}

impl TypedOp for ChannelPRelu {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs[0].datum_type == f32::datum_type());
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

/// Fuses every `Add(Mul(Max(Neg(x), 0), w), Max(x, 0))` of a decluttered model (operands of
/// `Add`, `Mul` and `Max` in either order) whose `w` is a per-channel f32 constant and whose
/// inner nodes feed nothing else.
pub fn fuse_prelus(model: &mut TypedModel) -> TractResult<()> {
    for id in model.eval_order()? {
        let Some((x, slope)) = prelu_at(model, id)? else {
            continue;
        };
        let name = format!("{}.prelu", model.node(id).name);
        let op = ChannelPRelu {
            slope: slope.into_arc_tensor(),
        };
        substitute(model, x, OutletId::new(id, 0), name, op)?;
    }
    Ok(())
}

/// The node producing `outlet`, when that is its only output, feeding exactly one node and
/// no model output.
fn sole_producer(model: &TypedModel, outlet: OutletId) -> TractResult<Option<&TypedNode>> {
    let producer = model.node(outlet.node);
    let only_use = producer.outputs.len() == 1
        && producer.outputs[0].successors.len() == 1
        && !model.output_outlets()?.contains(&outlet);
    Ok(only_use.then_some(producer))
}

/// `x` when `node` is `Max(x, 0)` (either order).
fn relu_input(model: &TypedModel, node: &TypedNode) -> TractResult<Option<OutletId>> {
    if node.op().name() != "Max" || node.inputs.len() != 2 {
        return Ok(None);
    }
    for (a, b) in [(0, 1), (1, 0)] {
        if is_zero(model, node.inputs[b])? {
            return Ok(Some(node.inputs[a]));
        }
    }
    Ok(None)
}

/// `(x, slope)` when node `id` is the PReLU pattern; `slope` is `-w` as a `[C]` tensor.
fn prelu_at(model: &TypedModel, id: usize) -> TractResult<Option<(OutletId, Tensor)>> {
    let add = model.node(id);
    if add.op().name() != "Add" || add.inputs.len() != 2 || add.outputs.len() != 1 {
        return Ok(None);
    }
    for (m, r) in [(0, 1), (1, 0)] {
        let (Some(mul), Some(relu)) = (
            sole_producer(model, add.inputs[m])?,
            sole_producer(model, add.inputs[r])?,
        ) else {
            continue;
        };
        let Some(x) = relu_input(model, relu)? else {
            continue;
        };
        if mul.op().name() != "Mul" || mul.inputs.len() != 2 {
            continue;
        }
        for (n, w) in [(0, 1), (1, 0)] {
            let Some(w) = model.outlet_fact(mul.inputs[w])?.konst.clone() else {
                continue;
            };
            let Some(neg_relu) = sole_producer(model, mul.inputs[n])? else {
                continue;
            };
            let Some(neg_out) = relu_input(model, neg_relu)? else {
                continue;
            };
            let Some(neg) = sole_producer(model, neg_out)? else {
                continue;
            };
            if neg.op().name() != "Neg" || neg.inputs != [x] {
                continue;
            }
            if let Some(slope) = channel_slope(model.outlet_fact(x)?, &w)? {
                return Ok(Some((x, slope)));
            }
        }
    }
    Ok(None)
}

/// `-w` as a `[C]` tensor when `w` is an f32 constant varying at most along axis 1 of `x`.
fn channel_slope(x: &TypedFact, w: &Tensor) -> TractResult<Option<Tensor>> {
    let Some(shape) = x.shape.as_concrete() else {
        return Ok(None);
    };
    if x.datum_type != f32::datum_type()
        || w.datum_type() != f32::datum_type()
        || shape.len() < 2
        || w.rank() != shape.len()
    {
        return Ok(None);
    }
    let c = shape[1];
    let per_channel = w
        .shape()
        .iter()
        .enumerate()
        .all(|(axis, &d)| d == 1 || (axis == 1 && d == c));
    if !per_channel {
        return Ok(None);
    }
    let w = f32_slice(w, "slope")?;
    let slope: Vec<f32> = (0..c)
        .map(|i| -w[if w.len() == 1 { 0 } else { i }])
        .collect();
    Ok(Some(Tensor::from_shape(&[c], &slope)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_op_gives_the_bits_of_the_five_nodes() {
        let slope = [0.25f32, -1.5, 0.0];
        let xs: Vec<f32> = [-3.0f32, -0.0, 0.0, 2.5, -1e-30, 7.0]
            .iter()
            .cycle()
            .take(3 * 6)
            .copied()
            .collect();
        let t = Tensor::from_shape(&[1, 3, 2, 3], &xs).expect("tensor");
        let op = ChannelPRelu {
            slope: Tensor::from_shape(&[3], &slope)
                .expect("slope")
                .into_arc_tensor(),
        };
        let out = op
            .eval(&EvalContext::out_of_plan(), tvec!(t.into_tvalue()))
            .expect("eval")
            .remove(0);
        let got = f32_slice(&out, "out").expect("f32");
        for (i, (x, y)) in xs.iter().zip(got).enumerate() {
            let w = -slope[i / 6];
            let five_nodes = (-x).max(0.0) * w + x.max(0.0);
            assert_eq!(y.to_bits(), five_nodes.to_bits(), "x {x} slope {}", -w);
        }
    }
}
