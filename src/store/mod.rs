//! The embedded redb store: one file in the data dir, tables declared in one module.

pub mod files;

use std::path::Path;

/// Handle to the open store. Cheap to share behind `Arc<App>`.
pub struct Store {
    pub db: redb::Database,
}

impl Store {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<Store, redb::DatabaseError> {
        Ok(Store {
            db: redb::Database::create(path)?,
        })
    }
}
