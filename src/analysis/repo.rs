//! Persistence of the flow records in redb: the tables, and typed get/put/delete/scan helpers.
//! Every record is JSON under its UUID key. Writes take a `WriteTransaction` so that a caller
//! puts a folder, its media, its analyses and their jobs in ONE transaction (a client that got
//! a 2xx finds all of it after a crash, or none of it when the request failed).
//!
//! The helpers here are **unscoped**: they ignore which company owns a record. For company-owned
//! records (folders, media, files, analyses) they are therefore visible only inside
//! `crate::analysis`, for the workers that run stored jobs and for restart recovery. Request
//! handlers use [`crate::analysis::access`], which applies the caller's tenant scope. Records
//! that belong to no company (jobs, the webhook outbox) have public [`SystemRecord`] calls.

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::analysis::model::{AnalysisRec, FileRec, FolderRec, JobRec, MediaRec, OutboxRec};

/// Table type shared by every flow table: id string -> JSON bytes.
pub type FlowTable = TableDefinition<'static, &'static str, &'static [u8]>;

/// Folders, key `folder_id`.
pub(in crate::analysis) const FOLDERS: FlowTable = TableDefinition::new("flow_folders");
/// `<company_id>/<folder_id>` -> empty: a company's folders without a scan of all folders.
pub(in crate::analysis) const FOLDERS_BY_COMPANY: FlowTable =
    TableDefinition::new("flow_folders_by_company");
/// Media, key `media_id`.
pub(in crate::analysis) const MEDIA: FlowTable = TableDefinition::new("flow_media");
/// Stored files (uploads and best shots), key `file_id`.
pub(in crate::analysis) const FILES: FlowTable = TableDefinition::new("flow_files");
/// Analyses, key `analysis_id`.
pub(in crate::analysis) const ANALYSES: FlowTable = TableDefinition::new("flow_analyses");
/// Queued analyses, key `analysis_id`.
pub const JOBS: FlowTable = TableDefinition::new("flow_jobs");
/// Undelivered webhooks, key `delivery_id`.
pub const OUTBOX: FlowTable = TableDefinition::new("flow_webhook_outbox");

/// Every flow table, created empty at start.
const ALL: &[FlowTable] = &[
    FOLDERS,
    FOLDERS_BY_COMPANY,
    MEDIA,
    FILES,
    ANALYSES,
    JOBS,
    OUTBOX,
];

/// Errors of the flow persistence layer (I/O inside redb, or a record that cannot be decoded).
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("store error: {0}")]
    Redb(String),
    #[error("stored {what} {key} cannot be decoded: {reason}")]
    Corrupt {
        what: &'static str,
        key: String,
        reason: String,
    },
    #[error("cannot encode {0}")]
    Encode(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for RepoError {
            fn from(e: $t) -> Self {
                RepoError::Redb(e.to_string())
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// A record type with its table.
pub trait FlowRecord: Serialize + DeserializeOwned {
    const TABLE: FlowTable;
    const WHAT: &'static str;
    fn id(&self) -> Uuid;
}

macro_rules! record {
    ($t:ty, $table:expr, $what:expr, $id:ident) => {
        impl FlowRecord for $t {
            const TABLE: FlowTable = $table;
            const WHAT: &'static str = $what;
            fn id(&self) -> Uuid {
                self.$id
            }
        }
    };
}
record!(FolderRec, FOLDERS, "folder", folder_id);
record!(MediaRec, MEDIA, "media", media_id);
record!(FileRec, FILES, "file", file_id);
record!(AnalysisRec, ANALYSES, "analysis", analysis_id);
record!(JobRec, JOBS, "job", analysis_id);
record!(OutboxRec, OUTBOX, "webhook delivery", delivery_id);

/// A flow record that belongs to no company (queued jobs, webhook deliveries): internal
/// bookkeeping, never served to a client by id.
pub trait SystemRecord: FlowRecord {}
impl SystemRecord for JobRec {}
impl SystemRecord for OutboxRec {}

/// Inserts or replaces a company-less record.
pub fn put_system<T: SystemRecord>(txn: &WriteTransaction, rec: &T) -> Result<(), RepoError> {
    put(txn, rec)
}

/// Removes a company-less record (no error when absent).
pub fn delete_system<T: SystemRecord>(txn: &WriteTransaction, id: Uuid) -> Result<(), RepoError> {
    delete::<T>(txn, id)
}

/// Creates the flow tables (idempotent).
pub fn ensure_tables(db: &Database) -> Result<(), RepoError> {
    let txn = db.begin_write()?;
    for t in ALL {
        txn.open_table(*t)?;
    }
    txn.commit()?;
    Ok(())
}

fn decode<T: FlowRecord>(key: &str, bytes: &[u8]) -> Result<T, RepoError> {
    serde_json::from_slice(bytes).map_err(|e| RepoError::Corrupt {
        what: T::WHAT,
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// Reads one record by id (unscoped).
pub(in crate::analysis) fn get<T: FlowRecord>(
    db: &Database,
    id: Uuid,
) -> Result<Option<T>, RepoError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(T::TABLE)?;
    let key = id.to_string();
    match table.get(key.as_str())? {
        Some(v) => Ok(Some(decode(&key, v.value())?)),
        None => Ok(None),
    }
}

/// Reads several records by id, skipping ids that do not exist.
pub(in crate::analysis) fn get_many<T: FlowRecord>(
    db: &Database,
    ids: &[Uuid],
) -> Result<Vec<T>, RepoError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(T::TABLE)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let key = id.to_string();
        if let Some(v) = table.get(key.as_str())? {
            out.push(decode(&key, v.value())?);
        }
    }
    Ok(out)
}

/// Every record of a table (used at start for jobs and the outbox, which stay small).
pub fn scan<T: SystemRecord>(db: &Database) -> Result<Vec<T>, RepoError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(T::TABLE)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        out.push(decode(k.value(), v.value())?);
    }
    Ok(out)
}

/// Number of records in a table.
pub fn count<T: SystemRecord>(db: &Database) -> Result<u64, RepoError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(T::TABLE)?;
    Ok(table.len()?)
}

