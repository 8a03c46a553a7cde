//! The state every request handler and worker shares, built once by `facelite serve`.

use crate::config::Config;
use crate::store::Store;

/// Shared application state. Handlers reach it through `Ctx::app`.
pub struct App {
    pub config: Config,
    pub store: Store,
}
