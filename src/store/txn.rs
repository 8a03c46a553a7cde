//! Read and write transactions with the typed calls every family uses.
//!
//! Reads of [`TenantRecord`]s exist only in a scoped form (`get_scoped`, `find_scoped`,
//! `list_scoped`) and writes only as `put_scoped` / `delete_scoped`; the raw byte access that
//! could bypass the scope takes a [`Private`] token that only this module can make.

use std::ops::ControlFlow;

use redb::{ReadableTable, TableHandle};

use crate::accounts::tenant::Scope;
use crate::store::error::StoreError;
use crate::store::record::{decode, encode, GlobalRecord, Record, TenantRecord};
use crate::store::tables::{self, Table};

/// Visits one raw entry of a prefix scan; `Break` stops the scan.
pub type Visitor<'a> = dyn FnMut(&str, &[u8]) -> Result<ControlFlow<()>, StoreError> + 'a;

/// Proof of being inside the store module; guards the raw byte access.
pub struct Private(());

/// A read transaction: a consistent snapshot.
pub struct ReadTx {
    pub(crate) txn: redb::ReadTransaction,
}

/// A write transaction. It commits durably when the closure given to `Store::write` returns
/// `Ok`, and is rolled back otherwise.
pub struct WriteTx {
    pub(crate) txn: redb::WriteTransaction,
}

fn tenant_key(company: uuid::Uuid, table: Table, key: &str) -> String {
    format!("{company}/{}/{key}", table.name())
}

fn not_found<T: Record>(key: &str) -> StoreError {
    StoreError::NotFound {
        what: T::WHAT,
        key: key.to_string(),
    }
}

