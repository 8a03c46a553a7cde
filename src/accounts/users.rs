//! Users: login identity, role, company and analysis permissions.
//!
//! Permission checks are the caller's job (`accounts::permissions`, passed in as `check`
//! closures so they run inside the same write transaction as the change); these functions
//! enforce the tenant scope and the data rules: unique emails, a company for company roles and
//! none for ADMIN/OPERATOR, `CLIENT_ADMIN` = `CLIENT` + `is_admin`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::accounts::companies::Company;
use crate::accounts::password::PasswordHash;
use crate::accounts::principal::{Principal, Role, UserType};
use crate::accounts::session;
use crate::accounts::tenant::{CompanyOwned, Scope};
use crate::accounts::{now_secs, AccountsError};
use crate::store::{tables, CompanyScoped, Record, Store, StoreError, StoreRead, WriteTx};

/// Longest email, characters (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest first/last/middle name, characters.
pub const MAX_NAME_CHARS: usize = 256;

/// A user record. The password hash never leaves the store: use [`User::to_json`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub user_id: Uuid,
    /// The login, as given (looked up case-insensitively).
    pub email: String,
    /// Normalised: a CLIENT with `is_admin` is stored as `ClientAdmin`.
    pub user_type: Role,
    /// `None` exactly for ADMIN and OPERATOR.
    pub company_id: Option<Uuid>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub middle_name: Option<String>,
    pub is_admin: bool,
    pub is_service: bool,
    pub can_start_analysis_quality: bool,
    pub can_start_analysis_biometry: bool,
    pub can_start_analysis_collection: bool,
    pub password: PasswordHash,
    #[serde(default)]
    pub meta_data: Map<String, Value>,
    /// UNIX seconds.
    pub time_created: i64,
    /// UNIX seconds.
    pub time_updated: i64,
}

impl Record for User {
    const TABLE: tables::Table = tables::USERS;
    const WHAT: &'static str = "user";
    const VERSION: u32 = 1;
    type Tenancy = CompanyScoped;

    fn key(&self) -> String {
        self.user_id.to_string()
    }
}

/// ADMIN and OPERATOR users belong to no company; they are indexed under the nil UUID, which
/// no company scope can equal, so only `Scope::All` sees them.
impl CompanyOwned for User {
    fn owner_company(&self) -> Uuid {
        self.company_id.unwrap_or(Uuid::nil())
    }
}

impl User {
    /// The Oz wire object (no password). Both spellings of the analysis permission flags are
    /// emitted, as both occur in the vendor documentation.
    pub fn to_json(&self) -> Value {
        json!({
            "user_id": self.user_id,
            "user_type": self.user_type.as_str(),
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "middle_name": self.middle_name,
            "company_id": self.company_id,
            "is_admin": self.is_admin,
            "is_service": self.is_service,
            "can_start_analysis_quality": self.can_start_analysis_quality,
            "can_start_analysis_biometry": self.can_start_analysis_biometry,
            "can_start_analysis_collection": self.can_start_analysis_collection,
            "can_start_analyze_quality": self.can_start_analysis_quality,
            "can_start_analyze_biometry": self.can_start_analysis_biometry,
            "can_start_analyze_collection": self.can_start_analysis_collection,
            "time_created": self.time_created,
            "time_updated": self.time_updated,
        })
    }

    /// The caller identity of a request made by this user.
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id,
            email: self.email.clone(),
            company_id: self.company_id,
            role: self.user_type,
            is_admin: self.is_admin,
            is_service: self.is_service,
            can_start_analysis_quality: self.can_start_analysis_quality,
            can_start_analysis_biometry: self.can_start_analysis_biometry,
            can_start_analysis_collection: self.can_start_analysis_collection,
        }
    }
}

/// The fields a client sets when creating or updating a user; `None` = not given.
/// `Some(None)` for a nullable field = set to null.
#[derive(Debug, Clone, Default)]
pub struct UserDraft {
    pub email: Option<String>,
    pub password: Option<String>,
    pub user_type: Option<UserType>,
    pub company_id: Option<Option<Uuid>>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub middle_name: Option<Option<String>>,
    pub is_admin: Option<bool>,
    pub is_service: Option<bool>,
    pub can_start_analysis_quality: Option<bool>,
    pub can_start_analysis_biometry: Option<bool>,
    pub can_start_analysis_collection: Option<bool>,
}

