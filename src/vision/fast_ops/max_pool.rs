//! Two-dimensional max pooling over channel-first planes.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{MaxPool, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

use super::{f32_output, f32_slice};

/// Max pooling of each H x W plane of an f32 `[.., C, H, W]` tensor, padding ignored (as ONNX
/// and tract define it), without dilation. Every output row is the running maximum of its
/// kernel's input rows: no window bookkeeping per output element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlaneMaxPool {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding before the first row and column.
    pub pad_before: [usize; 2],
    /// Output rows and columns, fixed when the op is planned.
    pub out: [usize; 2],
}

impl Op for PlaneMaxPool {
    fn name(&self) -> StaticName {
        "PlaneMaxPool".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "kernel:{:?} stride:{:?} pad_before:{:?} out:{:?}",
            self.kernel, self.stride, self.pad_before, self.out
        )])
    }

    op_as_typed_op!();
}

impl PlaneMaxPool {
    /// Pools one plane of `h` x `w` into `dst` (`out[0]` x `out[1]`); `down` is scratch of
    /// `w` values. For each output row the kernel's input rows are first combined element-wise
    /// (contiguous, vectorised), then each output takes the maximum of its window of columns.
    /// Maxima of finite values do not depend on order, so the result is the definition's.
    fn pool_plane(&self, src: &[f32], h: usize, w: usize, dst: &mut [f32], down: &mut [f32]) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [ph, pw] = self.pad_before;
        let ow = self.out[1];
        for (oy, row) in dst.chunks_exact_mut(ow).enumerate() {
            let mut rows = (0..kh)
                .filter_map(|ky| (oy * sh + ky).checked_sub(ph).filter(|&y| y < h))
                .map(|y| &src[y * w..(y + 1) * w]);
            let Some(first) = rows.next() else {
                row.fill(f32::NEG_INFINITY);
                continue;
            };
            down.copy_from_slice(first);
            for line in rows {
                for (d, &v) in down.iter_mut().zip(line) {
                    *d = larger(*d, v);
                }
            }
            match kw {
                2 => across::<2>(down, sw, pw, row),
                3 => across::<3>(down, sw, pw, row),
                _ => across_any(down, kw, sw, pw, row),
            }
        }
    }
}

/// `row[ox]` = maximum of `line` over the columns of window `ox` (width `K`, stride `sw`,
/// `pw` columns of padding before), with the window's width known to the compiler.
fn across<const K: usize>(line: &[f32], sw: usize, pw: usize, row: &mut [f32]) {
    let one = |ox: usize| {
        let window = (ox * sw)
            .checked_sub(pw)
            .and_then(|x| line.get(x..x + K))
            .and_then(|s| <&[f32; K]>::try_from(s).ok());
        match window {
            Some(win) => win.iter().fold(f32::NEG_INFINITY, |m, &v| larger(m, v)),
            None => clipped_max(line, ox * sw, K, pw),
        }
    };
    #[cfg(target_arch = "x86_64")]
    let vectorised = sw == 2 && K <= 3 && std::arch::is_x86_feature_detected!("avx512f");
    let mut ox = 0;
    while ox < row.len() {
        // 16 outputs at once where their windows, and the 34 values loaded for them, lie
        // inside the line.
        #[cfg(target_arch = "x86_64")]
        if vectorised && ox + 16 <= row.len() {
            if let Some(start) = (2 * ox).checked_sub(pw).filter(|s| s + 34 <= line.len()) {
                // SAFETY: AVX-512F is available; `line[start..start + 34]` and
                // `row[ox..ox + 16]` are in bounds.
                unsafe { avx512::stride_two::<K>(&line[start..start + 34], &mut row[ox..ox + 16]) };
                ox += 16;
                continue;
            }
        }
        row[ox] = one(ox);
        ox += 1;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// 16 outputs of a stride-2 window of width `K` (at most 3) over `line`, which starts at
    /// the first window and holds 34 values: the same maxima, folded in the same order, as
    /// [`super::larger`] from minus infinity.
    ///
    /// # Safety
    /// AVX-512F must be available; `line` holds 34 values and `row` 16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn stride_two<const K: usize>(line: &[f32], row: &mut [f32]) {
        let p = line.as_ptr();
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        // Column `j` of every window: lanes `j, j + 2, ...` of the values from `p`.
        let column = |j: usize| match j {
            0 => _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps(p.add(16))),
            1 => _mm512_permutex2var_ps(_mm512_loadu_ps(p), odd, _mm512_loadu_ps(p.add(16))),
            _ => {
                _mm512_permutex2var_ps(_mm512_loadu_ps(p.add(2)), even, _mm512_loadu_ps(p.add(18)))
            }
        };
        let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
        for j in 0..K {
            // `larger(m, v)` is `v > m ? v : m`, which `max_ps(v, m)` computes lane by lane.
            m = _mm512_max_ps(column(j), m);
        }
        _mm512_storeu_ps(row.as_mut_ptr(), m);
    }
}

