//! One collection's templates in memory, laid out for a brute-force scan, and the exact top-k
//! search over them.
//!
//! Layout: every template is one row in three parallel, contiguous arrays: the f32 vector
//! (`dim` values, the ground truth), its int8 quantisation (`width` values, `dim` padded with
//! zeros to a multiple of 32) and three f32 numbers per row (quantisation scale, norm of the
//! dequantised vector, norm of the quantisation error). Nothing is boxed per template.
//!
//! Search is a two-pass *exact* scan:
//! 1. the int8 rows are streamed once (a quarter of the f32 bytes) and give, for every row, an
//!    approximate similarity `a` and a proven error bound `b`, so the canonical f32 similarity
//!    lies in `[a - b, a + b]`; the k-th largest lower bound seen so far is a threshold below
//!    which a row can never reach the top k, and only rows whose upper bound reaches it are kept;
//! 2. the kept rows are re-scored with the canonical f32 kernel ([`kernel::dot_f32`]) and the
//!    best k are returned, ordered by similarity, ties by template id.
//!
//! The bound: with `x = x^ + e` (row = dequantised + error) and `y = y^ + f` (same for the
//! query), `x.y - x^.y^ = x^.f + e.y`, so `|x.y - x^.y^| <= |x^| |f| + |e| |y|` (Cauchy-Schwarz).
//! A margin of `1e-4 (|x^| + |e|)(|y^| + |f|)`, which is more than a hundred times the f32
//! rounding of both kernels for any length up to a few thousand, is added on top. Hence the
//! result is identical to [`Gallery::naive_search`], which scores every row with the canonical
//! kernel and sorts; the tests and the benchmark check that.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use uuid::Uuid;

use super::kernel::{self, Isa, I8_BLOCK};
use super::SearchError;

/// Rows scored per int8 block before the scalar pruning pass over that block.
const BLOCK_ROWS: usize = 256;

/// Largest accepted magnitude of one vector component: keeps every square and sum finite.
const MAX_COMPONENT: f32 = 1.0e6;

/// Relative safety margin added to the quantisation bound (see the module docs).
const ROUNDING_MARGIN: f32 = 1.0e-4;

/// One search result: which template matched, whose it is, and its canonical similarity
/// (the dot product; the cosine similarity for the engine's L2-normalised embeddings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub template_id: Uuid,
    pub person_id: Uuid,
    pub similarity: f32,
}

/// The order every search result is sorted by: similarity descending, then template id
/// ascending, so equal scores always come out in the same order.
pub fn hit_order(a: &Hit, b: &Hit) -> Ordering {
    b.similarity
        .total_cmp(&a.similarity)
        .then_with(|| a.template_id.cmp(&b.template_id))
}

/// The int8 form of a vector plus the numbers its error bound needs.
struct Quantised {
    values: Vec<i8>,
    scale: f32,
    /// Norm of `scale * values`.
    norm_hat: f32,
    /// Norm of `vector - scale * values`.
    norm_err: f32,
}

/// Quantises symmetrically with one scale per vector: `q = round(x / s)`, `s = max|x| / 127`.
/// Norms are computed in f64 and rounded up, so they never understate the bound.
fn quantise(v: &[f32], width: usize) -> Quantised {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 0.0 };
    let mut values = vec![0i8; width];
    let (mut hat2, mut err2) = (0f64, 0f64);
    for (q, &x) in values.iter_mut().zip(v) {
        let qi = if scale > 0.0 {
            (x / scale).round().clamp(-127.0, 127.0)
        } else {
            0.0
        };
        *q = qi as i8;
        let hat = scale * qi;
        hat2 += (hat as f64) * (hat as f64);
        let e = x as f64 - hat as f64;
        err2 += e * e;
    }
    Quantised {
        values,
        scale,
        norm_hat: round_up(hat2.sqrt()),
        norm_err: round_up(err2.sqrt()),
    }
}

fn round_up(x: f64) -> f32 {
    (x * (1.0 + 1e-6)) as f32
}

/// Checks a vector before it enters the index or is searched for.
fn validate(v: &[f32], dim: usize) -> Result<(), SearchError> {
    if v.len() != dim {
        return Err(SearchError::Dimension {
            expected: dim,
            got: v.len(),
        });
    }
    if v.iter().any(|x| !x.is_finite() || x.abs() > MAX_COMPONENT) {
        return Err(SearchError::NotFinite);
    }
    if v.iter().all(|x| *x == 0.0) {
        return Err(SearchError::ZeroVector);
    }
    Ok(())
}

