//! A real `App` for the parsers that read a handler `Ctx` (Lite inputs, list queries), built once
//! per fuzzing process the way `facelite serve` builds it (minus the listener and the analysis
//! workers): default configuration, store in a temp dir, the embedded models.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use facelite::app::App;
use facelite::config::Config;
use facelite::http::router::Ctx;
use hyper::body::Incoming;

struct Built {
    app: Arc<App>,
    _dir: tempfile::TempDir,
}

/// The process's `App` (built on first use: loading the models takes a few seconds).
pub fn app() -> Arc<App> {
    static APP: OnceLock<Built> = OnceLock::new();
    APP.get_or_init(|| {
        let started = std::time::Instant::now();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.server.data_dir = dir.path().join("data");
        std::fs::create_dir_all(&config.server.data_dir).expect("data dir");
        let data_dir = config.server.data_dir.clone();
        let store = facelite::store::Store::open(&data_dir.join("facelite.redb")).expect("store");
        let vision = Arc::new(facelite::vision::Engine::load(&config.vision).expect("models"));
        let enroller = Arc::new(facelite::collections::engine::EngineEnroller::new(
            vision.clone(),
            &config,
        ));
        let (collections, _) =
            facelite::collections::Collections::open(&store, &data_dir, enroller)
                .expect("collections");
        let backend = Arc::new(facelite::analysis::backend::VisionBackend::new(
            vision.clone(),
            &config,
        ));
        let flow =
            facelite::analysis::Flow::new(&config, facelite::store::raw::db(&store), backend)
                .expect("flow");
        let app = App {
            inference: facelite::app::InferenceGate::new(&config),
            config,
            store,
            vision,
            flow,
            login_throttle: facelite::accounts::throttle::LoginThrottle::new(),
            collections,
        };
        eprintln!(
            "facelite-fuzz: App ready in {} ms",
            started.elapsed().as_millis()
        );
        Built {
            app: Arc::new(app),
            _dir: dir,
        }
    })
    .app
    .clone()
}

/// A handler context for a received request, as the server's dispatcher builds it (the query
/// pairs are passed in, parsed by the caller).
pub fn ctx(
    parts: http::request::Parts,
    body: Incoming,
    template: &'static str,
    query: Vec<(String, String)>,
) -> Ctx {
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    Ctx::new(
        app(),
        parts.method,
        template,
        Vec::new(),
        query,
        parts.headers,
        peer,
        crate::http::req_body(body),
    )
}

/// A principal with every analysis right (`all_rights`) or none, of a company-less ADMIN.
pub fn principal(all_rights: bool) -> facelite::accounts::principal::Principal {
    use facelite::accounts::principal::{Principal, Role};
    Principal {
        user_id: uuid::Uuid::nil(),
        email: "fuzz@facelite.test".into(),
        company_id: None,
        role: Role::Admin,
        is_admin: true,
        is_service: false,
        can_start_analysis_quality: all_rights,
        can_start_analysis_biometry: all_rights,
        can_start_analysis_collection: all_rights,
    }
}
