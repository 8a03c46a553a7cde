//! The state every request handler and worker shares, built once by `facelite serve`.

use std::sync::Arc;

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
}