/// [`across`] for any window width.
fn across_any(line: &[f32], kw: usize, sw: usize, pw: usize, row: &mut [f32]) {
    for (ox, out) in row.iter_mut().enumerate() {
        *out = clipped_max(line, ox * sw, kw, pw);
    }
}

/// Maximum of `line` over padded columns `start..start + kw`, padding ignored.
fn clipped_max(line: &[f32], start: usize, kw: usize, pw: usize) -> f32 {
    let lo = start.saturating_sub(pw).min(line.len());
    let hi = (start + kw).saturating_sub(pw).min(line.len());
    line[lo..hi]
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| larger(m, v))
}

/// The larger of two values as one branch-free select (a `maxps` lane): pooled activations
/// are in no predictable order, so a branch would mispredict half the time.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}

impl EvalOp for PlaneMaxPool {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        ensure!(shape.len() >= 3, "PlaneMaxPool: rank {} < 3", shape.len());
        let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let src = f32_slice(&input, "PlaneMaxPool")?;
        let mut out_shape: TVec<usize> = shape.into();
        let r = out_shape.len();
        out_shape[r - 2] = self.out[0];
        out_shape[r - 1] = self.out[1];
        let plane_out = self.out[0] * self.out[1];
        let out = f32_output(&out_shape, |dst| {
            if h * w == 0 || plane_out == 0 {
                return;
            }
            let mut down = vec![0.0; w];
            for (s, d) in src.chunks_exact(h * w).zip(dst.chunks_exact_mut(plane_out)) {
                self.pool_plane(s, h, w, d, &mut down);
            }
        })?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for PlaneMaxPool {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let fact = inputs[0];
        ensure!(fact.datum_type == f32::datum_type() && fact.rank() >= 3);
        let mut out = fact.without_value();
        let r = fact.rank();
        out.shape.set(r - 2, self.out[0].into());
        out.shape.set(r - 1, self.out[1].into());
        Ok(tvec!(out))
    }

    as_op!();
}

/// Replaces each channel-first 2-D f32 max pooling with fixed shapes by [`PlaneMaxPool`].
pub fn replace_max_pools(model: &mut TypedModel) -> TractResult<()> {
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(pool) = node.op_as::<MaxPool>() else {
            continue;
        };
        let Some(op) = plane_pool(model, node, pool)? else {
            continue;
        };
        let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs, op)?;
        patch.apply(model)?;
    }
    Ok(())
}

