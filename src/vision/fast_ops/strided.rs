//! Convolutions with stride 2 (one group, 3x3 or 7x7) as a direct AVX-512 pass over the
//! input split into its four phases, with their ReLU.
//!
//! tract runs these through an im2col buffer and its packed matrix kernels: the recognition
//! ResNet's 7x7 stride-2 input layer (3 -> 32 channels, 150x150 -> 72x72) took 0.98 ms against
//! onnxruntime's 0.44 (`cargo bench --bench model_ops`). With the (zero-padded) input split into
//! its even/odd rows and columns, output `(y, x)` reads tap `(dy, dx)` at `(y + dy / 2,
//! x + dx / 2)` of phase `(dy % 2, dx % 2)`: fixed offsets over the phase planes, which is
//! what [`super::direct`] multiplies. The arithmetic is tract's im2col product: one fused
//! multiply-add per input channel and tap, in the kernel's OIHW order, from zero, then the bias,
//! then the ReLU. The outputs are the same bits.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::direct::{convolve, Geometry};
use super::with_planes;
use super::{conv_node, tract_direct_spatial};
use super::{f32_output, f32_output_fact, f32_slice, planes, replace_convolutions, tap_major};

/// `out[o, y, x] = relu?(bias[o] + sum_{i, dy, dx} w[o, i, dy, dx] * xpad[i, 2y + dy, 2x + dx])`
/// for an f32 `[I, H, W]` or `[1, I, H, W]` input, `xpad` being the input with `before` rows
/// and columns of zeros before it and `after` after; the output has the input's rank, with `O`
/// channels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StridedConv {
    /// `[I * kh * kw, O]`: row `(i * kh + dy) * kw + dx` holds that tap's weights for every
    /// output channel.
    pub weights: Arc<Tensor>,
    /// `[O]`.
    pub bias: Arc<Tensor>,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Rows and columns of zeros before the input.
    pub before: (usize, usize),
    /// Rows and columns of zeros after the input.
    pub after: (usize, usize),
    /// Whether a ReLU follows.
    pub relu: bool,
}

/// The phase-split input of one convolution: sizes in values.
struct Phases {
    /// Rows and columns of one phase plane (half the padded input, rounded up).
    hp: usize,
    wp: usize,
    /// Output rows and columns.
    oh: usize,
    ow: usize,
}

impl StridedConv {
    fn channels(&self) -> (usize, usize) {
        let s = self.weights.shape();
        (s[0] / (self.kernel.0 * self.kernel.1).max(1), s[1])
    }

    /// The phase and output sizes for an `h x w` input, when the kernel fits in it.
    fn phases(&self, h: usize, w: usize) -> Option<Phases> {
        let (kh, kw) = self.kernel;
        let (hpad, wpad) = (
            h + self.before.0 + self.after.0,
            w + self.before.1 + self.after.1,
        );
        (hpad >= kh && wpad >= kw && kh > 0 && kw > 0).then(|| Phases {
            hp: hpad.div_ceil(2),
            wp: wpad.div_ceil(2),
            oh: (hpad - kh) / 2 + 1,
            ow: (wpad - kw) / 2 + 1,
        })
    }

    fn output_shape(&self, shape: &[usize]) -> Option<TVec<usize>> {
        let (_, h, w) = planes(shape)?;
        let p = self.phases(h, w)?;
        Some(with_planes(shape, self.channels().1, p.oh, p.ow))
    }
}

impl Op for StridedConv {
    fn name(&self) -> StaticName {
        "StridedConv".into()
    }

    op_as_typed_op!();
}

impl EvalOp for StridedConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (k, co) = self.channels();
        let (Some((i, h, w)), Some(shape)) =
            (planes(input.shape()), self.output_shape(input.shape()))
        else {
            bail!("StridedConv: input {:?} does not fit", input.shape());
        };
        ensure!(i == k, "StridedConv: input has {i} channels, weights {k}");
        let Some(p) = self.phases(h, w) else {
            bail!("StridedConv: input {:?} does not fit", input.shape());
        };
        let x = f32_slice(&input, "StridedConv input")?;
        let weights = f32_slice(&self.weights, "StridedConv weights")?;
        let bias = f32_slice(&self.bias, "StridedConv bias")?;
        // Phase (r, c) of channel `ch` holds padded rows r, r + 2, ... and columns c, c + 2, ...
        let phase = p.hp * p.wp;
        let mut split = vec![0.0f32; k * 4 * phase];
        for (src, dst) in x.chunks_exact(h * w).zip(split.chunks_exact_mut(4 * phase)) {
            for (y, line) in src.chunks_exact(w).enumerate() {
                let py = y + self.before.0;
                for (x, &v) in line.iter().enumerate() {
                    let px = x + self.before.1;
                    dst[((py % 2) * 2 + px % 2) * phase + (py / 2) * p.wp + px / 2] = v;
                }
            }
        }
        let (kh, kw) = self.kernel;
        let taps: Vec<usize> = (0..kh)
            .flat_map(|dy| {
                (0..kw).map(move |dx| ((dy % 2) * 2 + dx % 2) * phase + (dy / 2) * p.wp + dx / 2)
            })
            .collect();
        // Rows of the output are computed `wp` wide; the columns past `ow` are dropped.
        let geometry = Geometry {
            plane: 4 * phase,
            taps: &taps,
            positions: (p.oh - 1) * p.wp + p.ow,
            out_stride: p.oh * p.wp,
        };
        let mut wide = vec![0.0f32; co * p.oh * p.wp];
        let written = convolve(
            &split,
            &geometry,
            weights,
            co,
            Some(bias),
            self.relu,
            &mut wide,
        );
        ensure!(
            written,
            "StridedConv: input {:?} does not fit",
            input.shape()
        );
        let out = f32_output(&shape, |out| {
            for (dst, src) in out.chunks_exact_mut(p.ow).zip(wide.chunks_exact(p.wp)) {
                dst.copy_from_slice(&src[..p.ow]);
            }
        })?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for StridedConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        f32_output_fact("StridedConv", inputs[0], |s| self.output_shape(s))
    }

    as_op!();
}

