//! Tenant isolation for the flow records, in one place: every request-facing read and write of
//! a folder, media, stored file or analysis goes through a [`ScopedFlow`] built from the
//! caller's [`Scope`]. A record of another company is answered exactly like a missing one
//! ([`AccessError::NotFound`], HTTP 404 code 10), lists only ever contain the scope's records,
//! and writes are refused for records outside the scope. This is the flow's counterpart of
//! the typed store's `get_scoped`/`put_scoped` (see `accounts::tenant`).
//!
//! The unscoped calls of [`crate::analysis::repo`] for company-owned records are visible only
//! inside `crate::analysis` (the workers that run stored jobs, restart recovery); `src/api`
//! cannot reach them, so a handler cannot forget the check. Jobs ([`JobRec`]) are not owned by
//! a company; they are written here only next to the analysis they belong to.

use redb::{Database, WriteTransaction};
use uuid::Uuid;

use crate::accounts::tenant::{CompanyOwned, Scope};
use crate::analysis::model::{AnalysisRec, FileRec, FolderRec, JobRec, MediaRec};
use crate::analysis::repo::{self, FlowRecord, RepoError};
use crate::store::Store;

/// A flow record that belongs to a company (folder, media, stored file, analysis).
pub trait OwnedRecord: FlowRecord + CompanyOwned {}

impl OwnedRecord for FolderRec {}
impl OwnedRecord for MediaRec {}
impl OwnedRecord for FileRec {}
impl OwnedRecord for AnalysisRec {}

/// Errors of scoped access: "not found" (missing or another tenant's) or a store failure.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: Uuid },
    #[error("a {what} cannot move to another company")]
    OwnerChange { what: &'static str },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

fn not_found<T: FlowRecord>(id: Uuid) -> AccessError {
    AccessError::NotFound { what: T::WHAT, id }
}

/// The caller's view of the flow records.
pub struct ScopedFlow<'a> {
    db: &'a Database,
    scope: Scope,
}

impl<'a> ScopedFlow<'a> {
    /// The flow records `scope` may see.
    pub fn new(store: &'a Store, scope: Scope) -> ScopedFlow<'a> {
        ScopedFlow {
            db: crate::store::raw::db(store),
            scope,
        }
    }

    /// The scope this view applies.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// One record; `NotFound` when it is missing or belongs to another company.
    pub fn get<T: OwnedRecord>(&self, id: Uuid) -> Result<T, AccessError> {
        repo::get::<T>(self.db, id)?
            .filter(|r| self.scope.allows(r.owner_company()))
            .ok_or_else(|| not_found::<T>(id))
    }

    /// The records of `ids` the scope may see, in the order of `ids` (others are skipped).
    pub fn get_many<T: OwnedRecord>(&self, ids: &[Uuid]) -> Result<Vec<T>, AccessError> {
        Ok(self.scope.filter(repo::get_many::<T>(self.db, ids)?))
    }

    /// Every folder of the scope. A company scope reads through the company index, so other
    /// companies' folders are never loaded.
    pub fn folders(&self) -> Result<Vec<FolderRec>, AccessError> {
        let company = match &self.scope {
            Scope::All => None,
            Scope::Company(c) => Some(*c),
        };
        let ids = repo::folder_ids(self.db, company)?;
        // Re-checked: the index is an optimisation, the record's owner decides.
        self.get_many(&ids)
    }

    /// A folder's media, in upload order.
    pub fn media_of(&self, f: &FolderRec) -> Result<Vec<MediaRec>, AccessError> {
        self.get_many(&f.media_ids)
    }

    /// A folder's analyses, in creation order.
    pub fn analyses_of(&self, f: &FolderRec) -> Result<Vec<AnalysisRec>, AccessError> {
        self.get_many(&f.analysis_ids)
    }

    /// Runs `f` in one write transaction limited to the scope; `Ok` commits durably.
    pub fn write<R, E: From<AccessError>>(
        &self,
        f: impl FnOnce(&ScopedWrite<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| AccessError::from(RepoError::from(e)))?;
        let out = f(&ScopedWrite {
            txn: &txn,
            scope: &self.scope,
        })?;
        txn.commit()
            .map_err(|e| AccessError::from(RepoError::from(e)))?;
        Ok(out)
    }
}

/// A write transaction limited to a scope (see [`ScopedFlow::write`]).
pub struct ScopedWrite<'t> {
    txn: &'t WriteTransaction,
    scope: &'t Scope,
}

