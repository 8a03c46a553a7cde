//! The spatial transpose of a convolutional ONNX graph: the same network with every kernel's
//! height and width swapped, so that `g(transpose(x)) == transpose(f(x))` exactly.
//!
//! Why: tract's depthwise convolution walks its inner loop along the larger spatial axis and is
//! vectorised only when that axis is the contiguous one (the width). On a portrait input
//! (taller than wide) every depthwise layer of CenterFace ran scalar: 33 ms instead of 27 ms for
//! the same number of pixels (`cargo bench --bench model_ops`). The detector therefore runs a
//! portrait image through the transposed network on the transposed (landscape) tensor and
//! transposes the output maps back: same numbers, vectorised. Feeding a smaller landscape input
//! instead cost accuracy (the worst genuine pair of `tests/vision_accuracy.rs` went from L2 0.291
//! to 0.354).
//!
//! Only graphs made of operators whose meaning is known to commute with the transpose are
//! rewritten (convolutions and transposed convolutions with constant weights, per-channel and
//! element-wise operators, channel concatenation); anything else gives `None` and the caller keeps
//! the direct plan.

use std::collections::HashSet;

use tract_onnx::pb::type_proto::Value;
use tract_onnx::pb::{ModelProto, NodeProto, TensorProto};

/// ONNX operators that act per element or per channel: unchanged by a spatial transpose.
const POINTWISE: &[&str] = &[
    "Relu",
    "Sigmoid",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Clip",
    "LeakyRelu",
    "BatchNormalization",
    "Identity",
];

/// ONNX data type number of float32.
const FLOAT: i32 = 1;

/// The transposed network of a 2-D NCHW `proto`, or `None` when it holds an operator this
/// module does not know to commute with the transpose.
pub fn transposed(proto: &ModelProto) -> Option<ModelProto> {
    let mut out = proto.clone();
    let graph = out.graph.as_mut()?;
    let mut weights: HashSet<String> = HashSet::new();
    for node in &mut graph.node {
        match node.op_type.as_str() {
            "Conv" | "ConvTranspose" => {
                swap_conv_attributes(node)?;
                weights.insert(node.input.get(1)?.clone());
            }
            "Concat" => {
                let axis = node.attribute.iter().find(|a| a.name == "axis")?.i;
                if axis != 1 && axis != -3 {
                    return None;
                }
            }
            op if POINTWISE.contains(&op) => {}
            _ => return None,
        }
    }
    // A constant operand with a spatial extent (say a [1, C, H, W] bias) would need transposing
    // too; such graphs are left alone.
    let spatial_constant = graph.node.iter().any(|node| {
        POINTWISE.contains(&node.op_type.as_str())
            && node.input.iter().any(|i| {
                graph.initializer.iter().any(|t| {
                    &t.name == i
                        && t.dims.len() >= 2
                        && t.dims.iter().rev().take(2).any(|&d| d != 1)
                })
            })
    });
    if spatial_constant {
        return None;
    }
    // A convolution weight must be a constant, used by convolutions only.
    for node in &graph.node {
        let conv = matches!(node.op_type.as_str(), "Conv" | "ConvTranspose");
        let skip = usize::from(conv) * 2; // inputs 0 (data) and 1 (weight) of a convolution
        if node.input.iter().skip(skip).any(|i| weights.contains(i)) {
            return None;
        }
    }
    for name in &weights {
        let t = graph.initializer.iter_mut().find(|t| &t.name == name)?;
        transpose_kernel(t)?;
    }
    // Older files also list initializers as graph inputs, with their declared shapes.
    for input in graph.input.iter_mut().filter(|i| weights.contains(&i.name)) {
        if let Some(Value::TensorType(t)) = input.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            if let Some(shape) = t.shape.as_mut().filter(|s| s.dim.len() == 4) {
                shape.dim.swap(2, 3);
            }
        }
    }
    Some(out)
}