fn want_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, AccountsError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AccountsError::Type(format!(
            "field '{key}' must be a string"
        ))),
    }
}

fn want_nullable_str(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<Option<String>>, AccountsError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => {
            if s.chars().count() > MAX_NAME_CHARS {
                return Err(AccountsError::Invalid(format!(
                    "field '{key}' is too long: at most {MAX_NAME_CHARS} characters"
                )));
            }
            Ok(Some(Some(s.clone())))
        }
        Some(_) => Err(AccountsError::Type(format!(
            "field '{key}' must be a string or null"
        ))),
    }
}

fn want_bool(obj: &Map<String, Value>, keys: &[&str]) -> Result<Option<bool>, AccountsError> {
    let mut out = None;
    for key in keys {
        match obj.get(*key) {
            None => {}
            Some(Value::Bool(b)) => out = Some(*b),
            Some(_) => {
                return Err(AccountsError::Type(format!(
                    "field '{key}' must be true or false"
                )))
            }
        }
    }
    Ok(out)
}

impl UserDraft {
    /// Reads a draft from a JSON object body. Unknown fields are ignored (clients echo whole
    /// user objects back); known fields of the wrong type are refused.
    pub fn from_json(body: &Value) -> Result<UserDraft, AccountsError> {
        let Some(obj) = body.as_object() else {
            return Err(AccountsError::Structure(
                "request body must be a JSON object with the user's fields".into(),
            ));
        };
        let user_type = match want_str(obj, "user_type")? {
            None => None,
            Some(s) => Some(Role::parse(&s).ok_or_else(|| {
                AccountsError::Invalid(format!(
                    "user_type {s:?} is unknown; use ADMIN, OPERATOR, CLIENT, CLIENT_ADMIN or CLIENT_OPERATOR"
                ))
            })?),
        };
        let company_id =
            match obj.get("company_id") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(Value::String(s)) => Some(Some(Uuid::parse_str(s).map_err(|_| {
                    AccountsError::Invalid(format!("company_id {s:?} is not a UUID"))
                })?)),
                Some(_) => {
                    return Err(AccountsError::Type(
                        "field 'company_id' must be a UUID string or null".into(),
                    ))
                }
            };
        Ok(UserDraft {
            email: want_str(obj, "email")?,
            password: want_str(obj, "password")?,
            user_type,
            company_id,
            first_name: want_nullable_str(obj, "first_name")?,
            last_name: want_nullable_str(obj, "last_name")?,
            middle_name: want_nullable_str(obj, "middle_name")?,
            is_admin: want_bool(obj, &["is_admin"])?,
            is_service: want_bool(obj, &["is_service"])?,
            can_start_analysis_quality: want_bool(
                obj,
                &["can_start_analyze_quality", "can_start_analysis_quality"],
            )?,
            can_start_analysis_biometry: want_bool(
                obj,
                &["can_start_analyze_biometry", "can_start_analysis_biometry"],
            )?,
            can_start_analysis_collection: want_bool(
                obj,
                &[
                    "can_start_analyze_collection",
                    "can_start_analysis_collection",
                ],
            )?,
        })
    }

    /// Whether the draft touches anything besides the user's own names and password (what a
    /// user may change about themself).
    pub fn touches_privileges(&self) -> bool {
        self.email.is_some()
            || self.user_type.is_some()
            || self.company_id.is_some()
            || self.is_admin.is_some()
            || self.is_service.is_some()
            || self.can_start_analysis_quality.is_some()
            || self.can_start_analysis_biometry.is_some()
            || self.can_start_analysis_collection.is_some()
    }
}

