//! Analyses as persisted jobs: queue, workers, media-selection rules, verdicts.
//!
//! [`Flow`] is the part of the application state this module owns: the media file store, the
//! bounded queue, completion signals for single requests, the webhook wake-up, and the face
//! backend. [`start`] recovers jobs left PROCESSING by a previous run, starts the worker
//! threads (inference never runs on the async runtime) and the webhook sender.

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

use std::sync::Arc;

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
    for i in 0..n {
        let app = app.clone();
        std::thread::Builder::new()
            .name(format!("facelite-worker-{i}"))
            .spawn(move || worker(app))
            .map_err(FlowError::Files)?;
    }
    tokio::spawn(crate::webhook::run(app.clone()));
    Ok(())
}

fn worker(app: Arc<App>) {
    let flow = &app.flow;
    loop {
        match flow.queue.pop() {
            Task::Stored(id) => {
                match jobs::run(&app, flow.backend.as_ref(), &flow.files, id) {
                    Ok(stored) => {
                        if stored.webhook_queued {
                            flow.webhook_wake.notify_one();
                        }
                    }
                    Err(e) => eprintln!("facelite: analysis {id} could not be stored: {e}"),
                }
                flow.waiters.notify(id);
            }
            Task::Instant(t) => {
                let source = MemorySource(&t.bytes);
                let out = jobs::execute(
                    flow.backend.as_ref(),
                    &source,
                    t.kind,
                    &t.media,
                    &t.requested,
                    &t.params,
                    &app.config,
                );
                let _ = t.reply.send(out);
            }
        }
    }
}
