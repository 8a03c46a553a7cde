//! The schema version of the store file and the migration hook, run once at open.
//!
//! `CURRENT` is the layout this build writes. A fresh file is stamped with it. An older file is
//! brought forward by running `MIGRATIONS[v - 1]` for every version `v` it is behind, all in the
//! same write transaction as the new stamp, so a crash mid-way leaves the old version intact. A
//! newer file is refused. Adding a table needs no migration (tables are created on open);
//! renaming, re-keying or re-encoding existing data does: bump `CURRENT` and append a step.

use redb::{Database, ReadableTable, WriteTransaction};

use crate::store::error::StoreError;
use crate::store::tables;

/// The schema version this build reads and writes.
pub const CURRENT: u64 = 1;

/// One migration step: rewrites the data of version `n` into version `n + 1`.
type Migration = fn(&WriteTransaction) -> Result<(), String>;

/// `MIGRATIONS[i]` migrates from version `i + 1` to `i + 2`.
const MIGRATIONS: &[Migration] = &[];

const _: () = assert!(MIGRATIONS.len() as u64 == CURRENT - 1);

const VERSION_KEY: &str = "schema_version";

/// Creates missing tables, stamps or migrates the schema version; returns the version found
/// before (`None` for a fresh file).
pub fn ensure(db: &Database) -> Result<Option<u64>, StoreError> {
    let txn = db.begin_write()?;
    for t in tables::ALL {
        txn.open_table(*t)?;
    }
    let found = read_version(&txn)?;
    match found {
        Some(v) if v > CURRENT => {
            return Err(StoreError::SchemaTooNew {
                found: v,
                supported: CURRENT,
            })
        }
        Some(v) => {
            for from in v..CURRENT {
                let step = usize::try_from(from - 1)
                    .ok()
                    .and_then(|i| MIGRATIONS.get(i))
                    .ok_or_else(|| StoreError::Migration {
                        from,
                        reason: "no migration step is defined".into(),
                    })?;
                step(&txn).map_err(|reason| StoreError::Migration { from, reason })?;
            }
        }
        None => {}
    }
    if found != Some(CURRENT) {
        let mut meta = txn.open_table(tables::META)?;
        meta.insert(VERSION_KEY, CURRENT.to_string().as_bytes())?;
    }
    txn.commit()?;
    Ok(found)
}

fn read_version(txn: &WriteTransaction) -> Result<Option<u64>, StoreError> {
    let meta = txn.open_table(tables::META)?;
    let Some(v) = meta.get(VERSION_KEY)? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(v.value()).unwrap_or("");
    text.parse::<u64>()
        .map(Some)
        .map_err(|_| StoreError::Corrupt {
            what: "schema version",
            key: VERSION_KEY.into(),
            reason: format!("{text:?} is not a number"),
        })
}
