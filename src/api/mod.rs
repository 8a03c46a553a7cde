//! The REST surface: one module per resource family. [`routes`] is the whole route table.

pub mod error;
pub mod lite;

use crate::http::router::Route;

/// Every route the server answers, gathered from each family.
pub fn routes() -> Vec<Route> {
    let mut r = Vec::new();
    // Each family appends its routes here, e.g. `r.extend(authorize::routes());`
    r.extend(lite::routes());
    r.shrink_to_fit();
    r
}