/// Folder ids of one company (or of everyone with `None`).
pub(in crate::analysis) fn folder_ids(
    db: &Database,
    company: Option<Uuid>,
) -> Result<Vec<Uuid>, RepoError> {
    let txn = db.begin_read()?;
    let mut out = Vec::new();
    match company {
        Some(c) => {
            let table = txn.open_table(FOLDERS_BY_COMPANY)?;
            let lo = format!("{c}/");
            let hi = format!("{c}0");
            for row in table.range(lo.as_str()..hi.as_str())? {
                let (k, _) = row?;
                if let Some(id) = k.value().split('/').nth(1).and_then(|s| s.parse().ok()) {
                    out.push(id);
                }
            }
        }
        None => {
            let table = txn.open_table(FOLDERS)?;
            for row in table.iter()? {
                let (k, _) = row?;
                if let Ok(id) = k.value().parse() {
                    out.push(id);
                }
            }
        }
    }
    Ok(out)
}

/// Reads a record inside a write transaction.
pub(in crate::analysis) fn get_w<T: FlowRecord>(
    txn: &WriteTransaction,
    id: Uuid,
) -> Result<Option<T>, RepoError> {
    let table = txn.open_table(T::TABLE)?;
    let key = id.to_string();
    let found = table.get(key.as_str())?;
    match found {
        Some(v) => Ok(Some(decode(&key, v.value())?)),
        None => Ok(None),
    }
}

/// Inserts or replaces a record.
pub(in crate::analysis) fn put<T: FlowRecord>(
    txn: &WriteTransaction,
    rec: &T,
) -> Result<(), RepoError> {
    let bytes = serde_json::to_vec(rec).map_err(|e| RepoError::Encode(e.to_string()))?;
    let mut table = txn.open_table(T::TABLE)?;
    table.insert(rec.id().to_string().as_str(), bytes.as_slice())?;
    Ok(())
}

/// Inserts a new folder and its company index entry.
pub(in crate::analysis) fn put_new_folder(
    txn: &WriteTransaction,
    f: &FolderRec,
) -> Result<(), RepoError> {
    put(txn, f)?;
    let mut idx = txn.open_table(FOLDERS_BY_COMPANY)?;
    idx.insert(
        format!("{}/{}", f.company_id, f.folder_id).as_str(),
        &[][..],
    )?;
    Ok(())
}

/// Removes a record (no error when absent).
pub(in crate::analysis) fn delete<T: FlowRecord>(
    txn: &WriteTransaction,
    id: Uuid,
) -> Result<(), RepoError> {
    let mut table = txn.open_table(T::TABLE)?;
    table.remove(id.to_string().as_str())?;
    Ok(())
}

/// Removes a folder and its company index entry.
pub(in crate::analysis) fn delete_folder_row(
    txn: &WriteTransaction,
    f: &FolderRec,
) -> Result<(), RepoError> {
    delete::<FolderRec>(txn, f.folder_id)?;
    let mut idx = txn.open_table(FOLDERS_BY_COMPANY)?;
    idx.remove(format!("{}/{}", f.company_id, f.folder_id).as_str())?;
    Ok(())
}