/// Trims and checks an email (the login).
pub fn validate_email(email: &str) -> Result<String, AccountsError> {
    let email = email.trim();
    let bad = |why: &str| AccountsError::Invalid(format!("email {email:?} is not valid: {why}"));
    if email.is_empty() {
        return Err(AccountsError::Invalid("email must not be empty".into()));
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(bad("too long"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains spaces or control characters"));
    }
    match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(email.to_string()),
        _ => Err(bad("expected name@domain")),
    }
}

fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The role and flags a user ends up with, after the `CLIENT_ADMIN` = `CLIENT` + `is_admin`
/// rule and the "no company for ADMIN/OPERATOR" rule.
struct Resolved {
    role: Role,
    is_admin: bool,
    is_service: bool,
}

fn resolve_role(
    draft: &UserDraft,
    current: Option<(Role, bool, bool)>,
) -> Result<Resolved, AccountsError> {
    let (cur_role, cur_admin, cur_service) = current.unwrap_or((Role::Client, false, false));
    let ut = draft.user_type;
    let mut role = ut.map_or(cur_role, |t| t.role);
    let implies_admin = ut.is_some_and(|t| t.implies_admin);
    if implies_admin && draft.is_admin == Some(false) {
        return Err(AccountsError::Invalid(
            "user_type CLIENT_ADMIN contradicts is_admin=false".into(),
        ));
    }
    // A role change resets the admin flag unless it is given again.
    let base_admin = if ut.is_some() {
        role == Role::ClientAdmin
    } else {
        cur_admin
    };
    let is_admin = implies_admin || draft.is_admin.unwrap_or(base_admin);
    let is_service =
        ut.is_some_and(|t| t.implies_service) || draft.is_service.unwrap_or(cur_service);
    match role {
        Role::Client | Role::ClientAdmin => {
            role = if is_admin {
                Role::ClientAdmin
            } else {
                Role::Client
            };
        }
        _ if is_admin => {
            return Err(AccountsError::Invalid(format!(
                "is_admin applies only to CLIENT users (making them CLIENT_ADMIN), not to {role}"
            )));
        }
        _ => {}
    }
    Ok(Resolved {
        role,
        is_admin,
        is_service,
    })
}

/// Picks the company of a user: none for ADMIN/OPERATOR, a visible existing one otherwise.
fn resolve_company(
    tx: &WriteTx,
    scope: &Scope,
    role: Role,
    wanted: Option<Uuid>,
) -> Result<Option<Uuid>, AccountsError> {
    if role.is_staff() {
        if wanted.is_some() {
            return Err(AccountsError::Invalid(format!(
                "{role} users belong to no company; omit company_id"
            )));
        }
        return Ok(None);
    }
    let Some(cid) = wanted else {
        return Err(AccountsError::Structure(format!(
            "field 'company_id' is required for {role} users"
        )));
    };
    let company: Company = tx.get_scoped(scope, &cid.to_string())?;
    Ok(Some(company.company_id))
}

fn check_email_free(tx: &WriteTx, email: &str, except: Option<Uuid>) -> Result<(), AccountsError> {
    if let Some(owner) = tx.index_get(tables::USERS_BY_EMAIL, &email_key(email))? {
        if except.map(|u| u.to_string()) != Some(owner) {
            return Err(AccountsError::Conflict(format!(
                "a user with email {email} already exists"
            )));
        }
    }
    Ok(())
}

/// Creates a user from `draft` in `scope`. `password` is the already computed hash of
/// `draft.password` (hashing is slow, so it happens before the write transaction); `check`
/// runs inside the transaction with the user about to be stored (the permission check).
pub fn create(
    store: &Store,
    scope: &Scope,
    draft: &UserDraft,
    password: PasswordHash,
    check: impl FnOnce(&User) -> Result<(), AccountsError>,
) -> Result<User, AccountsError> {
    let email = validate_email(
        draft
            .email
            .as_deref()
            .ok_or_else(|| AccountsError::Structure("field 'email' is required".into()))?,
    )?;
    let r = resolve_role(draft, None)?;
    let now = now_secs();
    store.write(|tx| {
        check_email_free(tx, &email, None)?;
        let company_id = resolve_company(tx, scope, r.role, draft.company_id.flatten())?;
        let user = User {
            user_id: Uuid::new_v4(),
            email: email.clone(),
            user_type: r.role,
            company_id,
            first_name: draft.first_name.clone().flatten(),
            last_name: draft.last_name.clone().flatten(),
            middle_name: draft.middle_name.clone().flatten(),
            is_admin: r.is_admin,
            is_service: r.is_service,
            can_start_analysis_quality: draft.can_start_analysis_quality.unwrap_or(true),
            can_start_analysis_biometry: draft.can_start_analysis_biometry.unwrap_or(true),
            can_start_analysis_collection: draft.can_start_analysis_collection.unwrap_or(true),
            password,
            meta_data: Map::new(),
            time_created: now,
            time_updated: now,
        };
        check(&user)?;
        tx.put_scoped(scope, &user)?;
        tx.index_put(tables::USERS_BY_EMAIL, &email_key(&email), &user.key())?;
        Ok(user)
    })
}

/// Applies `draft` to the user `id` visible in `scope`. `check(old, new)` runs inside the
/// transaction (the permission check). A new password hash ends all of the user's sessions.
pub fn update(
    store: &Store,
    scope: &Scope,
    id: &str,
    draft: &UserDraft,
    password: Option<PasswordHash>,
    check: impl FnOnce(&User, &User) -> Result<(), AccountsError>,
) -> Result<User, AccountsError> {
    let email = draft.email.as_deref().map(validate_email).transpose()?;
    store.write(|tx| {
        let old: User = tx.get_scoped(scope, id)?;
        let r = resolve_role(draft, Some((old.user_type, old.is_admin, old.is_service)))?;
        let wanted_company = match draft.company_id {
            Some(c) => c,
            None if r.role.is_staff() => None,
            None => old.company_id,
        };
        let company_id = resolve_company(tx, scope, r.role, wanted_company)?;
        let mut user = old.clone();
        if let Some(e) = &email {
            check_email_free(tx, e, Some(old.user_id))?;
            user.email = e.clone();
        }
        user.user_type = r.role;
        user.is_admin = r.is_admin;
        user.is_service = r.is_service;
        user.company_id = company_id;
        if let Some(v) = &draft.first_name {
            user.first_name = v.clone();
        }
        if let Some(v) = &draft.last_name {
            user.last_name = v.clone();
        }
        if let Some(v) = &draft.middle_name {
            user.middle_name = v.clone();
        }
        if let Some(v) = draft.can_start_analysis_quality {
            user.can_start_analysis_quality = v;
        }
        if let Some(v) = draft.can_start_analysis_biometry {
            user.can_start_analysis_biometry = v;
        }
        if let Some(v) = draft.can_start_analysis_collection {
            user.can_start_analysis_collection = v;
        }
        let password_changed = password.is_some();
        if let Some(h) = password {
            user.password = h;
        }
        user.time_updated = now_secs();
        check(&old, &user)?;
        if old.user_type == Role::Admin && user.user_type != Role::Admin {
            refuse_last_admin(tx, &old, "demoted")?;
        }
        tx.put_scoped(scope, &user)?;
        if email_key(&old.email) != email_key(&user.email) {
            tx.index_remove(tables::USERS_BY_EMAIL, &email_key(&old.email))?;
            tx.index_put(tables::USERS_BY_EMAIL, &email_key(&user.email), &user.key())?;
        }
        if password_changed || old.is_service != user.is_service {
            session::end_all_for_user(tx, user.user_id)?;
        }
        Ok(user)
    })
}

/// Changes the metadata of the user `id` visible in `scope` with `f`; `check` runs first.
pub fn modify_meta(
    store: &Store,
    scope: &Scope,
    id: &str,
    check: impl FnOnce(&User) -> Result<(), AccountsError>,
    f: impl FnOnce(&mut Map<String, Value>),
) -> Result<User, AccountsError> {
    store.write(|tx| {
        let mut user: User = tx.get_scoped(scope, id)?;
        check(&user)?;
        f(&mut user.meta_data);
        user.time_updated = now_secs();
        tx.put_scoped(scope, &user)?;
        Ok(user)
    })
}

/// Sets a new password hash for the user with `email` (admin CLI) and ends their sessions.
pub fn reset_password(
    store: &Store,
    email: &str,
    password: PasswordHash,
) -> Result<User, AccountsError> {
    store.write(|tx| {
        let mut user = find_by_email(tx, email)?.ok_or_else(|| {
            AccountsError::Store(StoreError::NotFound {
                what: "user",
                key: email.to_string(),
            })
        })?;
        user.password = password;
        user.time_updated = now_secs();
        tx.put_scoped(&Scope::All, &user)?;
        session::end_all_for_user(tx, user.user_id)?;
        Ok(user)
    })
}

/// Replaces a weaker password hash with a stronger one of the same password after a
/// successful login (sessions stay); does nothing if the password changed meanwhile.
pub fn upgrade_password_hash(
    store: &Store,
    id: Uuid,
    old: &PasswordHash,
    new: PasswordHash,
) -> Result<(), AccountsError> {
    store.write(|tx| {
        if let Some(mut user) = tx.find_scoped::<User>(&Scope::All, &id.to_string())? {
            if user.password == *old {
                user.password = new;
                tx.put_scoped(&Scope::All, &user)?;
            }
        }
        Ok(())
    })
}

/// Refuses (409) to take away the ADMIN role of `admin` when no other ADMIN exists: without
/// one nobody could manage companies and staff any more (short of the offline CLI).
fn refuse_last_admin(tx: &WriteTx, admin: &User, action: &str) -> Result<(), AccountsError> {
    let others = tx
        .list_scoped::<User>(&Scope::All)?
        .into_iter()
        .any(|u| u.user_type == Role::Admin && u.user_id != admin.user_id);
    if others {
        Ok(())
    } else {
        Err(AccountsError::Conflict(format!(
            "{} is the last ADMIN user and cannot be {action}; create another ADMIN first",
            admin.email
        )))
    }
}

/// Deletes the user `id` visible in `scope` (after `check`), with their sessions.
pub fn delete(
    store: &Store,
    scope: &Scope,
    id: &str,
    check: impl FnOnce(&User) -> Result<(), AccountsError>,
) -> Result<User, AccountsError> {
    store.write(|tx| {
        let user: User = tx.get_scoped(scope, id)?;
        check(&user)?;
        if user.user_type == Role::Admin {
            refuse_last_admin(tx, &user, "deleted")?;
        }
        tx.delete_scoped::<User>(scope, id)?;
        tx.index_remove(tables::USERS_BY_EMAIL, &email_key(&user.email))?;
        session::end_all_for_user(tx, user.user_id)?;
        Ok(user)
    })
}

/// The user with this login, whoever it belongs to (login and the admin CLI only).
pub fn find_by_email(tx: &impl StoreRead, email: &str) -> Result<Option<User>, StoreError> {
    match tx.index_get(tables::USERS_BY_EMAIL, &email_key(email))? {
        Some(id) => tx.find_scoped(&Scope::All, &id),
        None => Ok(None),
    }
}

/// Filters of the user list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of email, first, last or middle name.
    pub search_text: Option<String>,
    pub company_id: Option<Uuid>,
    pub user_type: Option<Role>,
}

/// Users visible in `scope` that pass `filter`, oldest first.
pub fn list(store: &Store, scope: &Scope, filter: &UserFilter) -> Result<Vec<User>, StoreError> {
    let needle = filter
        .search_text
        .as_deref()
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let mut users: Vec<User> = store.list_scoped(scope)?;
    users.retain(|u| {
        filter.company_id.is_none_or(|c| u.company_id == Some(c))
            && filter.user_type.is_none_or(|t| u.user_type == t)
            && needle.as_ref().is_none_or(|n| {
                [
                    Some(&u.email),
                    u.first_name.as_ref(),
                    u.last_name.as_ref(),
                    u.middle_name.as_ref(),
                ]
                .into_iter()
                .flatten()
                .any(|f| f.to_lowercase().contains(n))
            })
    });
    users.sort_by(|a, b| (a.time_created, &a.email).cmp(&(b.time_created, &b.email)));
    Ok(users)
}

/// Whether no user exists yet (first start).
pub fn none_exist(store: &Store) -> Result<bool, StoreError> {
    Ok(!store.read(|tx| tx.any_with_prefix(tables::USERS, ""))?)
}