impl ScopedWrite<'_> {
    /// A record, if it exists and the scope may see it.
    pub fn find<T: OwnedRecord>(&self, id: Uuid) -> Result<Option<T>, AccessError> {
        Ok(repo::get_w::<T>(self.txn, id)?.filter(|r| self.scope.allows(r.owner_company())))
    }

    /// A record; `NotFound` when missing or outside the scope.
    pub fn get<T: OwnedRecord>(&self, id: Uuid) -> Result<T, AccessError> {
        self.find(id)?.ok_or_else(|| not_found::<T>(id))
    }

    /// Inserts or replaces a record. Refused (`NotFound`) when the record, or the one it would
    /// replace, belongs to a company outside the scope; a record never changes company.
    pub fn put<T: OwnedRecord>(&self, rec: &T) -> Result<(), AccessError> {
        if !self.scope.allows(rec.owner_company()) {
            return Err(not_found::<T>(rec.id()));
        }
        if let Some(old) = repo::get_w::<T>(self.txn, rec.id())? {
            if !self.scope.allows(old.owner_company()) {
                return Err(not_found::<T>(rec.id()));
            }
            if old.owner_company() != rec.owner_company() {
                return Err(AccessError::OwnerChange { what: T::WHAT });
            }
        }
        Ok(repo::put(self.txn, rec)?)
    }

    /// Inserts a new folder with its company index entry.
    pub fn insert_folder(&self, f: &FolderRec) -> Result<(), AccessError> {
        if !self.scope.allows(f.company_id) {
            return Err(not_found::<FolderRec>(f.folder_id));
        }
        if repo::get_w::<FolderRec>(self.txn, f.folder_id)?.is_some() {
            return Err(AccessError::OwnerChange { what: "folder" });
        }
        Ok(repo::put_new_folder(self.txn, f)?)
    }

    /// Removes a record the scope may see and returns it; `None` when it does not exist,
    /// `NotFound` when it belongs to another company.
    pub fn delete<T: OwnedRecord>(&self, id: Uuid) -> Result<Option<T>, AccessError> {
        let Some(rec) = repo::get_w::<T>(self.txn, id)? else {
            return Ok(None);
        };
        if !self.scope.allows(rec.owner_company()) {
            return Err(not_found::<T>(id));
        }
        repo::delete::<T>(self.txn, id)?;
        Ok(Some(rec))
    }

    /// Removes a folder row and its company index entry (its children are the caller's).
    pub fn delete_folder(&self, id: Uuid) -> Result<FolderRec, AccessError> {
        let f: FolderRec = self.get(id)?;
        repo::delete_folder_row(self.txn, &f)?;
        Ok(f)
    }

    /// Stores new analyses (of the scope) with their queued jobs.
    pub fn insert_analyses(&self, list: &[AnalysisRec], now: f64) -> Result<(), AccessError> {
        for a in list {
            self.put(a)?;
            repo::put(
                self.txn,
                &JobRec {
                    analysis_id: a.analysis_id,
                    enqueued_at: now,
                    attempts: 0,
                },
            )?;
        }
        Ok(())
    }

    /// Removes an analysis of the scope with its job (a running job finds it gone and drops
    /// its result); returns it, or `None` when it does not exist.
    pub fn delete_analysis(&self, id: Uuid) -> Result<Option<AnalysisRec>, AccessError> {
        let a = self.delete::<AnalysisRec>(id)?;
        if a.is_some() {
            repo::delete::<JobRec>(self.txn, id)?;
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::fixtures::folder;

    #[test]
    fn other_tenants_folders_are_missing_for_reads_lists_and_writes() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open_in(dir.path()).expect("store");
        repo::ensure_tables(crate::store::raw::db(&store)).expect("tables");
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (fa, fb) = (folder(a), folder(b));
        let all = ScopedFlow::new(&store, Scope::All);
        all.write(|w| {
            w.insert_folder(&fa)?;
            w.insert_folder(&fb)
        })
        .expect("insert");
        let sa = ScopedFlow::new(&store, Scope::Company(a));
        assert_eq!(
            sa.get::<FolderRec>(fa.folder_id).expect("own").folder_id,
            fa.folder_id
        );
        assert!(matches!(
            sa.get::<FolderRec>(fb.folder_id),
            Err(AccessError::NotFound { .. })
        ));
        let listed: Vec<Uuid> = sa
            .folders()
            .expect("list")
            .iter()
            .map(|f| f.folder_id)
            .collect();
        assert_eq!(listed, vec![fa.folder_id]);
        assert_eq!(all.folders().expect("all").len(), 2);
        // Writes of B's folder, or moving A's into B, are refused.
        let mut changed = fb.clone();
        changed.meta_data = serde_json::json!({"x": 1});
        assert!(matches!(
            sa.write(|w| w.put(&changed)),
            Err(AccessError::NotFound { .. })
        ));
        let mut moved = fa.clone();
        moved.company_id = b;
        assert!(sa.write(|w| w.put(&moved)).is_err());
        assert!(all.write(|w| w.put(&moved)).is_err());
        assert!(matches!(
            sa.write(|w| w.delete_folder(fb.folder_id)),
            Err(AccessError::NotFound { .. })
        ));
        assert_eq!(
            all.get::<FolderRec>(fb.folder_id)
                .expect("intact")
                .meta_data,
            serde_json::json!({})
        );
    }
}
