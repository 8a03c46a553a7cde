//! Keeping every other element along one axis: the second half of the stride-2 depthwise
//! rewrite in [`crate::vision::unstride`].

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::{f32_output, f32_slice};

/// Keeps indices 0, 2, 4, ... of `axis` of an f32 tensor (tract's `Downsample` with stride 2
/// and modulo 0), as a block copy per outer index instead of one strided element at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EveryOther {
    pub axis: usize,
}

impl EveryOther {
    fn output_shape(&self, input: &[usize]) -> TVec<usize> {
        let mut shape: TVec<usize> = input.into();
        shape[self.axis] = input[self.axis].div_ceil(2);
        shape
    }
}

impl Op for EveryOther {
    fn name(&self) -> StaticName {
        "EveryOther".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("axis:{}", self.axis)])
    }

    op_as_typed_op!();
}

impl EvalOp for EveryOther {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        ensure!(self.axis < shape.len(), "EveryOther: axis out of range");
        let src = f32_slice(&input, "EveryOther")?;
        let len = shape[self.axis];
        let inner: usize = shape[self.axis + 1..].iter().product();
        let out_shape = self.output_shape(shape);
        let kept = out_shape[self.axis];
        let out = f32_output(&out_shape, |dst| {
            if inner == 0 || len == 0 {
                return;
            }
            for (from, to) in src
                .chunks_exact(len * inner)
                .zip(dst.chunks_exact_mut(kept * inner))
            {
                if inner == 1 {
                    // Pairs rather than `step_by(2)`: the compiler turns this into vector
                    // shuffles. An odd row's last element has no pair.
                    let pairs = from.chunks_exact(2);
                    let last = pairs.remainder().first().copied();
                    let (head, tail) = to.split_at_mut(len / 2);
                    for (d, pair) in head.iter_mut().zip(pairs) {
                        *d = pair[0];
                    }
                    if let (Some(d), Some(v)) = (tail.first_mut(), last) {
                        *d = v;
                    }
                } else {
                    for (d, s) in to
                        .chunks_exact_mut(inner)
                        .zip(from.chunks(inner).step_by(2))
                    {
                        d.copy_from_slice(s);
                    }
                }
            }
        })?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for EveryOther {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let fact = inputs[0];
        ensure!(fact.datum_type == f32::datum_type(), "EveryOther: f32 only");
        ensure!(self.axis < fact.rank(), "EveryOther: axis out of range");
        let mut out = fact.without_value();
        let len = fact.shape[self.axis].clone();
        out.shape.set(self.axis, len.div_ceil(2));
        Ok(tvec!(out))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(shape: &[usize], axis: usize) -> (TVec<usize>, Vec<f32>) {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let t = Tensor::from_shape(shape, &data).expect("tensor");
        let out = EveryOther { axis }
            .eval(&EvalContext::out_of_plan(), tvec!(t.into_tvalue()))
            .expect("eval")
            .remove(0);
        let v = f32_slice(&out, "test").expect("f32").to_vec();
        (out.shape().into(), v)
    }

    #[test]
    fn keeps_even_indices_of_the_last_axis_odd_lengths_included() {
        let (shape, v) = run(&[2, 5], 1);
        assert_eq!(&shape[..], &[2, 3]);
        assert_eq!(v, vec![0., 2., 4., 5., 7., 9.]);
    }

    #[test]
    fn keeps_whole_rows_of_an_inner_axis() {
        let (shape, v) = run(&[3, 2], 0);
        assert_eq!(&shape[..], &[2, 2]);
        assert_eq!(v, vec![0., 1., 4., 5.]);
    }

    #[test]
    fn empty_axis_stays_empty() {
        let (shape, v) = run(&[2, 0, 3], 1);
        assert_eq!(&shape[..], &[2, 0, 3]);
        assert!(v.is_empty());
    }
}
