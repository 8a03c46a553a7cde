//! Tenant isolation, in one place: every read and write of a company-owned object passes
//! through a [`Scope`]. An object of another company is answered exactly like a missing one
//! (404, code 10), so ids of other tenants cannot even be probed.

use uuid::Uuid;

use crate::accounts::principal::{Principal, Role};
use crate::api::error::ApiError;

/// Implemented by every record that belongs to a company (folders, media, analyses,
/// collections, persons, users).
pub trait CompanyOwned {
    /// The owning company.
    fn owner_company(&self) -> Uuid;
}

/// What a principal may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// ADMIN and OPERATOR: every company.
    All,
    /// Company roles: only this company.
    Company(Uuid),
}

impl Scope {
    /// The scope of a caller.
    pub fn of(p: &Principal) -> Scope {
        match (p.role, p.company_id) {
            (Role::Admin | Role::Operator, _) => Scope::All,
            (_, Some(c)) => Scope::Company(c),
            // A company role without a company sees nothing (cannot normally happen).
            (_, None) => Scope::Company(Uuid::nil()),
        }
    }

    /// Whether objects of `company` are visible.
    pub fn allows(&self, company: Uuid) -> bool {
        match self {
            Scope::All => true,
            Scope::Company(c) => *c == company,
        }
    }

    /// Passes a loaded object through the scope: 404 (`what` not found) when it belongs to
    /// another company.
    pub fn check<T: CompanyOwned>(&self, obj: T, what: &str) -> Result<T, ApiError> {
        if self.allows(obj.owner_company()) {
            Ok(obj)
        } else {
            Err(ApiError::not_found(format!("{what} not found")))
        }
    }

    /// Keeps only the visible objects of a list.
    pub fn filter<T: CompanyOwned>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .filter(|o| self.allows(o.owner_company()))
            .collect()
    }
}