/// Swaps the height and width entries of a convolution's spatial attributes; `None` for a
/// convolution that is not 2-D or uses automatic padding.
fn swap_conv_attributes(node: &mut NodeProto) -> Option<()> {
    for a in &mut node.attribute {
        match a.name.as_str() {
            "kernel_shape" | "strides" | "dilations" | "output_padding" | "output_shape" => {
                if a.ints.len() != 2 {
                    return None;
                }
                a.ints.swap(0, 1);
            }
            // [h_begin, w_begin, h_end, w_end]
            "pads" => {
                if a.ints.len() != 4 {
                    return None;
                }
                a.ints.swap(0, 1);
                a.ints.swap(2, 3);
            }
            "auto_pad" => {
                let mode = String::from_utf8_lossy(&a.s);
                if !(mode.is_empty() || mode == "NOTSET" || mode == "VALID") {
                    return None;
                }
            }
            "group" => {}
            _ => return None,
        }
    }
    Some(())
}

/// Transposes the last two axes of a 4-D float32 kernel in place (raw or typed storage).
fn transpose_kernel(t: &mut TensorProto) -> Option<()> {
    if t.data_type != FLOAT || t.dims.len() != 4 {
        return None;
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    let (kh, kw) = (dims[2], dims[3]);
    let count = dims.iter().product::<usize>();
    let values: Vec<f32> = if !t.raw_data.is_empty() {
        if t.raw_data.len() != count * 4 {
            return None;
        }
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else if t.float_data.len() == count {
        t.float_data.clone()
    } else {
        return None;
    };
    let mut swapped = vec![0f32; count];
    for (block, out) in values
        .chunks_exact(kh * kw)
        .zip(swapped.chunks_exact_mut(kh * kw))
    {
        for y in 0..kh {
            for x in 0..kw {
                out[x * kh + y] = block[y * kw + x];
            }
        }
    }
    t.dims.swap(2, 3);
    if t.raw_data.is_empty() {
        t.float_data = swapped;
    } else {
        t.raw_data = swapped.iter().flat_map(|v| v.to_le_bytes()).collect();
    }
    Some(())
}

/// Transposes each `h x w` plane of a row-major `[.., h, w]` buffer into `[.., w, h]`.
pub fn transpose_planes(data: &[f32], h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    if h == 0 || w == 0 {
        return out;
    }
    for (src, dst) in data.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
        for y in 0..h {
            for x in 0..w {
                dst[x * h + y] = src[y * w + x];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_transpose_and_back() {
        let data: Vec<f32> = (0..2 * 3 * 4).map(|v| v as f32).collect();
        let t = transpose_planes(&data, 3, 4);
        // plane 0, original (y=1, x=2) = 6 -> transposed (y=2, x=1) at 2*3+1
        assert_eq!(t[2 * 3 + 1], 6.0);
        // plane 1 keeps its offset
        assert_eq!(t[12], 12.0);
        assert_eq!(transpose_planes(&t, 4, 3), data);
    }

    fn graph_of(op: &str, constant_dims: Vec<i64>) -> ModelProto {
        let count = constant_dims.iter().product::<i64>() as usize;
        ModelProto {
            graph: Some(tract_onnx::pb::GraphProto {
                node: vec![NodeProto {
                    op_type: op.into(),
                    input: vec!["x".into(), "c".into()],
                    output: vec!["y".into()],
                    ..Default::default()
                }],
                initializer: vec![TensorProto {
                    name: "c".into(),
                    dims: constant_dims,
                    data_type: FLOAT,
                    float_data: vec![0.5; count],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_graphs_that_commute_with_the_transpose_are_rewritten() {
        // A per-channel constant commutes; a constant with a spatial extent does not.
        assert!(transposed(&graph_of("Add", vec![1, 4, 1, 1])).is_some());
        assert!(transposed(&graph_of("Mul", vec![4])).is_some());
        assert!(transposed(&graph_of("Add", vec![1, 4, 2, 3])).is_none());
        assert!(transposed(&graph_of("Add", vec![1, 3])).is_none());
        // An operator outside the known set leaves the graph alone.
        assert!(transposed(&graph_of("Reshape", vec![4])).is_none());
    }

    #[test]
    fn kernels_swap_their_spatial_axes() {
        let mut t = TensorProto {
            dims: vec![1, 1, 2, 3],
            data_type: FLOAT,
            float_data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            ..Default::default()
        };
        transpose_kernel(&mut t).expect("float kernel");
        assert_eq!(t.dims, vec![1, 1, 3, 2]);
        assert_eq!(t.float_data, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
