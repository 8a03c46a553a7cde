//! Errors of the store layer. `api::error` maps them to HTTP once; the CLI prints them as is,
//! so every message is written for the person reading it.

use std::path::PathBuf;

/// Everything that can go wrong between facelite and its redb file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (normally `facelite serve`) holds the file lock.
    #[error("the store {} is in use by a running facelite server; stop it first", path.display())]
    Locked { path: PathBuf },

    /// The file could not be created or opened (permissions, disk, not a redb file...).
    #[error("could not open the store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },

    /// The data directory or the empty store file could not be created.
    #[error("could not create {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file was written by a newer facelite whose schema this build does not know.
    #[error(
        "the store was written by a newer facelite (schema version {found}; this build knows up to {supported}); upgrade facelite"
    )]
    SchemaTooNew { found: u64, supported: u64 },

    /// A migration step failed; the store is left at the version before the step.
    #[error("migrating the store from schema version {from} failed: {reason}")]
    Migration { from: u64, reason: String },

    /// An I/O or consistency error inside redb.
    #[error("store error: {0}")]
    Redb(#[from] redb::Error),

    /// A stored record could not be decoded (corrupt, or written by an incompatible build).
    #[error("stored {what} {key} cannot be decoded: {reason}")]
    Corrupt {
        what: &'static str,
        key: String,
        reason: String,
    },

    /// A record could not be encoded (cannot normally happen for plain data).
    #[error("{what} record cannot be encoded: {reason}")]
    Encode { what: &'static str, reason: String },

    /// The record does not exist, or belongs to a company outside the caller's scope (the two
    /// are deliberately indistinguishable).
    #[error("{what} {key} not found")]
    NotFound { what: &'static str, key: String },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Redb(e.into())
            }
        }
    )*};
}

from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
