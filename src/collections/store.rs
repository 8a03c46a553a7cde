//! How collection records live in the store: their tables (declared in `store::tables`), record
//! versions and tenancy, and the index rows that find a collection's persons and a person's
//! match references by key prefix.

use uuid::Uuid;

use crate::collections::model::{CollectionRec, PersonImageRec, PersonRec};
use crate::store::tables::{self, Table};
use crate::store::{CompanyScoped, Record, StoreError, StoreRead, WriteTx};

impl Record for CollectionRec {
    const TABLE: Table = tables::COLLECTIONS;
    const WHAT: &'static str = "collection";
    const VERSION: u32 = 1;
    type Tenancy = CompanyScoped;
    fn key(&self) -> String {
        self.collection_id.to_string()
    }
}

impl Record for PersonRec {
    const TABLE: Table = tables::PERSONS;
    const WHAT: &'static str = "person";
    const VERSION: u32 = 1;
    type Tenancy = CompanyScoped;
    fn key(&self) -> String {
        self.person_id.to_string()
    }
}

impl Record for PersonImageRec {
    const TABLE: Table = tables::PERSON_IMAGES;
    const WHAT: &'static str = "person image";
    const VERSION: u32 = 1;
    type Tenancy = CompanyScoped;
    fn key(&self) -> String {
        self.person_image_id.to_string()
    }
}

fn pair(a: Uuid, b: Uuid) -> String {
    format!("{a}/{b}")
}

/// Adds `<a>/<b>` to an index table.
pub fn link(tx: &mut WriteTx, table: Table, a: Uuid, b: Uuid) -> Result<(), StoreError> {
    tx.index_put(table, &pair(a, b), "")
}

/// Removes `<a>/<b>` from an index table.
pub fn unlink(tx: &mut WriteTx, table: Table, a: Uuid, b: Uuid) -> Result<(), StoreError> {
    tx.index_remove(table, &pair(a, b)).map(|_| ())
}

/// The `b` of every `<a>/<b>` row, in key order.
pub fn linked(tx: &impl StoreRead, table: Table, a: Uuid) -> Result<Vec<Uuid>, StoreError> {
    let prefix = format!("{a}/");
    Ok(tx
        .index_prefix(table, &prefix)?
        .into_iter()
        .filter_map(|(k, _)| k.get(prefix.len()..).and_then(|s| s.parse().ok()))
        .collect())
}

/// A collection's person ids.
pub fn persons_of(tx: &impl StoreRead, collection: Uuid) -> Result<Vec<Uuid>, StoreError> {
    linked(tx, tables::PERSONS_BY_COLLECTION, collection)
}
