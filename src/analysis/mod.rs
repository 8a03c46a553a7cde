//! Analyses as persisted jobs: queue, workers, media-selection rules, verdicts.
//!
//! [`Flow`] is the part of the application state this module owns: the media file store, the
//! bounded queue, completion signals for single requests, the webhook wake-up, and the face
//! backend. [`start`] recovers jobs left PROCESSING by a previous run, starts the worker
//! threads (inference never runs on the async runtime) and the webhook sender.

pub mod access;
pub mod backend;
pub mod biometry;
pub mod face;
pub mod instant;
pub mod jobs;
pub mod model;
pub mod outcome;
pub mod quality;
pub mod queue;
pub mod repo;
pub mod rules;
pub mod verdicts;
pub mod video_liveness;
pub mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::analysis::face::Backend;
use crate::analysis::instant::MemorySource;
use crate::analysis::model::JobRec;
use crate::analysis::queue::{Queue, Task, Waiters};
use crate::app::App;
use crate::config::Config;
use crate::store::files::FileStore;

/// Shared state of the analysis flow.
pub struct Flow {
    pub files: FileStore,
    pub queue: Queue,
    pub waiters: Waiters,
    /// Wakes the webhook sender when a delivery was queued.
    pub webhook_wake: tokio::sync::Notify,
    pub backend: Arc<dyn Backend>,
    /// Per job, how many times storing its result failed in a row, so a retry loop ends.
    store_failures: Mutex<HashMap<uuid::Uuid, u32>>,
}

/// Why the flow could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("cannot prepare the media directory: {0}")]
    Files(std::io::Error),
    #[error(transparent)]
    Repo(#[from] repo::RepoError),
}

impl Flow {
    /// Prepares the file store and the queue, and creates the flow tables.
    pub fn new(
        config: &Config,
        db: &redb::Database,
        backend: Arc<dyn Backend>,
    ) -> Result<Flow, FlowError> {
        repo::ensure_tables(db)?;
        Ok(Flow {
            files: FileStore::open(&config.server.data_dir).map_err(FlowError::Files)?,
            queue: Queue::new(config.analysis.queue_capacity),
            waiters: Waiters::default(),
            webhook_wake: tokio::sync::Notify::new(),
            backend,
            store_failures: Mutex::new(HashMap::new()),
        })
    }
}