/// The direct op for `pool` at `node`, when its geometry is one the op covers and gives the
/// output shape tract computed.
fn plane_pool(
    model: &TypedModel,
    node: &TypedNode,
    pool: &MaxPool,
) -> TractResult<Option<PlaneMaxPool>> {
    let spec = &pool.pool_spec;
    let fact = model.outlet_fact(node.inputs[0])?;
    let (Some(shape), Some(out_shape)) = (
        fact.shape.as_concrete(),
        model
            .outlet_fact(OutletId::new(node.id, 0))?
            .shape
            .as_concrete(),
    ) else {
        return Ok(None);
    };
    let rank = shape.len();
    let channel_first = matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW);
    if pool.with_index_outputs.is_some()
        || !channel_first
        || fact.datum_type != f32::datum_type()
        || spec.kernel_shape.len() != 2
        || rank < 3
        || spec.dilations().iter().any(|&d| d != 1)
        || node.outputs.len() != 1
    {
        return Ok(None);
    }
    let strides = spec.strides();
    let pad_before = match &spec.padding {
        PaddingSpec::Valid => [0, 0],
        PaddingSpec::Explicit(before, _) if before.len() == 2 => [before[0], before[1]],
        _ => return Ok(None),
    };
    let pad_after = match &spec.padding {
        PaddingSpec::Explicit(_, after) if after.len() == 2 => [after[0], after[1]],
        _ => [0, 0],
    };
    let kernel = [spec.kernel_shape[0], spec.kernel_shape[1]];
    let stride = [strides[0], strides[1]];
    let input = [shape[rank - 2], shape[rank - 1]];
    let mut out = [0; 2];
    for a in 0..2 {
        let padded = input[a] + pad_before[a] + pad_after[a];
        if stride[a] == 0
            || kernel[a] == 0
            || padded < kernel[a]
            || pad_before[a] >= kernel[a]
            || pad_after[a] >= kernel[a]
        {
            return Ok(None);
        }
        out[a] = (padded - kernel[a]) / stride[a] + 1;
    }
    if out_shape[rank - 2..] != out || out_shape[..rank - 2] != shape[..rank - 2] {
        return Ok(None);
    }
    Ok(Some(PlaneMaxPool {
        kernel,
        stride,
        pad_before,
        out,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: each output is the maximum of the window's in-bounds inputs.
    fn naive(op: &PlaneMaxPool, src: &[f32], h: usize, w: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for oy in 0..op.out[0] {
            for ox in 0..op.out[1] {
                let mut m = f32::NEG_INFINITY;
                for ky in 0..op.kernel[0] {
                    for kx in 0..op.kernel[1] {
                        let y = (oy * op.stride[0] + ky) as isize - op.pad_before[0] as isize;
                        let x = (ox * op.stride[1] + kx) as isize - op.pad_before[1] as isize;
                        if (0..h as isize).contains(&y) && (0..w as isize).contains(&x) {
                            m = m.max(src[y as usize * w + x as usize]);
                        }
                    }
                }
                out.push(m);
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_with_and_without_padding() {
        // Pseudo-random planes with negative values, so padding mistaken for zeros shows; the
        // wide ones take the vectorised stride-2 rows.
        for (h, w) in [(7, 9), (5, 75), (4, 72)] {
            check_plane(h, w);
        }
    }

    fn check_plane(h: usize, w: usize) {
        let src: Vec<f32> = (0..h * w)
            .map(|i| ((i * 7919 % 103) as f32) - 60.0)
            .collect();
        for (kernel, stride, pad) in [
            ([2, 2], [2, 2], [0, 0]),
            ([3, 3], [2, 2], [0, 0]),
            ([3, 3], [2, 2], [1, 1]),
            ([3, 3], [1, 1], [1, 1]),
            ([3, 2], [2, 1], [1, 0]),
            ([2, 3], [1, 3], [0, 2]),
        ] {
            let out = [
                (h + 2 * pad[0] - kernel[0]) / stride[0] + 1,
                (w + 2 * pad[1] - kernel[1]) / stride[1] + 1,
            ];
            let op = PlaneMaxPool {
                kernel,
                stride,
                pad_before: pad,
                out,
            };
            let mut got = vec![0.0; out[0] * out[1]];
            op.pool_plane(&src, h, w, &mut got, &mut vec![0.0; w]);
            assert_eq!(got, naive(&op, &src, h, w), "{op:?}");
        }
    }
}
