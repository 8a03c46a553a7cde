//! Tenant isolation, in one place: every read and write of a company-owned object passes
//! through a [`Scope`]. An object of another company is answered exactly like a missing one
//! (404, code 10), so ids of other tenants cannot even be probed.
//!
//! # The mechanism (read this before adding a company-owned record type)
//!
//! A record type that belongs to a company implements [`CompanyOwned`] and
//! `store::Record` with `type Tenancy = store::CompanyScoped`. The store then offers it *only*
//! through calls that take a `&Scope`:
//!
//! * reads: `get_scoped` (404 outside the scope), `find_scoped` (`None`), `list_scoped`
//!   (a company scope reads through the tenant index and never touches other companies'
//!   records) -- on `Store` for one-shot reads, or on a `ReadTx`/`WriteTx` (trait
//!   `store::StoreRead`) inside a transaction;
//! * writes: `WriteTx::put_scoped` (refused when the new *or* the replaced record's company is
//!   outside the scope; keeps the tenant index) and `WriteTx::delete_scoped`.
//!
//! There is no unscoped call for such types, so a handler cannot forget the check. Code that
//! legitimately works across tenants (login, workers, the admin CLI) passes `&Scope::All`
//! explicitly, which is easy to find in review (`grep 'Scope::All'`).
//!
//! ```ignore
//! use crate::accounts::tenant::{CompanyOwned, Scope};
//! use crate::store::{tables, CompanyScoped, Record, StoreRead};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! pub struct Folder { pub folder_id: Uuid, pub company_id: Uuid, /* ... */ }
//!
//! impl Record for Folder {
//!     const TABLE: tables::Table = tables::FOLDERS;   // declared in store/tables.rs + ALL
//!     const WHAT: &'static str = "folder";
//!     const VERSION: u32 = 1;
//!     type Tenancy = CompanyScoped;
//!     fn key(&self) -> String { self.folder_id.to_string() }
//! }
//! impl CompanyOwned for Folder {
//!     fn owner_company(&self) -> Uuid { self.company_id }
//! }
//!
//! async fn get_folder(ctx: Ctx) -> HandlerResult {
//!     let p = accounts::authenticate(&ctx).await?;
//!     let scope = Scope::of(&p);
//!     let folder: Folder = ctx.app.store.get_scoped(&scope, ctx.param(0)?)?; // 404 if B's
//!     // several records atomically:
//!     ctx.app.store.write(|tx| {
//!         let mut f: Folder = tx.get_scoped(&scope, &id)?;
//!         f.time_updated = now;
//!         tx.put_scoped(&scope, &f)?;
//!         tx.put(&job)?;                       // a Global record (type Tenancy = Global)
//!         Ok::<_, ApiError>(())
//!     })?;
//!     ...
//! }
//! ```
//!
//! The analysis flow's records (folders, media, stored files, analyses) live in their own
//! tables (`analysis::repo`) and follow the same rules through `analysis::access::ScopedFlow`,
//! the only request-facing way to them: `get` (404 outside the scope), `folders` (through the
//! company index), `get_many`/`media_of`/`analyses_of` (filtered), and scoped writes.
//!
//! Records created by a company user take the user's `company_id`; ADMIN/OPERATOR have no
//! company and must name one (for example the folder's company). Users without a company
//! (ADMIN, OPERATOR) are owned by the nil UUID, which no company scope matches.

use uuid::Uuid;

use crate::accounts::principal::{Principal, Role};

/// Implemented by every record that belongs to a company (folders, media, analyses,
/// collections, persons, users).
pub trait CompanyOwned {
    /// The owning company.
    fn owner_company(&self) -> Uuid;
}

/// A borrowed record belongs where the record does (scope checks run on lists of references).
impl<T: CompanyOwned> CompanyOwned for &T {
    fn owner_company(&self) -> Uuid {
        (**self).owner_company()
    }
}

/// `CompanyOwned` for record structs whose `company_id` field names the owner.
macro_rules! company_owned_by_field {
    ($($t:ty),*) => {$(
        impl $crate::accounts::tenant::CompanyOwned for $t {
            fn owner_company(&self) -> uuid::Uuid {
                self.company_id
            }
        }
    )*};
}
pub(crate) use company_owned_by_field;

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

    /// Keeps only the visible objects of a list.
    pub fn filter<T: CompanyOwned>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .filter(|o| self.allows(o.owner_company()))
            .collect()
    }
}