/// Number of worker threads for a configuration.
pub fn worker_count(config: &Config) -> usize {
    if config.analysis.workers > 0 {
        config.analysis.workers
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

/// Re-queues jobs left by a previous run, starts the workers and the webhook sender. Must be
/// called from inside the tokio runtime.
pub fn start(app: Arc<App>) -> Result<(), FlowError> {
    let mut jobs: Vec<JobRec> = repo::scan(crate::store::raw::db(&app.store))?;
    jobs.sort_by(|a, b| a.enqueued_at.total_cmp(&b.enqueued_at));
    if !jobs.is_empty() {
        eprintln!(
            "facelite: resuming {} analyses left PROCESSING by the previous run",
            jobs.len()
        );
    }
    app.flow.queue.push_recovered(
        jobs.into_iter()
            .map(|j| Task::Stored(j.analysis_id))
            .collect(),
    );
    let n = worker_count(&app.config);
    let runtime = tokio::runtime::Handle::current();
    for i in 0..n {
        let app = app.clone();
        let runtime = runtime.clone();
        std::thread::Builder::new()
            .name(format!("facelite-worker-{i}"))
            .spawn(move || worker(app, runtime))
            .map_err(FlowError::Files)?;
    }
    tokio::spawn(crate::webhook::run(app.clone()));
    tokio::spawn(reconcile_forever(app));
    Ok(())
}

/// How often committed jobs are compared with the queue.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(3);

/// A job younger than this may still be on its way from its request to the queue.
const RECONCILE_MIN_AGE_SECS: f64 = 2.0;

/// Pushes every committed job that is not in hand (waiting, running, retrying) and is older
/// than [`RECONCILE_MIN_AGE_SECS`]: a job whose request stopped between its commit and its
/// push, or lost for any other reason, runs within seconds instead of at the next start.
/// Returns how many were pushed.
pub fn reconcile(app: &App) -> Result<usize, repo::RepoError> {
    let jobs: Vec<JobRec> = repo::scan(crate::store::raw::db(&app.store))?;
    let now = model::now_secs();
    let lost: Vec<Task> = jobs
        .into_iter()
        .filter(|j| now - j.enqueued_at >= RECONCILE_MIN_AGE_SECS)
        .filter(|j| !app.flow.queue.in_hand(j.analysis_id))
        .map(|j| Task::Stored(j.analysis_id))
        .collect();
    if lost.is_empty() {
        return Ok(0);
    }
    Ok(app.flow.queue.push_recovered(lost))
}

async fn reconcile_forever(app: Arc<App>) {
    loop {
        tokio::time::sleep(RECONCILE_EVERY).await;
        let a = app.clone();
        match tokio::task::spawn_blocking(move || reconcile(&a)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => eprintln!("facelite: {n} committed analyses were not queued; queued them"),
            Ok(Err(e)) => eprintln!("facelite: cannot reconcile the analysis queue: {e}"),
            Err(e) => eprintln!("facelite: queue reconciliation stopped: {e}"),
        }
    }
}

/// Delay before running a job again after its result could not be stored for the
/// `failures`-th time in a row; `None` once the retries are used up. Each run counts as an
/// attempt of the job, so the last retry stores the "interrupted" failure of
/// [`jobs::MAX_ATTEMPTS`] instead of running the analysis again.
pub fn store_retry_delay(failures: u32) -> Option<Duration> {
    if failures == 0 || failures > jobs::MAX_ATTEMPTS {
        return None;
    }
    Some(Duration::from_secs(1u64 << (failures - 1).min(6)))
}

fn worker(app: Arc<App>, runtime: tokio::runtime::Handle) {
    let flow = &app.flow;
    loop {
        match flow.queue.pop() {
            Task::Stored(id) => match crate::memory::scope(|| {
                jobs::run(&app, flow.backend.as_ref(), &flow.files, id)
            }) {
                Ok(stored) => {
                    flow.queue.finished(id);
                    flow.store_failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id);
                    if stored.webhook_queued {
                        flow.webhook_wake.notify_one();
                    }
                    flow.waiters.notify(id);
                }
                Err(e) => {
                    let failures = {
                        let mut map = flow
                            .store_failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        let n = map.entry(id).or_insert(0);
                        *n += 1;
                        *n
                    };
                    match store_retry_delay(failures) {
                        Some(delay) => {
                            eprintln!(
                                "facelite: analysis {id} could not be stored: {e}; retrying in {} s",
                                delay.as_secs()
                            );
                            // The job is still on disk and stays in hand while it waits: it
                            // re-enters the queue past its capacity, and reconciliation leaves
                            // it alone meanwhile.
                            let app = app.clone();
                            runtime.spawn(async move {
                                tokio::time::sleep(delay).await;
                                app.flow.queue.requeue(id);
                            });
                        }
                        None => {
                            flow.store_failures
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&id);
                            // It stays in hand, so reconciliation does not retry it either.
                            eprintln!(
                                "facelite: analysis {id} could not be stored: {e}; giving up until the next start"
                            );
                            flow.waiters.notify(id);
                        }
                    }
                }
            },
            Task::Instant(t) => {
                // The request gave up waiting (instant-mode timeout): drop the media now
                // instead of spending a worker on an answer nobody reads.
                if t.reply.is_closed() {
                    continue;
                }
                let source = MemorySource(&t.bytes);
                let out = crate::memory::scope(|| {
                    jobs::execute(
                        flow.backend.as_ref(),
                        &source,
                        t.kind,
                        &t.media,
                        &t.requested,
                        &t.params,
                        &app.config,
                    )
                });
                let _ = t.reply.send(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_stores_are_retried_with_growing_delays_up_to_the_attempt_cap() {
        assert_eq!(store_retry_delay(0), None);
        assert_eq!(store_retry_delay(1), Some(Duration::from_secs(1)));
        assert_eq!(store_retry_delay(2), Some(Duration::from_secs(2)));
        let last = store_retry_delay(jobs::MAX_ATTEMPTS).expect("last retry");
        assert!(last >= Duration::from_secs(2));
        assert_eq!(store_retry_delay(jobs::MAX_ATTEMPTS + 1), None);
    }
}