/// Orders f32 lower bounds in a heap (they are always finite).
#[derive(Clone, Copy, PartialEq)]
struct Bound(f32);
impl Eq for Bound {}
impl PartialOrd for Bound {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bound {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: the heap's top is the smallest of the k best lower bounds.
        o.0.total_cmp(&self.0)
    }
}

/// The templates of one collection made by one embedding model.
pub struct Gallery {
    dim: usize,
    width: usize,
    keys: Vec<(Uuid, Uuid)>,
    exact: Vec<f32>,
    quant: Vec<i8>,
    /// Per row: `[scale, norm_hat, norm_err]`.
    meta: Vec<[f32; 3]>,
    row_of: HashMap<Uuid, usize>,
}

impl Gallery {
    /// An empty gallery for vectors of `dim` values.
    pub fn new(dim: usize) -> Gallery {
        let width = dim.div_ceil(I8_BLOCK) * I8_BLOCK;
        Gallery {
            dim,
            width,
            keys: Vec::new(),
            exact: Vec::new(),
            quant: Vec::new(),
            meta: Vec::new(),
            row_of: HashMap::new(),
        }
    }

    /// Vector length this gallery holds.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the gallery holds no template.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Reserves room for `extra` more rows (bulk loading without re-allocation storms).
    pub fn reserve(&mut self, extra: usize) {
        self.keys.reserve(extra);
        self.exact.reserve(extra * self.dim);
        self.quant.reserve(extra * self.width);
        self.meta.reserve(extra);
        self.row_of.reserve(extra);
    }

    /// Adds (or replaces) a template.
    pub fn insert(
        &mut self,
        template_id: Uuid,
        person_id: Uuid,
        vector: &[f32],
    ) -> Result<(), SearchError> {
        validate(vector, self.dim)?;
        let q = quantise(vector, self.width);
        if let Some(&row) = self.row_of.get(&template_id) {
            self.keys[row] = (template_id, person_id);
            self.exact[row * self.dim..(row + 1) * self.dim].copy_from_slice(vector);
            self.quant[row * self.width..(row + 1) * self.width].copy_from_slice(&q.values);
            self.meta[row] = [q.scale, q.norm_hat, q.norm_err];
            return Ok(());
        }
        self.row_of.insert(template_id, self.keys.len());
        self.keys.push((template_id, person_id));
        self.exact.extend_from_slice(vector);
        self.quant.extend_from_slice(&q.values);
        self.meta.push([q.scale, q.norm_hat, q.norm_err]);
        Ok(())
    }

    /// Removes a template; `false` when it was not there. The last row moves into the hole,
    /// so removal costs one row copy.
    pub fn remove(&mut self, template_id: Uuid) -> bool {
        let Some(row) = self.row_of.remove(&template_id) else {
            return false;
        };
        let last = self.keys.len() - 1;
        if row != last {
            let moved = self.keys[last].0;
            self.keys.swap(row, last);
            self.meta.swap(row, last);
            let (d, w) = (self.dim, self.width);
            self.exact.copy_within(last * d..(last + 1) * d, row * d);
            self.quant.copy_within(last * w..(last + 1) * w, row * w);
            self.row_of.insert(moved, row);
        }
        self.keys.pop();
        self.meta.pop();
        self.exact.truncate(last * self.dim);
        self.quant.truncate(last * self.width);
        true
    }

    /// Template ids of one person.
    pub fn templates_of(&self, person_id: Uuid) -> Vec<Uuid> {
        self.keys
            .iter()
            .filter(|(_, p)| *p == person_id)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Bytes held per template of `dim` values by the arrays and the id map, once the
    /// arrays are exactly sized: the f32 row, the padded int8 row, 3 f32 of row metadata,
    /// 2 uuids of keys and the hash-map entry (uuid key + usize value + control byte, at the
    /// map's 7/8 load factor).
    pub fn bytes_per_template(dim: usize) -> usize {
        let map_entry = (16 + 8 + 1) * 8 / 7;
        dim * 4 + dim.div_ceil(I8_BLOCK) * I8_BLOCK + 12 + 32 + map_entry
    }

    /// Bytes currently allocated by this gallery.
    pub fn allocated_bytes(&self) -> usize {
        self.keys.capacity() * 32
            + self.exact.capacity() * 4
            + self.quant.capacity()
            + self.meta.capacity() * 12
            + self.row_of.capacity() * (16 + 8 + 1)
    }

    /// The exact top `k` templates by canonical similarity (see the module docs); equal to
    /// [`Gallery::naive_search`] for every input.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, SearchError> {
        self.search_with(Isa::detect(), query, k)
    }