/// The calls shared by read and write transactions.
pub trait StoreRead {
    /// Raw value of `key` in `table` (store-internal).
    #[doc(hidden)]
    fn raw_get(&self, _: Private, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits the entries whose key starts with `prefix`, in key order (store-internal).
    #[doc(hidden)]
    fn raw_prefix(
        &self,
        _: Private,
        table: Table,
        prefix: &str,
        f: &mut Visitor<'_>,
    ) -> Result<(), StoreError>;

    /// A global (company-less) record by key.
    fn get<T: GlobalRecord>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.raw_get(Private(()), T::TABLE, key)? {
            Some(bytes) => decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Global records whose key starts with `prefix` ("" = all), in key order.
    fn list_prefix<T: GlobalRecord>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.raw_prefix(Private(()), T::TABLE, prefix, &mut |k, v| {
            out.push(decode(k, v)?);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }

    /// A company-owned record, if it exists *and* the scope may see it.
    fn find_scoped<T: TenantRecord>(
        &self,
        scope: &Scope,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(bytes) = self.raw_get(Private(()), T::TABLE, key)? else {
            return Ok(None);
        };
        let rec: T = decode(key, &bytes)?;
        Ok(scope.allows(rec.owner_company()).then_some(rec))
    }

    /// A company-owned record; `StoreError::NotFound` (404) when it is missing or belongs to
    /// a company outside the scope.
    fn get_scoped<T: TenantRecord>(&self, scope: &Scope, key: &str) -> Result<T, StoreError> {
        self.find_scoped(scope, key)?
            .ok_or_else(|| not_found::<T>(key))
    }

    /// Every record of type `T` the scope may see. A company scope reads through the tenant
    /// index, so it never touches other companies' records.
    fn list_scoped<T: TenantRecord>(&self, scope: &Scope) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        match scope {
            Scope::All => {
                self.raw_prefix(Private(()), T::TABLE, "", &mut |k, v| {
                    out.push(decode(k, v)?);
                    Ok(ControlFlow::Continue(()))
                })?;
            }
            Scope::Company(c) => {
                let prefix = tenant_key(*c, T::TABLE, "");
                let mut keys = Vec::new();
                self.raw_prefix(Private(()), tables::TENANT_INDEX, &prefix, &mut |k, _| {
                    keys.push(k[prefix.len()..].to_string());
                    Ok(ControlFlow::Continue(()))
                })?;
                for key in keys {
                    // Re-checked: the index is an optimisation, the record's owner decides.
                    if let Some(rec) = self.find_scoped::<T>(scope, &key)? {
                        out.push(rec);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether any company-owned record of another table than `except` belongs to `company`
    /// (used before deleting a company).
    fn company_has_records(&self, company: uuid::Uuid, except: Table) -> Result<bool, StoreError> {
        let prefix = format!("{company}/");
        let skip = tenant_key(company, except, "");
        let mut found = false;
        self.raw_prefix(Private(()), tables::TENANT_INDEX, &prefix, &mut |k, _| {
            if k.starts_with(&skip) {
                Ok(ControlFlow::Continue(()))
            } else {
                found = true;
                Ok(ControlFlow::Break(()))
            }
        })?;
        Ok(found)
    }

    /// Whether any entry of `table` has a key starting with `prefix` ("" = table not empty).
    fn any_with_prefix(&self, table: Table, prefix: &str) -> Result<bool, StoreError> {
        let mut found = false;
        self.raw_prefix(Private(()), table, prefix, &mut |_, _| {
            found = true;
            Ok(ControlFlow::Break(()))
        })?;
        Ok(found)
    }

    /// The value of an index entry.
    fn index_get(&self, table: Table, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .raw_get(Private(()), table, key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Index entries whose key starts with `prefix`, in key order.
    fn index_prefix(
        &self,
        table: Table,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        self.raw_prefix(Private(()), table, prefix, &mut |k, v| {
            out.push((k.to_string(), String::from_utf8_lossy(v).into_owned()));
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }
}

fn get_in<T: ReadableTable<&'static str, &'static [u8]>>(
    t: &T,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(t.get(key)?.map(|g| g.value().to_vec()))
}

fn prefix_in<T: ReadableTable<&'static str, &'static [u8]>>(
    t: &T,
    prefix: &str,
    f: &mut Visitor<'_>,
) -> Result<(), StoreError> {
    for item in t.range::<&str>(prefix..)? {
        let (k, v) = item?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        if f(key, v.value())?.is_break() {
            break;
        }
    }
    Ok(())
}

impl StoreRead for ReadTx {
    fn raw_get(&self, _: Private, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_in(&self.txn.open_table(table)?, key)
    }

    fn raw_prefix(
        &self,
        _: Private,
        table: Table,
        prefix: &str,
        f: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        prefix_in(&self.txn.open_table(table)?, prefix, f)
    }
}

impl StoreRead for WriteTx {
    fn raw_get(&self, _: Private, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_in(&self.txn.open_table(table)?, key)
    }

    fn raw_prefix(
        &self,
        _: Private,
        table: Table,
        prefix: &str,
        f: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        prefix_in(&self.txn.open_table(table)?, prefix, f)
    }
}

impl WriteTx {
    fn raw_put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.txn.open_table(table)?.insert(key, value)?;
        Ok(())
    }

    fn raw_remove(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        Ok(self.txn.open_table(table)?.remove(key)?.is_some())
    }

    /// Inserts or replaces a global record.
    pub fn put<T: GlobalRecord>(&mut self, rec: &T) -> Result<(), StoreError> {
        let bytes = encode(rec)?;
        self.raw_put(T::TABLE, &rec.key(), &bytes)
    }

    /// Removes a global record; `false` when there was none.
    pub fn delete<T: GlobalRecord>(&mut self, key: &str) -> Result<bool, StoreError> {
        self.raw_remove(T::TABLE, key)
    }

    /// Inserts or replaces a company-owned record. Refused with `NotFound` when the record's
    /// company, or the company of the record it would replace, is outside the scope. Keeps the
    /// tenant index in step.
    pub fn put_scoped<T: TenantRecord>(
        &mut self,
        scope: &Scope,
        rec: &T,
    ) -> Result<(), StoreError> {
        let key = rec.key();
        let owner = rec.owner_company();
        if !scope.allows(owner) {
            return Err(not_found::<T>(&key));
        }
        if let Some(old) = self.raw_get(Private(()), T::TABLE, &key)? {
            let old: T = decode(&key, &old)?;
            let old_owner = old.owner_company();
            if !scope.allows(old_owner) {
                return Err(not_found::<T>(&key));
            }
            if old_owner != owner {
                self.raw_remove(tables::TENANT_INDEX, &tenant_key(old_owner, T::TABLE, &key))?;
            }
        }
        let bytes = encode(rec)?;
        self.raw_put(T::TABLE, &key, &bytes)?;
        self.raw_put(
            tables::TENANT_INDEX,
            &tenant_key(owner, T::TABLE, &key),
            b"",
        )
    }

    /// Removes a company-owned record the scope may see and returns it; `NotFound` otherwise.
    pub fn delete_scoped<T: TenantRecord>(
        &mut self,
        scope: &Scope,
        key: &str,
    ) -> Result<T, StoreError> {
        let rec: T = self.get_scoped(scope, key)?;
        self.raw_remove(T::TABLE, key)?;
        self.raw_remove(
            tables::TENANT_INDEX,
            &tenant_key(rec.owner_company(), T::TABLE, key),
        )?;
        Ok(rec)
    }

    /// Sets an index entry.
    pub fn index_put(&mut self, table: Table, key: &str, value: &str) -> Result<(), StoreError> {
        self.raw_put(table, key, value.as_bytes())
    }

    /// Removes an index entry; `false` when there was none.
    pub fn index_remove(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        self.raw_remove(table, key)
    }
}
