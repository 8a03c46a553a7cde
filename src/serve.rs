//! What `facelite serve` does, in order: prepare the data dir, open the store, make sure an
//! admin exists, load the models, bind, tell systemd we are ready, serve until a signal.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::app::App;
use crate::config::Config;
use crate::http::router::Router;
use crate::http::server::{serve, ServerParts};
use crate::http::{systemd, tls};
use crate::store::Store;

/// Why the server could not start; printed to the operator.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the store: {0}")]
    Store(String),
    #[error("first-start account setup failed: {0}")]
    Bootstrap(String),
    #[error("cannot load the face models: {0}")]
    Vision(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS needs both --tls-cert and --tls-key")]
    TlsHalf,
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Starts the runtime and serves until SIGTERM/SIGINT.
pub fn run(config: Config) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("facelite-io")
        .build()
        .map_err(ServeError::Runtime)?;
    rt.block_on(run_async(config))
}

async fn run_async(config: Config) -> Result<(), ServeError> {
    let data_dir = config.server.data_dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|source| ServeError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let tls = match (&config.server.tls_cert, &config.server.tls_key) {
        (Some(c), Some(k)) => Some(tls::acceptor(c, k)?),
        (None, None) => None,
        _ => return Err(ServeError::TlsHalf),
    };
    let store = Store::open(&data_dir.join("facelite.redb"))
        .map_err(|e| ServeError::Store(e.to_string()))?;
    crate::accounts::bootstrap::ensure_initial_admin(&store, &config)
        .map_err(|e| ServeError::Bootstrap(e.to_string()))?;
    // Every large allocation that outside bytes can ask for is charged against this budget.
    crate::memory::install(crate::memory::MemoryBudget::new(
        config.limits.memory_mb << 20,
    ));
    let started = std::time::Instant::now();
    let vision = crate::vision::Engine::load(&config.vision)
        .map_err(|e| ServeError::Vision(e.to_string()))?;
    eprintln!(
        "facelite: models ready in {} ms",
        started.elapsed().as_millis()
    );
    let vision = Arc::new(vision);
    let collections = open_collections(&store, &data_dir, &vision, &config)?;
    let listen = config.server.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen.to_string(),
            source,
        })?;
    let local = listener.local_addr().unwrap_or(listen);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let backend = Arc::new(crate::analysis::backend::VisionBackend::new(
        vision.clone(),
        &config,
    ));
    let flow = crate::analysis::Flow::new(&config, crate::store::raw::db(&store), backend)
        .map_err(|e| ServeError::Store(e.to_string()))?;
    let inference = crate::app::InferenceGate::new(&config);
    let app = Arc::new(App {
        inference,
        config,
        store,
        vision,
        flow,
        login_throttle: crate::accounts::throttle::LoginThrottle::new(),
        collections,
    });
    // Files left unreferenced by a crash: all now (nothing is in flight yet), old ones later.
    crate::sweep::at_start(&app.store, &app.config.server.data_dir);
    crate::sweep::spawn_periodic(app.clone());
    crate::analysis::start(app.clone()).map_err(|e| ServeError::Store(e.to_string()))?;
    let router = Arc::new(Router::new(crate::api::routes()));
    let shutdown = Arc::new(Notify::new());
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::spawn(wait_for_signal(term, shutdown.clone()));
    eprintln!("facelite: listening on {scheme}://{local}");
    systemd::ready(&format!("listening on {scheme}://{local}"));
    systemd::spawn_watchdog();
    serve(
        ServerParts {
            app,
            router,
            listener,
            tls,
        },
        shutdown,
    )
    .await;
    eprintln!("facelite: stopped");
    Ok(())
}

/// Loads the collections' templates into memory (re-enrolling those of another model).
fn open_collections(
    store: &Store,
    data_dir: &std::path::Path,
    vision: &Arc<crate::vision::Engine>,
    config: &Config,
) -> Result<crate::collections::Collections, ServeError> {
    let started = std::time::Instant::now();
    let enroller = Arc::new(crate::collections::engine::EngineEnroller::new(
        vision.clone(),
        config,
    ));
    let (collections, report) = crate::collections::Collections::open(store, data_dir, enroller)
        .map_err(|e| ServeError::Store(e.to_string()))?;
    eprintln!(
        "facelite: collections: {} templates in memory ({} re-enrolled for model {}) in {} ms",
        report.templates,
        report.reenrolled,
        collections.index.model(),
        started.elapsed().as_millis()
    );
    for (id, why) in &report.failed {
        eprintln!("facelite: collections: person image {id} is not searchable: {why}");
    }
    Ok(collections)
}

/// Resolves on SIGTERM or SIGINT, tells systemd we are stopping and wakes the accept loop.
/// `term` is registered before the server announces itself, so no early signal is missed.
async fn wait_for_signal(term: Option<tokio::signal::unix::Signal>, shutdown: Arc<Notify>) {
    let term = async {
        match term {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => eprintln!("facelite: SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => eprintln!("facelite: SIGINT received, shutting down"),
    }
    systemd::stopping();
    // notify_one stores a permit, so the accept loop sees it even if it is not waiting yet.
    shutdown.notify_one();
}