    /// [`Gallery::search`] with an explicit int8 instruction set (tests compare them).
    pub fn search_with(&self, isa: Isa, query: &[f32], k: usize) -> Result<Vec<Hit>, SearchError> {
        validate(query, self.dim)?;
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let q = quantise(query, self.width);
        let margin = ROUNDING_MARGIN * (q.norm_hat + q.norm_err);
        let (hat_coef, err_coef) = (q.norm_err + margin, q.norm_hat + q.norm_err + margin);

        let mut best_lower: BinaryHeap<Bound> = BinaryHeap::with_capacity(k + 1);
        let mut threshold = f32::NEG_INFINITY;
        let mut candidates: Vec<(u32, f32)> = Vec::new();
        let mut dots = [0i32; BLOCK_ROWS];
        let n = self.len();
        let mut start = 0;
        while start < n {
            let end = (start + BLOCK_ROWS).min(n);
            let out = &mut dots[..end - start];
            kernel::dots_i8(
                isa,
                &self.quant[start * self.width..end * self.width],
                self.width,
                &q.values,
                out,
            );
            for (i, (&dot, m)) in out.iter().zip(&self.meta[start..end]).enumerate() {
                let approx = (m[0] * q.scale) * dot as f32;
                let bound = m[1] * hat_coef + m[2] * err_coef;
                let upper = approx + bound;
                if upper < threshold {
                    continue;
                }
                let lower = approx - bound;
                if best_lower.len() < k {
                    best_lower.push(Bound(lower));
                    if best_lower.len() == k {
                        threshold = best_lower.peek().map_or(threshold, |b| b.0);
                    }
                } else if lower > threshold {
                    best_lower.pop();
                    best_lower.push(Bound(lower));
                    threshold = best_lower.peek().map_or(threshold, |b| b.0);
                }
                candidates.push(((start + i) as u32, upper));
            }
            start = end;
        }
        let mut hits: Vec<Hit> = candidates
            .into_iter()
            .filter(|&(_, upper)| upper >= threshold)
            .map(|(row, _)| self.hit(row as usize, query))
            .collect();
        hits.sort_unstable_by(hit_order);
        hits.truncate(k);
        Ok(hits)
    }

    /// The reference: scores every row with the canonical kernel, sorts, keeps `k`.
    pub fn naive_search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, SearchError> {
        validate(query, self.dim)?;
        let mut hits: Vec<Hit> = (0..self.len()).map(|r| self.hit(r, query)).collect();
        hits.sort_unstable_by(hit_order);
        hits.truncate(k);
        Ok(hits)
    }

