//! Companies: the tenants. Every company-owned object hangs off one; a company is itself
//! company-owned (by itself), so a company user sees exactly one company.
//!
//! Permission checks are the caller's job (`accounts::permissions`); these functions only
//! enforce the tenant scope and the data rules.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::accounts::tenant::{CompanyOwned, Scope};
use crate::accounts::{now_secs, AccountsError};
use crate::store::{tables, CompanyScoped, Record, Store, StoreError, StoreRead};

/// Longest company name, characters.
pub const MAX_NAME_CHARS: usize = 256;

/// A company (tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    pub company_id: Uuid,
    pub name: String,
    /// UNIX seconds.
    pub time_created: i64,
    /// UNIX seconds.
    pub time_updated: i64,
    #[serde(default)]
    pub meta_data: Map<String, Value>,
}

impl Record for Company {
    const TABLE: tables::Table = tables::COMPANIES;
    const WHAT: &'static str = "company";
    const VERSION: u32 = 1;
    type Tenancy = CompanyScoped;

    fn key(&self) -> String {
        self.company_id.to_string()
    }
}

impl CompanyOwned for Company {
    fn owner_company(&self) -> Uuid {
        self.company_id
    }
}

impl Company {
    /// The Oz wire object.
    pub fn to_json(&self) -> Value {
        json!({
            "company_id": self.company_id,
            "name": self.name,
            "time_created": self.time_created,
            "time_updated": self.time_updated,
            "meta_data": self.meta_data,
        })
    }
}

/// Trims and checks a company name.
pub fn validate_name(name: &str) -> Result<String, AccountsError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AccountsError::Invalid(
            "company name must not be empty".into(),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AccountsError::Invalid(format!(
            "company name is too long: at most {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AccountsError::Invalid(
            "company name must not contain control characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// Creates a company (the caller has checked that it may).
pub fn create(store: &Store, name: &str) -> Result<Company, AccountsError> {
    let now = now_secs();
    let company = Company {
        company_id: Uuid::new_v4(),
        name: validate_name(name)?,
        time_created: now,
        time_updated: now,
        meta_data: Map::new(),
    };
    store.write(|tx| {
        tx.put_scoped(&Scope::All, &company)
            .map_err(AccountsError::from)
    })?;
    Ok(company)
}

/// Renames a company visible in `scope`.
pub fn rename(
    store: &Store,
    scope: &Scope,
    id: &str,
    name: &str,
) -> Result<Company, AccountsError> {
    let name = validate_name(name)?;
    store.write(|tx| {
        let mut c: Company = tx.get_scoped(scope, id)?;
        c.name = name;
        c.time_updated = now_secs();
        tx.put_scoped(scope, &c)?;
        Ok(c)
    })
}

/// Deletes a company visible in `scope`; refused while users or any other object still
/// belong to it (409), because their data would be orphaned.
pub fn delete(store: &Store, scope: &Scope, id: &str) -> Result<Company, AccountsError> {
    store.write(|tx| {
        let c: Company = tx.get_scoped(scope, id)?;
        if tx.company_has_records(c.company_id, tables::COMPANIES)? {
            return Err(AccountsError::Conflict(format!(
                "company {} still has users or other objects; delete them first",
                c.company_id
            )));
        }
        tx.delete_scoped::<Company>(scope, id)?;
        Ok(c)
    })
}

/// Companies visible in `scope` whose name contains `search_text` (case-insensitive), oldest
/// first.
pub fn list(
    store: &Store,
    scope: &Scope,
    search_text: Option<&str>,
) -> Result<Vec<Company>, StoreError> {
    let needle = search_text.map(str::to_lowercase).filter(|s| !s.is_empty());
    let mut all: Vec<Company> = store.list_scoped(scope)?;
    if let Some(n) = needle {
        all.retain(|c| c.name.to_lowercase().contains(&n));
    }
    all.sort_by(|a, b| {
        (a.time_created, &a.name, a.company_id).cmp(&(b.time_created, &b.name, b.company_id))
    });
    Ok(all)
}

/// Finds a company by id or exact (case-insensitive) name, for the admin CLI. A name that
/// several companies share is refused.
pub fn find_by_id_or_name(store: &Store, what: &str) -> Result<Company, AccountsError> {
    if let Ok(id) = Uuid::parse_str(what) {
        if let Some(c) = store.read(|tx| tx.find_scoped::<Company>(&Scope::All, &id.to_string()))? {
            return Ok(c);
        }
    }
    let lower = what.to_lowercase();
    let mut matches: Vec<Company> = store
        .list_scoped::<Company>(&Scope::All)?
        .into_iter()
        .filter(|c| c.name.to_lowercase() == lower)
        .collect();
    let n = matches.len();
    match matches.pop() {
        Some(c) if n == 1 => Ok(c),
        None => Err(AccountsError::Store(StoreError::NotFound {
            what: "company",
            key: what.to_string(),
        })),
        Some(_) => Err(AccountsError::Invalid(format!(
            "{n} companies are named {what:?}; give the company id instead"
        ))),
    }
}
