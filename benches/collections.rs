//! 1:N search over synthetic templates: 10k, 100k and 1M 128-d unit vectors, one query at a
//! time on one thread, top 10 (a COLLECTION analysis asks for 10 persons).
//!
//! Two distributions:
//! - `uniform`: random directions (pairwise similarity ~0 +- 0.09), the easy case for pruning;
//! - `facelike`: every vector shares a common direction, like face descriptors do (pairwise
//!   similarity ~0.55, the impostor range of the built-in embedder), and the query is a noisy
//!   copy of one stored template (a genuine hit), the realistic case.
//!
//! Before timing, every size checks that the search returns exactly the naive scan's top 10
//! (same templates, same order, same scores) for several queries; the bench aborts otherwise.
//! It also prints the memory the gallery holds per template.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use facelite::collections::search::Gallery;
use uuid::Uuid;

const DIM: usize = 128;
const K: usize = 10;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform01(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f32 {
        let (u, v) = (self.uniform01(), self.uniform01());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
    fn vector(&mut self, common: Option<&[f32]>, noise: f32) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM).map(|_| self.gauss() * noise).collect();
        if let Some(c) = common {
            for (x, m) in v.iter_mut().zip(c) {
                *x += m;
            }
        }
        normalise(v)
    }
}

fn normalise(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// Common direction scaled so that two independent vectors have similarity ~0.55.
fn common_direction(rng: &mut Rng) -> Vec<f32> {
    let d = rng.vector(None, 1.0);
    d.into_iter().map(|x| x * 1.1).collect()
}

fn build(n: usize, facelike: bool, seed: u64) -> (Gallery, Vec<Vec<f32>>) {
    let mut rng = Rng(seed);
    let common = facelike.then(|| common_direction(&mut rng));
    let noise = 1.0 / (DIM as f32).sqrt();
    let mut g = Gallery::new(DIM);
    g.reserve(n);
    let mut queries = Vec::new();
    for i in 0..n {
        let v = rng.vector(common.as_deref(), noise);
        if i % (n / 8) == 0 {
            // A genuine probe: the stored vector plus noise of a second photo of the person.
            let q: Vec<f32> = v.iter().map(|x| x + rng.gauss() * 0.02).collect();
            queries.push(if facelike {
                normalise(q)
            } else {
                rng.vector(None, 1.0)
            });
        }
        let person = Uuid::from_u64_pair(0, (i / 2) as u64);
        g.insert(Uuid::from_u64_pair(rng.next(), rng.next()), person, &v)
            .expect("synthetic vectors are valid");
    }
    (g, queries)
}

fn check_exact(g: &Gallery, queries: &[Vec<f32>], label: &str) {
    for q in queries {
        let fast = g.search(q, K).expect("search");
        let naive = g.naive_search(q, K).expect("naive");
        assert_eq!(fast, naive, "{label}: search differs from the naive scan");
    }
    eprintln!(
        "{label}: top-{K} identical to the naive scan for {} queries; {} templates, {:.1} MiB allocated, {} B/template (exact sizing {} B)",
        queries.len(),
        g.len(),
        g.allocated_bytes() as f64 / (1 << 20) as f64,
        g.allocated_bytes() / g.len().max(1),
        Gallery::bytes_per_template(DIM)
    );
}

fn bench_search(c: &mut Criterion) {
    for facelike in [false, true] {
        let name = if facelike { "facelike" } else { "uniform" };
        let mut group = c.benchmark_group(format!("collections_search_{name}"));
        group.sample_size(10);
        group.warm_up_time(std::time::Duration::from_millis(500));
        group.measurement_time(std::time::Duration::from_secs(3));
        for n in [10_000usize, 100_000, 1_000_000] {
            let (g, queries) = build(n, facelike, 0x5eed_0000 + n as u64);
            check_exact(&g, &queries, &format!("{name}/{n}"));
            let mut i = 0;
            group.bench_with_input(BenchmarkId::new("search_top10", n), &n, |b, _| {
                b.iter(|| {
                    i = (i + 1) % queries.len();
                    black_box(g.search(black_box(&queries[i]), K).expect("search"))
                })
            });
            if n <= 100_000 {
                group.bench_with_input(BenchmarkId::new("naive_scan_top10", n), &n, |b, _| {
                    b.iter(|| black_box(g.naive_search(black_box(&queries[0]), K).expect("naive")))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
