//! The REST surface: one module per resource family. [`routes`] is the whole route table.

pub mod analyses;
pub mod authorize;
pub mod collections;
pub mod companies_users;
pub mod error;
pub mod folders;
pub mod instant;
pub mod list_query;
pub mod lite;
pub mod media;
pub mod meta_data;
pub mod system;

use crate::http::router::Route;

/// Every route the server answers, gathered from each family.
pub fn routes() -> Vec<Route> {
    let mut r = Vec::new();
    r.extend(system::routes());
    r.extend(folders::routes());
    r.extend(media::routes());
    r.extend(analyses::routes());
    r.extend(meta_data::routes());
    r.extend(instant::routes());
    r.extend(authorize::routes());
    r.extend(companies_users::routes());
    r.extend(lite::routes());
    r.extend(collections::routes());
    r
}
