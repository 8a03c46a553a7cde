//! Where tract spends its time inside each shipped model: a per-operator profile.
//!
//! Runs every model of `models_raw` (same inputs) `RUNS` times (on one thread, or with `t2` in a
//! two-thread pool) through
//! `SimpleState::run_plan_with_eval`, timing each node, and prints the median time of every op
//! kind and of the slowest nodes. It is the map for closing the gap to onnxruntime: a kind that
//! dominates here is the one worth rewriting or re-expressing. It ends with the whole-model
//! median of tract's own plan against the engine's rewritten plan, run alternately in one
//! process so both see the same machine. Not a criterion bench; run with
//! `cargo bench --bench model_ops` (add `--target x86_64-unknown-linux-musl` for the shipped build).

use std::collections::BTreeMap;
use std::time::Instant;

// Linked for its global allocator (src/alloc.rs), so the models run as they do in the binary.
use facelite as _;
#[path = "support/raw_models.rs"]
mod raw_models;
use raw_models::{fixture, plan, plan_without_rewrites, MODELS};
use tract_linalg::multithread::multithread_tract_scope;
use tract_onnx::prelude::*;

const RUNS: usize = 20;
const SLOWEST_NODES: usize = 12;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn profile(id: &str, file: &str) {
    let (shape, input) = fixture(file);
    let p = plan(file, &shape);
    // node id -> per-run milliseconds
    let mut per_node: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    let mut totals = Vec::with_capacity(RUNS);
    for run in 0..RUNS + 2 {
        let mut times: Vec<(usize, f64)> = Vec::new();
        let mut state = TypedSimpleState::new(&p).expect("state");
        let start = Instant::now();
        state
            .run_plan_with_eval(
                tvec!(input.clone().into()),
                |ctx, op_state, node, inputs| {
                    let t = Instant::now();
                    let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                    times.push((node.id, t.elapsed().as_secs_f64() * 1e3));
                    out
                },
            )
            .expect("run");
        let total = start.elapsed().as_secs_f64() * 1e3;
        if run < 2 {
            continue; // warm-up
        }
        totals.push(total);
        for (node, ms) in times {
            per_node.entry(node).or_default().push(ms);
        }
    }
    let model = p.model();
    let mut by_kind: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut nodes: Vec<(f64, usize)> = Vec::new();
    for (node, mut ms) in per_node {
        let m = median(&mut ms);
        let kind = model.node(node).op().name().to_string();
        let e = by_kind.entry(kind).or_default();
        e.0 += 1;
        e.1 += m;
        nodes.push((m, node));
    }
    let total = median(&mut totals);
    println!("\n{id} ({file}, input {shape:?}): median run {total:.2} ms over {RUNS} runs");
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for (kind, (n, ms)) in kinds {
        println!(
            "  {kind:<28} {n:>4} nodes {ms:>8.2} ms {:>5.1}%",
            100.0 * ms / total
        );
    }
    nodes.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("  slowest nodes:");
    for (ms, node) in nodes.into_iter().take(SLOWEST_NODES) {
        let n = model.node(node);
        let out = model
            .outlet_fact(OutletId::new(node, 0))
            .map(|f| format!("{f:?}"));
        println!(
            "    {ms:>7.2} ms  #{node} {} {}  -> {}",
            n.op().name(),
            n.name,
            out.unwrap_or_default()
        );
        // Matrix products name their shape and micro-kernel here: which kernel tract chose
        // for an m x k x n product is half of why a node is slow.
        for line in n.op().info().unwrap_or_default() {
            if line.starts_with("Mult:") {
                println!("              {line}");
            }
        }
    }
}

/// Median whole-run ms of tract's own plan and of the engine's plan for one model, the two
/// run alternately `RUNS` times each after a warm-up.
fn side_by_side(id: &str, file: &str) {
    let (shape, input) = fixture(file);
    let plans = [plan_without_rewrites(file, &shape), plan(file, &shape)];
    let mut times = [Vec::new(), Vec::new()];
    for run in 0..RUNS + 2 {
        for (p, t) in plans.iter().zip(times.iter_mut()) {
            let start = Instant::now();
            p.run(tvec!(input.clone().into())).expect("run");
            if run >= 2 {
                t.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let [own, ours] = times.map(|mut t| median(&mut t));
    println!(
        "  {id:<12} tract's own plan {own:>7.2} ms  engine plan {ours:>7.2} ms  ratio {:.2}x",
        own / ours
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `t2` (any `tN`) runs every model inside an N-thread
    // tract pool, as the engine does with `inference_threads = N`; any other argument selects
    // models by id.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let threads = args
        .iter()
        .find_map(|a| a.strip_prefix('t').and_then(|n| n.parse::<usize>().ok()))
        .unwrap_or(1);
    let only: Vec<String> = args
        .into_iter()
        .filter(|a| !(a.starts_with('t') && a[1..].parse::<usize>().is_ok()))
        .collect();
    if threads > 1 {
        // One job in the pool with the other workers kept awake, as the engine runs a call.
        let executor = facelite::vision::model::inference_pool(threads);
        facelite::vision::model::in_pool(&executor, || {
            multithread_tract_scope(executor.clone(), || run_all(&only, threads))
        });
    } else {
        run_all(&only, threads);
    }
}

fn run_all(only: &[String], threads: usize) {
    for (id, file) in MODELS {
        if only.is_empty() || only.iter().any(|o| o == id) {
            profile(id, file);
        }
    }
    println!("\nwhole model, median of {RUNS} alternating runs, {threads} thread(s):");
    for (id, file) in MODELS {
        if only.is_empty() || only.iter().any(|o| o == id) {
            side_by_side(id, file);
        }
    }
}
