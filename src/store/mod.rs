//! The embedded redb store: one file, `<data-dir>/facelite.redb`, holding every record.
//!
//! * Tables are declared in [`tables`]; records are typed ([`Record`]) and encoded as versioned
//!   JSON ([`record`]); the file's schema version is checked and migrated at open ([`schema`]).
//! * Durability: [`Store::write`] commits with redb's default `Durability::Immediate`, so when
//!   it returns `Ok` the data is on disk. Handlers answer only after that.
//! * Tenant isolation: records that belong to a company implement
//!   [`CompanyOwned`](crate::accounts::tenant::CompanyOwned) and declare
//!   `type Tenancy = CompanyScoped`; the store then offers them *only* through calls that take
//!   a [`Scope`](crate::accounts::tenant::Scope) — see `accounts::tenant` for the rules and an
//!   example.
//! * Locking: redb locks the file; a second process (for example `facelite admin` while the
//!   server runs) gets [`StoreError::Locked`].
//!
//! Calls block on disk I/O for a short time (one fsync per write); handlers may call them
//! directly.

pub mod error;
pub mod files;
pub mod raw;
pub mod record;
pub mod schema;
pub mod tables;
pub mod txn;

use std::path::{Path, PathBuf};

pub use error::StoreError;
pub use record::{CompanyScoped, Global, GlobalRecord, Record, TenantRecord};
pub use txn::{ReadTx, StoreRead, WriteTx};

use redb::ReadableDatabase;

use crate::accounts::tenant::Scope;

/// Name of the store file inside the data directory.
pub const FILE_NAME: &str = "facelite.redb";

/// Creates a missing store file empty with mode 0600 (it holds password hashes); redb
/// initialises an empty file like a new one.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::DataDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Handle to the open store. Cheap to share behind `Arc<App>`.
pub struct Store {
    db: redb::Database,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store file at `path`, creating its directory when missing, and
    /// brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        create_private(path)?;
        let db = redb::Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.to_path_buf(),
            },
            source => StoreError::Open {
                path: path.to_path_buf(),
                source,
            },
        })?;
        schema::ensure(&db)?;
        Ok(Store {
            db,
            path: path.to_path_buf(),
        })
    }

    /// Opens `<data_dir>/facelite.redb`.
    pub fn open_in(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open(&data_dir.join(FILE_NAME))
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a consistent snapshot.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&ReadTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = ReadTx {
            txn: self.db.begin_read()?,
        };
        f(&tx)
    }

    /// Runs `f` in a write transaction (writes are serialised). `Ok` commits durably before
    /// returning; `Err` rolls everything back.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut WriteTx) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut tx = WriteTx {
            txn: self.db.begin_write().map_err(StoreError::from)?,
        };
        let out = f(&mut tx)?;
        tx.txn.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// One-shot [`StoreRead::get`].
    pub fn get<T: GlobalRecord>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.read(|tx| tx.get(key))
    }

    /// One-shot [`StoreRead::get_scoped`].
    pub fn get_scoped<T: TenantRecord>(&self, scope: &Scope, key: &str) -> Result<T, StoreError> {
        self.read(|tx| tx.get_scoped(scope, key))
    }

    /// One-shot [`StoreRead::list_scoped`].
    pub fn list_scoped<T: TenantRecord>(&self, scope: &Scope) -> Result<Vec<T>, StoreError> {
        self.read(|tx| tx.list_scoped(scope))
    }
}

#[cfg(test)]
mod tests;
