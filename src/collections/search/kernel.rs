//! The two inner loops of the 1:N search, written so that LLVM vectorises them: an exact f32
//! dot product (the canonical score every ranking is defined by) and an int8 dot product over
//! many rows (the cheap pre-filter that reads a quarter of the bytes).
//!
//! Both loops keep `LANES` independent accumulators over fixed-width chunks, so the compiler can
//! map them to vector registers without reassociating floating-point sums (Rust never does that
//! on its own). The f32 kernel therefore gives bit-identical results on every CPU and with
//! every target feature: the fused multiply-add is never introduced implicitly. The int8 kernel
//! is integer arithmetic and exact by construction; it is compiled three times (baseline,
//! AVX2, AVX-512BW) and the fastest the CPU supports is picked at run time.

/// Accumulator lanes; 16 f32 = one AVX-512 register, two AVX2 registers, four NEON registers.
const LANES: usize = 16;

/// Rows of the int8 pre-filter are padded with zeros to a multiple of this many values, so the
/// int8 loop has no remainder.
pub const I8_BLOCK: usize = 32;

/// The canonical similarity: the dot product of two equally long f32 slices, summed in a fixed
/// order (16 interleaved partial sums, then a fixed pairwise reduction, then the tail).
/// Every search result is ranked by exactly this function.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] += x[j] * y[j];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    reduce16(acc) + tail
}

#[inline(always)]
fn reduce16(a: [f32; LANES]) -> f32 {
    let mut h = [0f32; 8];
    for j in 0..8 {
        h[j] = a[j] + a[j + 8];
    }
    let q = [h[0] + h[4], h[1] + h[5], h[2] + h[6], h[3] + h[7]];
    (q[0] + q[2]) + (q[1] + q[3])
}

/// Integer dot product of two int8 slices whose length is a multiple of [`I8_BLOCK`].
/// Exact: the largest possible magnitude, 127 * 127 * len, stays far inside i32 for any
/// embedding length below 100,000.
#[inline(always)]
fn dot_i8_body(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; I8_BLOCK];
    for (x, y) in a.chunks_exact(I8_BLOCK).zip(b.chunks_exact(I8_BLOCK)) {
        for j in 0..I8_BLOCK {
            acc[j] += (x[j] as i16 * y[j] as i16) as i32;
        }
    }
    acc.iter().sum()
}

#[inline(always)]
fn dots_i8_body(rows: &[i8], width: usize, query: &[i8], out: &mut [i32]) {
    for (row, o) in rows.chunks_exact(width).zip(out.iter_mut()) {
        *o = dot_i8_body(row, query);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dots_i8_avx2(rows: &[i8], width: usize, query: &[i8], out: &mut [i32]) {
    dots_i8_body(rows, width, query, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn dots_i8_avx512(rows: &[i8], width: usize, query: &[i8], out: &mut [i32]) {
    dots_i8_body(rows, width, query, out)
}

/// The int8 instruction set the running CPU offers, detected once per call site group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Whatever the compilation target guarantees (SSE2 on x86_64, NEON on aarch64).
    Baseline,
    /// x86_64 with AVX2.
    Avx2,
    /// x86_64 with AVX-512 F + BW.
    Avx512,
}

impl Isa {
    /// The best variant this CPU runs.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512f")
            {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }
}

/// For each row of `rows` (consecutive rows of `width` int8 values, `width` a multiple of
/// [`I8_BLOCK`] and equal to `query.len()`), writes the integer dot product with `query` into
/// `out` (one value per row; `out` bounds how many rows are read).
pub fn dots_i8(isa: Isa, rows: &[i8], width: usize, query: &[i8], out: &mut [i32]) {
    if width == 0 || query.len() != width || !width.is_multiple_of(I8_BLOCK) {
        out.iter_mut().for_each(|o| *o = 0);
        return;
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only produced by `Isa::detect` after the CPU reported
        // AVX-512 F and BW.
        Isa::Avx512 => unsafe { dots_i8_avx512(rows, width, query, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only produced by `Isa::detect` after the CPU reported AVX2.
        Isa::Avx2 => unsafe { dots_i8_avx2(rows, width, query, out) },
        _ => dots_i8_body(rows, width, query, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_kernel_matches_f64_reference() {
        for n in [0usize, 1, 5, 16, 17, 128, 131, 512] {
            let a: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let b: Vec<f32> = (0..n)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                .collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let got = dot_f32(&a, &b) as f64;
            assert!(
                (got - exact).abs() <= 1e-4 * (1.0 + exact.abs()),
                "n={n}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn every_int8_variant_is_exact() {
        let width = 128;
        let rows: Vec<i8> = (0..width * 7)
            .map(|i| ((i * 73 % 255) as i32 - 127) as i8)
            .collect();
        let query: Vec<i8> = (0..width)
            .map(|i| ((i * 31 % 255) as i32 - 127) as i8)
            .collect();
        let want: Vec<i32> = rows
            .chunks(width)
            .map(|r| {
                r.iter()
                    .zip(&query)
                    .map(|(a, b)| *a as i32 * *b as i32)
                    .sum()
            })
            .collect();
        let mut isas = vec![Isa::Baseline];
        let best = Isa::detect();
        if best == Isa::Avx512 {
            isas.push(Isa::Avx2);
        }
        isas.push(best);
        for isa in isas {
            let mut out = vec![0i32; 7];
            dots_i8(isa, &rows, width, &query, &mut out);
            assert_eq!(out, want, "{isa:?}");
        }
        let extreme = vec![-127i8; width];
        let mut out = [0i32; 1];
        dots_i8(Isa::detect(), &extreme, width, &extreme, &mut out);
        assert_eq!(out[0], 127 * 127 * width as i32);
    }
}