/// Narrowest output [`replace_strided`] takes, as for [`super::Conv3x3`].
const MIN_WIDTH: usize = 24;

/// Replaces every f32 convolution of a decluttered `model` with stride 2, a 3x3 or 7x7 kernel,
/// dilation 1, explicit or no padding, one group, constant weights and bias, over a `[I, H, W]`
/// or `[1, I, H, W]` input that tract would multiply through im2col, into outputs at least
/// [`MIN_WIDTH`] wide, with [`StridedConv`],
/// taking in a ReLU that follows it alone. Does nothing on CPUs without AVX-512.
pub fn replace_strided(model: &mut TypedModel) -> TractResult<()> {
    replace_convolutions(model, "strided", strided_at, |op, relu| StridedConv {
        relu,
        ..op
    })
}

fn strided_at(model: &TypedModel, id: usize) -> TractResult<Option<(OutletId, StridedConv)>> {
    let Some(c) = conv_node(model, id)? else {
        return Ok(None);
    };
    let (i, _, w_in) = c.planes;
    let (kh, kw) = c.kernel;
    if c.group != 1 || c.strides != (2, 2) || (c.kernel != (3, 3) && c.kernel != (7, 7)) {
        return Ok(None);
    }
    let op = StridedConv {
        weights: tap_major(&c.weights)?.into_arc_tensor(),
        bias: Tensor::from_shape(&[c.bias.len()], &c.bias)?.into_arc_tensor(),
        kernel: c.kernel,
        before: c.before,
        after: c.after,
        relu: false,
    };
    let Some(out) = op.output_shape(&c.shape).filter(|s| *s == c.declared) else {
        return Ok(None);
    };
    // Narrow outputs leave strip lanes idle: the 3x3 layers of recognition's last stages (1
    // to 17 wide) ran up to 3x slower than tract. Where tract would use its direct spatial
    // kernel the arithmetic differs: those are `SpatialConv`'s or tract's.
    let w_out = out[out.len() - 1];
    if w_out < MIN_WIDTH || tract_direct_spatial(i * kh * kw, w_in, w_out) {
        return Ok(None);
    }
    Ok(Some((c.input, op)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition in f64, for one `[I, H, W]` input.
    fn reference(op: &StridedConv, x: &[f32], (i, h, w): (usize, usize, usize)) -> Vec<f64> {
        let (k, co) = op.channels();
        assert_eq!(k, i);
        let p = op.phases(h, w).expect("fits");
        let (kh, kw) = op.kernel;
        let weights = f32_slice(&op.weights, "w").expect("w");
        let bias = f32_slice(&op.bias, "b").expect("b");
        let mut out = Vec::new();
        for o in 0..co {
            for y in 0..p.oh {
                for xo in 0..p.ow {
                    let mut acc = f64::from(bias[o]);
                    for c in 0..i {
                        for dy in 0..kh {
                            for dx in 0..kw {
                                let iy = (2 * y + dy) as isize - op.before.0 as isize;
                                let ix = (2 * xo + dx) as isize - op.before.1 as isize;
                                if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                                    let v = x[c * h * w + iy as usize * w + ix as usize];
                                    let wt = weights[((c * kh + dy) * kw + dx) * co + o];
                                    acc += f64::from(v) * f64::from(wt);
                                }
                            }
                        }
                    }
                    out.push(if op.relu { acc.max(0.0) } else { acc });
                }
            }
        }
        out
    }

    use super::super::test_values as values;

    #[test]
    fn stride_two_matches_the_definition() {
        if !super::super::direct_convolutions_available() {
            return;
        }
        let cases = [
            ((7, 7), (0, 0), (0, 0), (3, 20, 23), 13),
            ((7, 7), (3, 2), (2, 3), (2, 9, 8), 5),
            ((3, 3), (1, 1), (1, 1), (4, 17, 16), 29),
            ((3, 3), (0, 0), (1, 1), (1, 3, 3), 2),
        ];
        for (kernel, before, after, (i, h, w), co) in cases {
            for relu in [false, true] {
                let taps = i * kernel.0 * kernel.1;
                let op = StridedConv {
                    weights: Tensor::from_shape(&[taps, co], &values(taps * co, 1))
                        .expect("weights")
                        .into_arc_tensor(),
                    bias: Tensor::from_shape(&[co], &values(co, 2))
                        .expect("bias")
                        .into_arc_tensor(),
                    kernel,
                    before,
                    after,
                    relu,
                };
                let x = values(i * h * w, 3);
                let input = Tensor::from_shape(&[1, i, h, w], &x).expect("input");
                let out = op
                    .eval(&EvalContext::out_of_plan(), tvec!(input.into_tvalue()))
                    .expect("eval");
                let got = f32_slice(&out[0], "out").expect("out");
                let want = reference(&op, &x, (i, h, w));
                assert_eq!(got.len(), want.len(), "{kernel:?} {before:?} {after:?}");
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    let err = (f64::from(*g) - w).abs();
                    assert!(err < 1e-3, "{kernel:?} {before:?} #{j}: off by {err}");
                }
            }
        }
    }
}
