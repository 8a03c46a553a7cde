//! Direct redb access for the analysis flow's own tables (`analysis::repo`: folders, media,
//! files, analyses, jobs, webhook outbox). Those records are stored by `analysis::repo` with
//! their own JSON encoding and are tenant-checked with `Scope::check` in every `src/api`
//! handler; moving them onto the typed `Record` API (and its tenant index) is pending.

use crate::store::Store;

/// The underlying redb database.
pub fn db(store: &Store) -> &redb::Database {
    &store.db
}

/// The redb transaction under a typed write transaction, so that a family's rule can read
/// the flow's records (through `analysis::repo`) in the same transaction as its own writes.
pub fn write_txn(tx: &crate::store::WriteTx) -> &redb::WriteTransaction {
    &tx.txn
}
