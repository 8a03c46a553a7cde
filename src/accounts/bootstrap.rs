//! First start: make sure an ADMIN exists so that a fresh install can be used at all.
//!
//! With no user in the store:
//! * `FACELITE_ADMIN_EMAIL` and `FACELITE_ADMIN_PASSWORD` both set: that ADMIN is created;
//! * otherwise a 24-character random password is generated for `FACELITE_ADMIN_EMAIL` (default
//!   [`DEFAULT_ADMIN_EMAIL`]) and written with the email to `<data-dir>/initial-admin-password`
//!   (mode 0600); stderr says where the file is, never the password.
//!
//! With users present nothing happens, so the variables can stay set.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::accounts::principal::{Role, UserType};
use crate::accounts::tenant::Scope;
use crate::accounts::users::{self, UserDraft};
use crate::accounts::{password, AccountsError};
use crate::config::Config;
use crate::store::Store;

/// Email of the generated first ADMIN when `FACELITE_ADMIN_EMAIL` is not set.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";
/// File name of the generated password in the data dir.
pub const PASSWORD_FILE: &str = "initial-admin-password";

/// With an empty store, creates the first ADMIN (from `FACELITE_ADMIN_EMAIL` /
/// `FACELITE_ADMIN_PASSWORD`, or a generated password written to
/// `<data-dir>/initial-admin-password`, mode 0600). Does nothing when users exist.
pub fn ensure_initial_admin(store: &Store, config: &Config) -> Result<(), AccountsError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    ensure_with(
        store,
        config,
        env("FACELITE_ADMIN_EMAIL"),
        env("FACELITE_ADMIN_PASSWORD"),
    )
}

/// [`ensure_initial_admin`] with the environment passed in (testable).
pub fn ensure_with(
    store: &Store,
    config: &Config,
    email: Option<String>,
    given_password: Option<String>,
) -> Result<(), AccountsError> {
    if !users::none_exist(store)? {
        return Ok(());
    }
    let email = email.unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_string());
    let (pw, generated) = match given_password {
        Some(p) => (p, false),
        None => (password::generate()?, true),
    };
    password::validate_new(&pw)?;
    let draft = UserDraft {
        email: Some(email.clone()),
        user_type: Some(UserType {
            role: Role::Admin,
            implies_admin: false,
            implies_service: false,
        }),
        ..UserDraft::default()
    };
    let hash = password::hash(&pw, config.auth.pbkdf2_iterations)?;
    if generated {
        // Written before the user exists: if this fails, the next start tries again.
        let path = config.server.data_dir.join(PASSWORD_FILE);
        write_secret_file(&path, &format!("email: {email}\npassword: {pw}\n"))?;
        users::create(store, &Scope::All, &draft, hash, |_| Ok(()))?;
        eprintln!(
            "facelite: created the first ADMIN user {email}; its generated password is in {} \
             (mode 0600). Log in, change it, and delete the file.",
            path.display()
        );
    } else {
        users::create(store, &Scope::All, &draft, hash, |_| Ok(()))?;
        eprintln!("facelite: created the first ADMIN user {email} from FACELITE_ADMIN_EMAIL/FACELITE_ADMIN_PASSWORD");
    }
    Ok(())
}

/// Writes `contents` to `path` readable by the owner only (0600 from creation on, also when
/// the file already exists).
fn write_secret_file(path: &Path, contents: &str) -> Result<(), AccountsError> {
    let err = |source| AccountsError::File {
        path: PathBuf::from(path),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    f.write_all(contents.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreRead;

    fn setup() -> (tempfile::TempDir, Store, Config) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("store");
        let mut config = Config::default();
        config.server.data_dir = dir.path().to_path_buf();
        config.auth.pbkdf2_iterations = 1000;
        (dir, store, config)
    }

    #[test]
    fn creates_admin_from_given_credentials_once() {
        let (dir, store, config) = setup();
        ensure_with(
            &store,
            &config,
            Some("boss@x.test".into()),
            Some("pass-word-1".into()),
        )
        .expect("bootstrap");
        let u = store
            .read(|tx| users::find_by_email(tx, "BOSS@x.test"))
            .expect("read")
            .expect("admin exists");
        assert_eq!(u.user_type, Role::Admin);
        assert!(password::verify("pass-word-1", &u.password));
        assert!(!dir.path().join(PASSWORD_FILE).exists());
        // Second start: nothing changes.
        ensure_with(
            &store,
            &config,
            Some("other@x.test".into()),
            Some("pass-word-2".into()),
        )
        .expect("bootstrap again");
        assert!(store
            .read(|tx| users::find_by_email(tx, "other@x.test"))
            .expect("read")
            .is_none());
    }

    #[test]
    fn generates_a_password_file_with_mode_0600() {
        let (dir, store, config) = setup();
        ensure_with(&store, &config, None, None).expect("bootstrap");
        let path = dir.path().join(PASSWORD_FILE);
        let text = std::fs::read_to_string(&path).expect("password file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let pw = text
            .lines()
            .find_map(|l| l.strip_prefix("password: "))
            .expect("password line");
        assert!(text.contains(&format!("email: {DEFAULT_ADMIN_EMAIL}")));
        let u = store
            .read(|tx| users::find_by_email(tx, DEFAULT_ADMIN_EMAIL))
            .expect("read")
            .expect("admin");
        assert!(password::verify(pw, &u.password));
        assert!(
            store
                .read(|tx| tx.list_scoped::<users::User>(&Scope::All))
                .expect("list")
                .len()
                == 1
        );
    }
}
