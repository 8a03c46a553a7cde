//! Who may administer companies and users. Reading is governed by the
//! tenant scope alone (every role reads what its scope shows); these checks decide writes:
//!
//! | action                   | ADMIN | CLIENT_ADMIN                     | anyone else |
//! |--------------------------|-------|----------------------------------|-------------|
//! | create/delete company    | yes   | no                               | no          |
//! | rename company           | yes   | own company                      | no          |
//! | create user              | yes   | own company, company roles only  | no          |
//! | update user              | yes   | own company, company roles only  | self: names and password only |
//! | delete user              | yes, not self | own company, not self    | no          |
//! | change user meta_data    | yes   | own company                      | self        |
//!
//! OPERATOR and CLIENT_OPERATOR are read-only here. A refusal is 403, code 9; an object
//! outside the scope never reaches these checks (it is 404 before).

use uuid::Uuid;

use crate::accounts::principal::Principal;
use crate::accounts::principal::Role;
use crate::accounts::users::User;
use crate::accounts::AccountsError;

fn deny(p: &Principal, what: &str) -> AccountsError {
    AccountsError::Forbidden(format!("your role ({}) may not {what}", p.role))
}

fn is_admin(p: &Principal) -> bool {
    p.role == Role::Admin
}

fn admin_of(p: &Principal, company: Option<Uuid>) -> bool {
    p.is_company_admin() && p.company_id.is_some() && p.company_id == company
}

/// Creating a company.
pub fn create_company(p: &Principal) -> Result<(), AccountsError> {
    if is_admin(p) {
        Ok(())
    } else {
        Err(deny(p, "create companies"))
    }
}

/// Renaming company `company`.
pub fn update_company(p: &Principal, company: Uuid) -> Result<(), AccountsError> {
    if is_admin(p) || admin_of(p, Some(company)) {
        Ok(())
    } else {
        Err(deny(p, "change companies"))
    }
}

/// Deleting a company.
pub fn delete_company(p: &Principal) -> Result<(), AccountsError> {
    if is_admin(p) {
        Ok(())
    } else {
        Err(deny(p, "delete companies"))
    }
}

/// Creating `new`.
pub fn create_user(p: &Principal, new: &User) -> Result<(), AccountsError> {
    if is_admin(p) {
        return Ok(());
    }
    if !p.is_company_admin() {
        return Err(deny(p, "create users"));
    }
    if new.user_type.is_staff() {
        return Err(deny(p, &format!("create {} users", new.user_type)));
    }
    if !admin_of(p, new.company_id) {
        return Err(deny(p, "create users of another company"));
    }
    Ok(())
}

fn same_privileges(a: &User, b: &User) -> bool {
    a.email == b.email
        && a.user_type == b.user_type
        && a.company_id == b.company_id
        && a.is_admin == b.is_admin
        && a.is_service == b.is_service
        && a.can_start_analysis_quality == b.can_start_analysis_quality
        && a.can_start_analysis_biometry == b.can_start_analysis_biometry
        && a.can_start_analysis_collection == b.can_start_analysis_collection
}

/// Changing `old` into `new`.
pub fn update_user(p: &Principal, old: &User, new: &User) -> Result<(), AccountsError> {
    if is_admin(p) {
        return Ok(());
    }
    if p.is_company_admin() && admin_of(p, old.company_id) {
        if new.user_type.is_staff() {
            return Err(deny(p, &format!("make users {}", new.user_type)));
        }
        if !admin_of(p, new.company_id) {
            return Err(deny(p, "move users to another company"));
        }
        return Ok(());
    }
    if p.user_id == old.user_id {
        if same_privileges(old, new) {
            return Ok(());
        }
        return Err(deny(
            p,
            "change its own email, role, company or permissions (names and password only)",
        ));
    }
    Err(deny(p, "change other users"))
}

/// A cheap pre-check before expensive work (password hashing) on an update of `target`:
/// whether the caller may change that user at all.
pub fn edit_user_at_all(p: &Principal, target: &User) -> Result<(), AccountsError> {
    if is_admin(p) || admin_of(p, target.company_id) || p.user_id == target.user_id {
        Ok(())
    } else {
        Err(deny(p, "change other users"))
    }
}

/// Deleting `target`.
pub fn delete_user(p: &Principal, target: &User) -> Result<(), AccountsError> {
    if p.user_id == target.user_id {
        return Err(AccountsError::Forbidden(
            "you may not delete your own user".into(),
        ));
    }
    if is_admin(p) || admin_of(p, target.company_id) {
        Ok(())
    } else {
        Err(deny(p, "delete users"))
    }
}

/// Changing the metadata of `target`.
pub fn change_user_meta(p: &Principal, target: &User) -> Result<(), AccountsError> {
    if is_admin(p) || admin_of(p, target.company_id) || p.user_id == target.user_id {
        Ok(())
    } else {
        Err(deny(p, "change other users' metadata"))
    }
}