    fn hit(&self, row: usize, query: &[f32]) -> Hit {
        let (template_id, person_id) = self.keys[row];
        Hit {
            template_id,
            person_id,
            similarity: kernel::dot_f32(&self.exact[row * self.dim..(row + 1) * self.dim], query),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift) so the tests need no extra crate.
    pub(crate) struct Rng(u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub(crate) fn unit(&mut self, dim: usize) -> Vec<f32> {
            let v: Vec<f32> = (0..dim)
                .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect()
        }
        fn uuid(&mut self) -> Uuid {
            Uuid::from_u64_pair(self.next(), self.next())
        }
    }

    fn gallery(rng: &mut Rng, n: usize, dim: usize) -> Gallery {
        let mut g = Gallery::new(dim);
        for i in 0..n {
            let person = Uuid::from_u64_pair(0, (i / 3) as u64);
            g.insert(rng.uuid(), person, &rng.unit(dim))
                .expect("insert");
        }
        g
    }

    fn all_isas() -> Vec<Isa> {
        let mut v = vec![Isa::Baseline];
        match Isa::detect() {
            Isa::Avx512 => v.extend([Isa::Avx2, Isa::Avx512]),
            Isa::Avx2 => v.push(Isa::Avx2),
            Isa::Baseline => {}
        }
        v
    }

    #[test]
    fn top_k_equals_naive_scan_on_random_data() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        for (n, dim) in [
            (1usize, 128usize),
            (7, 128),
            (1000, 128),
            (3000, 128),
            (500, 100),
            (300, 5),
        ] {
            let g = gallery(&mut rng, n, dim);
            for _ in 0..20 {
                let query = rng.unit(dim);
                for k in [1usize, 3, 10, 50, n + 5] {
                    let want = g.naive_search(&query, k).expect("naive");
                    assert_eq!(want.len(), k.min(n));
                    for isa in all_isas() {
                        let got = g.search_with(isa, &query, k).expect("search");
                        assert_eq!(got, want, "n={n} dim={dim} k={k} {isa:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn ties_and_near_duplicates_come_out_in_template_order() {
        let mut rng = Rng(42);
        let dim = 128;
        let base = rng.unit(dim);
        let mut g = Gallery::new(dim);
        // 40 exact copies (ties), 40 vectors one ulp-ish away, 500 random others.
        for _ in 0..40 {
            g.insert(rng.uuid(), rng.uuid(), &base).expect("insert");
        }
        for i in 0..40 {
            let mut v = base.clone();
            v[i % dim] += 1e-6;
            g.insert(rng.uuid(), rng.uuid(), &v).expect("insert");
        }
        for _ in 0..500 {
            g.insert(rng.uuid(), rng.uuid(), &rng.unit(dim))
                .expect("insert");
        }
        for k in [1usize, 5, 39, 40, 41, 79, 80, 100] {
            let want = g.naive_search(&base, k).expect("naive");
            for isa in all_isas() {
                assert_eq!(g.search_with(isa, &base, k).expect("search"), want, "k={k}");
            }
            for w in want.windows(2) {
                assert_ne!(hit_order(&w[0], &w[1]), Ordering::Greater);
            }
        }
        // A query that is a mix of two stored vectors: many near-equal scores.
        let mix: Vec<f32> = base.iter().zip(rng.unit(dim)).map(|(a, b)| a + b).collect();
        assert_eq!(
            g.search(&mix, 60).expect("search"),
            g.naive_search(&mix, 60).expect("naive")
        );
    }

    #[test]
    fn scores_agree_with_f64_dot() {
        let mut rng = Rng(7);
        let g = gallery(&mut rng, 200, 128);
        let query = rng.unit(128);
        for h in g.search(&query, 20).expect("search") {
            let row = g.row_of[&h.template_id];
            let exact: f64 = g.exact[row * 128..(row + 1) * 128]
                .iter()
                .zip(&query)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            assert!((h.similarity as f64 - exact).abs() < 1e-6);
        }
    }

    #[test]
    fn removal_and_replacement_keep_the_index_consistent() {
        let mut rng = Rng(99);
        let mut g = gallery(&mut rng, 300, 128);
        let ids: Vec<Uuid> = g.keys.iter().map(|k| k.0).collect();
        for id in ids.iter().step_by(2) {
            assert!(g.remove(*id));
            assert!(!g.remove(*id));
        }
        assert_eq!(g.len(), 150);
        let replaced = ids[1];
        let v = rng.unit(128);
        g.insert(replaced, Uuid::nil(), &v).expect("replace");
        assert_eq!(g.len(), 150);
        let top = g.search(&v, 1).expect("search");
        assert_eq!(top[0].template_id, replaced);
        assert_eq!(top[0].person_id, Uuid::nil());
        for _ in 0..10 {
            let q = rng.unit(128);
            assert_eq!(
                g.search(&q, 25).expect("s"),
                g.naive_search(&q, 25).expect("n")
            );
        }
        for id in ids.iter().skip(1).step_by(2) {
            assert!(g.remove(*id));
        }
        assert!(g.is_empty());
        assert!(g.search(&v, 3).expect("empty").is_empty());
    }

    #[test]
    fn bad_vectors_are_refused() {
        let mut g = Gallery::new(4);
        let id = Uuid::nil();
        assert!(matches!(
            g.insert(id, id, &[1.0, 0.0]),
            Err(SearchError::Dimension {
                expected: 4,
                got: 2
            })
        ));
        assert!(matches!(
            g.insert(id, id, &[f32::NAN, 0.0, 0.0, 0.0]),
            Err(SearchError::NotFinite)
        ));
        assert!(matches!(
            g.insert(id, id, &[0.0; 4]),
            Err(SearchError::ZeroVector)
        ));
        assert!(matches!(
            g.search(&[1.0, f32::INFINITY, 0.0, 0.0], 1),
            Err(SearchError::NotFinite)
        ));
        assert!(g.is_empty());
    }
}