/// Which of `candidates` (analyses once recorded as having matched `person`) still hold on
/// to that person: `(holding, stale)`. An analysis holds when it exists and either matched the
/// person in a per-media result (as its best match, `results_media[].person_id`, or as any
/// other match at or above the threshold) or is still PROCESSING (it may yet report it).
/// Deleted analyses, and finished ones that do not name the person, are stale.
/// Runs inside the caller's write transaction, so the answer cannot change before it commits.
pub fn analyses_holding_person(
    txn: &WriteTransaction,
    person: Uuid,
    candidates: &[Uuid],
) -> Result<(Vec<Uuid>, Vec<Uuid>), RepoError> {
    let (mut holding, mut stale) = (Vec::new(), Vec::new());
    for id in candidates {
        let holds = get_w::<AnalysisRec>(txn, *id)?.is_some_and(|a| {
            a.state == crate::analysis::model::State::Processing
                || a.results_media
                    .iter()
                    .any(|r| r.person_id == Some(person) || r.matched_persons.contains(&person))
        });
        if holds {
            holding.push(*id);
        } else {
            stale.push(*id);
        }
    }
    Ok((holding, stale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::fixtures::{collection_analysis, folder};

    #[test]
    fn folders_round_trip_and_are_listed_per_company() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = Database::create(dir.path().join("t.redb")).expect("db");
        ensure_tables(&db).expect("tables");
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let fa = folder(a);
        let fb = folder(b);
        let txn = db.begin_write().expect("w");
        put_new_folder(&txn, &fa).expect("put");
        put_new_folder(&txn, &fb).expect("put");
        txn.commit().expect("commit");
        let got: FolderRec = get(&db, fa.folder_id).expect("get").expect("some");
        assert_eq!(got.company_id, a);
        assert_eq!(folder_ids(&db, Some(a)).expect("ids"), vec![fa.folder_id]);
        assert_eq!(folder_ids(&db, None).expect("ids").len(), 2);
        let txn = db.begin_write().expect("w");
        delete_folder_row(&txn, &fa).expect("del");
        txn.commit().expect("commit");
        assert!(get::<FolderRec>(&db, fa.folder_id).expect("get").is_none());
        assert!(folder_ids(&db, Some(a)).expect("ids").is_empty());
    }

    #[test]
    fn a_person_is_held_by_running_analyses_and_by_those_that_report_it() {
        use crate::analysis::model::State;
        let dir = tempfile::tempdir().expect("tmp");
        let db = Database::create(dir.path().join("t.redb")).expect("db");
        ensure_tables(&db).expect("tables");
        let (person, other) = (Uuid::new_v4(), Uuid::new_v4());
        let reports = collection_analysis(State::Finished, Some(person));
        let running = collection_analysis(State::Processing, None);
        let elsewhere = collection_analysis(State::Finished, Some(other));
        // `other` is the best match; `person` matched too, above the threshold, second.
        let mut second = collection_analysis(State::Finished, Some(other));
        second.results_media[0].matched_persons = vec![other, person];
        let deleted = Uuid::new_v4();
        let txn = db.begin_write().expect("w");
        for a in [&reports, &running, &elsewhere, &second] {
            put(&txn, a).expect("put");
        }
        let candidates = [
            reports.analysis_id,
            running.analysis_id,
            elsewhere.analysis_id,
            second.analysis_id,
            deleted,
        ];
        let (holding, stale) = analyses_holding_person(&txn, person, &candidates).expect("query");
        assert_eq!(
            holding,
            vec![reports.analysis_id, running.analysis_id, second.analysis_id]
        );
        assert_eq!(stale, vec![elsewhere.analysis_id, deleted]);
        // The best match of that analysis is held by it as well.
        let (holding, _) =
            analyses_holding_person(&txn, other, &[second.analysis_id]).expect("query");
        assert_eq!(holding, vec![second.analysis_id]);
        // A stored record without the field (written before it existed) names nobody.
        let mut v = serde_json::to_value(&reports).expect("json");
        if let Some(rm) = v["results_media"][0].as_object_mut() {
            rm.remove("person_id");
            rm.remove("matched_persons");
        }
        let old: AnalysisRec = serde_json::from_value(v).expect("old record");
        assert_eq!(old.results_media[0].person_id, None);
        assert!(old.results_media[0].matched_persons.is_empty());
    }
}
