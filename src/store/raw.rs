//! Direct redb access for the analysis flow's own tables (`analysis::repo`: folders, media,
//! files, analyses, jobs, webhook outbox), which keep their own JSON encoding. Request handlers
//! never use it: they reach company-owned flow records only through the tenant-scoped
//! `analysis::access::ScopedFlow`; the unscoped calls are for the workers, restart recovery and
//! the webhook outbox.

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
