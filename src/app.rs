//! The state every request handler and worker shares, built once by `facelite serve`.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::accounts::throttle::LoginThrottle;
use crate::config::Config;
use crate::store::Store;
use crate::vision::Engine;

/// Shared application state. Handlers reach it through `Ctx::app`.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub vision: Arc<Engine>,
    /// Media files, analysis queue and workers, webhook wake-up (`crate::analysis::Flow`).
    pub flow: crate::analysis::Flow,
    /// Failed-login counters (in memory, per account and client address).
    pub login_throttle: LoginThrottle,
    /// Collections (1:N): search index, person image files, enrolment.
    pub collections: crate::collections::Collections,
    /// Bounds the inference that requests run themselves (Lite, person enrolment).
    pub inference: InferenceGate,
}

/// Runs request-driven decoding and inference on tokio's blocking pool, at most one job per
/// inference thread (`vision.threads`, 0 = cores) at a time: bursts queue instead of
/// oversubscribing the CPU (and memory), and the runtime threads stay free for I/O. Analyses
/// have their own bounded worker pool.
pub struct InferenceGate {
    slots: Arc<Semaphore>,
}

impl InferenceGate {
    /// A gate with the configured number of slots.
    pub fn new(config: &Config) -> InferenceGate {
        let n = match config.vision.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        InferenceGate {
            slots: Arc::new(Semaphore::new(n)),
        }
    }

    /// Waits for a slot, then runs `f` on the blocking pool, as one unit of work of the memory
    /// budget. `Err` carries why it could not
    /// run to completion (the job panicked or the gate was closed).
    pub async fn run<T, F>(&self, f: F) -> Result<T, String>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| "inference gate closed".to_string())?;
        // The slot travels with the work: when the client hangs up and this future is dropped,
        // the blocking job still runs to its end and only then frees the slot, so no more than
        // the configured number ever run at once. Images decoded inside stay charged to the
        // memory budget until `f` returns.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            crate::memory::scope(f)
        })
        .await
        .map_err(|e| format!("inference task failed: {e}"))
    }
}
