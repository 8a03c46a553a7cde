//! The REST surface: one module per resource family. [`routes`] is the whole route table.

pub mod authorize;
pub mod collections;
pub mod companies_users;
pub mod error;
pub mod system;

use crate::http::router::Route;

/// Every route the server answers, gathered from each family.
pub fn routes() -> Vec<Route> {
    let mut r = Vec::new();
    r.extend(system::routes());
    r.extend(authorize::routes());
    r.extend(companies_users::routes());
    r.extend(collections::routes());
    r
}
