//! Typed records and their on-disk encoding.
//!
//! **Encoding (version 1 of the envelope, stable):** every record value is the UTF-8 JSON object
//! `{"v": <record version>, "d": <the record, serde_json>}`. `v` is the record type's
//! [`Record::VERSION`] at the time of writing. On read, a record with an older `v` is passed
//! through [`Record::upgrade`] (JSON to JSON) before it is deserialised, so a family can change
//! a record's shape without rewriting the table; a record with a newer `v` than the running
//! build knows is refused (a downgrade would silently lose fields). Rewriting whole tables at
//! once is the job of `schema.rs` migrations instead.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::accounts::tenant::CompanyOwned;
use crate::store::error::StoreError;
use crate::store::tables::Table;

mod sealed {
    pub trait Sealed {}
}

/// Who may read a record type: [`Global`] records (sessions, jobs...) have no owner; the
/// records of [`CompanyScoped`] types are reachable only through the scoped calls.
pub trait Tenancy: sealed::Sealed {}

/// Marker: the record belongs to no company; read with `get`/`list`.
pub enum Global {}
/// Marker: the record belongs to a company; read only with `get_scoped`/`list_scoped`.
pub enum CompanyScoped {}

impl sealed::Sealed for Global {}
impl sealed::Sealed for CompanyScoped {}
impl Tenancy for Global {}
impl Tenancy for CompanyScoped {}

/// A type stored in its own table, one record per key.
pub trait Record: Serialize + DeserializeOwned {
    /// The table holding the records (declared in `tables.rs`).
    const TABLE: Table;
    /// What a record is called in messages ("user", "folder").
    const WHAT: &'static str;
    /// Version of the record's JSON shape; bump it when the shape changes and teach
    /// [`Record::upgrade`] the step.
    const VERSION: u32;
    /// [`Global`] or [`CompanyScoped`]; decides which store calls can reach the type.
    type Tenancy: Tenancy;

    /// The primary key (normally the id as a hyphenated UUID string).
    fn key(&self) -> String;

    /// Turns the JSON of an older record version into the current one. The default refuses,
    /// which is right until the first shape change.
    fn upgrade(from_version: u32, data: serde_json::Value) -> Result<serde_json::Value, String> {
        let _ = data;
        Err(format!(
            "no upgrade from record version {from_version} to {}",
            Self::VERSION
        ))
    }
}

/// A record type whose records belong to a company. Blanket-implemented; it only names the
/// bound the scoped store calls need.
pub trait TenantRecord: Record<Tenancy = CompanyScoped> + CompanyOwned {}
impl<T: Record<Tenancy = CompanyScoped> + CompanyOwned> TenantRecord for T {}

/// A record type that belongs to no company.
pub trait GlobalRecord: Record<Tenancy = Global> {}
impl<T: Record<Tenancy = Global>> GlobalRecord for T {}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    v: u32,
    d: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeIn<D> {
    v: u32,
    d: D,
}

/// Encodes a record in the versioned envelope.
pub fn encode<T: Record>(rec: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&EnvelopeOut {
        v: T::VERSION,
        d: rec,
    })
    .map_err(|e| StoreError::Encode {
        what: T::WHAT,
        reason: e.to_string(),
    })
}

/// Decodes a record, upgrading older versions.
pub fn decode<T: Record>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        what: T::WHAT,
        key: key.to_string(),
        reason,
    };
    // Fast path: the current version parses straight into the type.
    if let Ok(env) = serde_json::from_slice::<EnvelopeIn<T>>(bytes) {
        if env.v == T::VERSION {
            return Ok(env.d);
        }
    }
    let env: EnvelopeIn<serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(format!("not a record envelope: {e}")))?;
    if env.v > T::VERSION {
        return Err(corrupt(format!(
            "record version {} is newer than this build's {}; upgrade facelite",
            env.v,
            T::VERSION
        )));
    }
    if env.v == T::VERSION {
        // The typed parse above failed for a current-version record.
        return serde_json::from_value(env.d).map_err(|e| corrupt(e.to_string()));
    }
    let upgraded = T::upgrade(env.v, env.d).map_err(corrupt)?;
    serde_json::from_value(upgraded).map_err(|e| corrupt(format!("after upgrade: {e}")))
}
