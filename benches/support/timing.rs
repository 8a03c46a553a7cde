//! Latency percentiles for the benches that report p50/p95 besides criterion's estimate.

use std::time::{Duration, Instant};

/// Runs `f` `samples` times and prints `<prefix> <name> n= p50= p95=` in milliseconds.
pub fn percentiles(prefix: &str, name: &str, samples: usize, mut f: impl FnMut()) {
    let mut t: Vec<Duration> = (0..samples.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    let at = |q: f64| t[((t.len() as f64 * q).ceil() as usize).clamp(1, t.len()) - 1];
    println!(
        "{prefix} {name:<28} n={} p50={:>7.1} ms p95={:>7.1} ms",
        t.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3
    );
}
