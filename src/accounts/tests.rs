//! Accounts rules against a real store in a temp dir (HTTP behaviour is covered by the
//! integration tests).

use uuid::Uuid;

use crate::accounts::companies;
use crate::accounts::password;
use crate::accounts::permissions;
use crate::accounts::principal::Role;
use crate::accounts::session::{self, Session};
use crate::accounts::tenant::Scope;
use crate::accounts::users::{self, User, UserDraft};
use crate::accounts::{now_ms, AccountsError};
use crate::config::AuthConfig;
use crate::store::{Store, StoreError, StoreRead};

fn temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    (dir, store)
}

fn draft(email: &str, role: &str, company: Option<Uuid>) -> UserDraft {
    UserDraft {
        email: Some(email.into()),
        user_type: Role::parse(role),
        company_id: Some(company),
        ..UserDraft::default()
    }
}

fn add_user(store: &Store, email: &str, role: &str, company: Option<Uuid>) -> User {
    let h = password::hash("password-1", 10).expect("hash");
    users::create(store, &Scope::All, &draft(email, role, company), h, |_| {
        Ok(())
    })
    .expect("create user")
}

fn cfg() -> AuthConfig {
    AuthConfig {
        session_ttl_secs: 900,
        session_longlive_ttl_secs: 5 * 365 * 24 * 3600,
        ..AuthConfig::default()
    }
}

#[test]
fn emails_are_unique_case_insensitively() {
    let (_d, store) = temp();
    let c = companies::create(&store, "Acme").expect("company");
    add_user(&store, "Ann@Acme.test", "CLIENT", Some(c.company_id));
    let h = password::hash("password-1", 10).expect("hash");
    let r = users::create(
        &store,
        &Scope::All,
        &draft("ann@acme.TEST", "CLIENT", Some(c.company_id)),
        h,
        |_| Ok(()),
    );
    assert!(matches!(r, Err(AccountsError::Conflict(_))), "{r:?}");
    let found = store
        .read(|tx| users::find_by_email(tx, "ANN@acme.test"))
        .expect("read")
        .expect("found");
    assert_eq!(found.email, "Ann@Acme.test");
}

#[test]
fn roles_and_companies_follow_the_rules() {
    let (_d, store) = temp();
    let c = companies::create(&store, "Acme").expect("company");
    let ca = add_user(&store, "ca@acme.test", "CLIENT ADMIN", Some(c.company_id));
    assert_eq!((ca.user_type, ca.is_admin), (Role::ClientAdmin, true));
    let svc = add_user(
        &store,
        "svc@acme.test",
        "CLIENT_SERVICE",
        Some(c.company_id),
    );
    assert_eq!((svc.user_type, svc.is_service), (Role::Client, true));
    let h = || password::hash("password-1", 10).expect("hash");
    // Staff users have no company.
    let r = users::create(
        &store,
        &Scope::All,
        &draft("a@x.test", "ADMIN", Some(c.company_id)),
        h(),
        |_| Ok(()),
    );
    assert!(matches!(r, Err(AccountsError::Invalid(_))), "{r:?}");
    // Company roles need one, and it must exist.
    let r = users::create(
        &store,
        &Scope::All,
        &draft("b@x.test", "CLIENT", None),
        h(),
        |_| Ok(()),
    );
    assert!(matches!(r, Err(AccountsError::Structure(_))), "{r:?}");
    let r = users::create(
        &store,
        &Scope::All,
        &draft("b@x.test", "CLIENT", Some(Uuid::new_v4())),
        h(),
        |_| Ok(()),
    );
    assert!(
        matches!(
            r,
            Err(AccountsError::Store(StoreError::NotFound {
                what: "company",
                ..
            }))
        ),
        "{r:?}"
    );
    // is_admin only for clients.
    let mut d = draft("c@x.test", "OPERATOR", None);
    d.is_admin = Some(true);
    let r = users::create(&store, &Scope::All, &d, h(), |_| Ok(()));
    assert!(matches!(r, Err(AccountsError::Invalid(_))), "{r:?}");
    // is_admin on a CLIENT makes a CLIENT_ADMIN; clearing it demotes.
    let mut d = draft("d@x.test", "CLIENT", Some(c.company_id));
    d.is_admin = Some(true);
    let u = users::create(&store, &Scope::All, &d, h(), |_| Ok(())).expect("create");
    assert_eq!(u.user_type, Role::ClientAdmin);
    let demote = UserDraft {
        is_admin: Some(false),
        ..UserDraft::default()
    };
    let u = users::update(
        &store,
        &Scope::All,
        &u.user_id.to_string(),
        &demote,
        None,
        |_, _| Ok(()),
    )
    .expect("update");
    assert_eq!((u.user_type, u.is_admin), (Role::Client, false));
}

#[test]
fn company_scope_hides_other_companies_users() {
    let (_d, store) = temp();
    let a = companies::create(&store, "A").expect("a");
    let b = companies::create(&store, "B").expect("b");
    let ua = add_user(&store, "ua@a.test", "CLIENT", Some(a.company_id));
    let ub = add_user(&store, "ub@b.test", "CLIENT", Some(b.company_id));
    let admin = add_user(&store, "root@x.test", "ADMIN", None);
    let sa = Scope::of(&ua.principal());
    assert!(store
        .get_scoped::<User>(&sa, &ub.user_id.to_string())
        .is_err());
    assert!(store
        .get_scoped::<User>(&sa, &admin.user_id.to_string())
        .is_err());
    let listed = users::list(&store, &sa, &Default::default()).expect("list");
    assert_eq!(
        listed.iter().map(|u| u.user_id).collect::<Vec<_>>(),
        vec![ua.user_id]
    );
    let cs = companies::list(&store, &sa, None).expect("companies");
    assert_eq!(
        cs.iter().map(|c| c.company_id).collect::<Vec<_>>(),
        vec![a.company_id]
    );
    // A company with users cannot be deleted; an empty one can.
    assert!(matches!(
        companies::delete(&store, &Scope::All, &b.company_id.to_string()),
        Err(AccountsError::Conflict(_))
    ));
    users::delete(&store, &Scope::All, &ub.user_id.to_string(), |_| Ok(())).expect("delete user");
    companies::delete(&store, &Scope::All, &b.company_id.to_string()).expect("delete company");
}

#[test]
fn sessions_authenticate_expire_and_slide() {
    let (_d, store) = temp();
    let u = add_user(&store, "root@x.test", "ADMIN", None);
    let cfg = cfg();
    let issued = session::login(&store, &cfg, &u).expect("login");
    assert_eq!(issued.access_token.len(), 64);
    // Only hashes are stored.
    let s: Session = store
        .get(&issued.session.session_id.to_string())
        .expect("get")
        .expect("session");
    assert_ne!(s.access_hash, issued.access_token);
    assert_eq!(
        session::authenticate_token(&store, &cfg, &issued.access_token)
            .expect("auth")
            .user_id,
        u.user_id
    );
    assert!(matches!(
        session::authenticate_token(&store, &cfg, &issued.expire_token),
        Err(AccountsError::UnknownToken)
    ));
    assert!(matches!(
        session::authenticate_token(&store, &cfg, "nope"),
        Err(AccountsError::UnknownToken)
    ));
    // Pretend the expiry is near: a request pushes it to now + TTL.
    let mut near = s.clone();
    near.expires_ms = now_ms() + 5_000;
    store.write(|tx| tx.put(&near)).expect("write");
    session::authenticate_token(&store, &cfg, &issued.access_token).expect("auth");
    let slid: Session = store
        .get(&s.session_id.to_string())
        .expect("get")
        .expect("session");
    assert!(
        slid.expires_ms >= now_ms() + 890_000,
        "expiry slid to now + TTL"
    );
    // Past expiry: expired, and no request revives it.
    let mut dead = slid.clone();
    dead.expires_ms = now_ms() - 1;
    store.write(|tx| tx.put(&dead)).expect("write");
    for _ in 0..2 {
        assert!(matches!(
            session::authenticate_token(&store, &cfg, &issued.access_token),
            Err(AccountsError::TokenExpired)
        ));
    }
}

#[test]
fn service_users_get_the_long_lived_ttl() {
    let (_d, store) = temp();
    let c = companies::create(&store, "A").expect("a");
    let svc = add_user(&store, "svc@a.test", "CLIENT SERVICE", Some(c.company_id));
    let regular = add_user(&store, "r@a.test", "CLIENT", Some(c.company_id));
    let cfg = cfg();
    let now = now_ms() / 1000;
    let s = session::login(&store, &cfg, &svc).expect("login");
    let five_years = 5 * 365 * 24 * 3600;
    let d = s.session.expire_date() as u64;
    assert!(
        d >= now + five_years - 5 && d <= now + five_years + 5,
        "{d}"
    );
    let r = session::login(&store, &cfg, &regular).expect("login");
    let d = r.session.expire_date() as u64;
    assert!(d >= now + 895 && d <= now + 905, "{d}");
}

#[test]
fn refresh_rotates_and_the_old_pair_dies_on_first_use_of_the_new() {
    let (_d, store) = temp();
    let u = add_user(&store, "root@x.test", "ADMIN", None);
    let cfg = cfg();
    let old = session::login(&store, &cfg, &u).expect("login");
    let (new, _) = session::refresh(&store, &cfg, u.user_id, &old.expire_token).expect("refresh");
    assert_ne!(new.access_token, old.access_token);
    // Old pair still works (more than once) until the new one is used.
    for _ in 0..2 {
        session::authenticate_token(&store, &cfg, &old.access_token).expect("old still valid");
    }
    session::authenticate_token(&store, &cfg, &new.access_token).expect("new works");
    assert!(matches!(
        session::authenticate_token(&store, &cfg, &old.access_token),
        Err(AccountsError::UnknownToken)
    ));
    assert!(matches!(
        session::refresh(&store, &cfg, u.user_id, &old.expire_token),
        Err(AccountsError::SessionNotFound)
    ));
    session::authenticate_token(&store, &cfg, &new.access_token).expect("new keeps working");
}

#[test]
fn refreshing_twice_replaces_the_unused_successor() {
    let (_d, store) = temp();
    let u = add_user(&store, "root@x.test", "ADMIN", None);
    let cfg = cfg();
    let old = session::login(&store, &cfg, &u).expect("login");
    let (n1, _) = session::refresh(&store, &cfg, u.user_id, &old.expire_token).expect("refresh 1");
    let (n2, _) = session::refresh(&store, &cfg, u.user_id, &old.expire_token).expect("refresh 2");
    assert!(matches!(
        session::authenticate_token(&store, &cfg, &n1.access_token),
        Err(AccountsError::UnknownToken)
    ));
    session::authenticate_token(&store, &cfg, &n2.access_token).expect("latest works");
}

#[test]
fn refresh_errors() {
    let (_d, store) = temp();
    let a = add_user(&store, "a@x.test", "ADMIN", None);
    let b = add_user(&store, "b@x.test", "ADMIN", None);
    let cfg = cfg();
    let sa = session::login(&store, &cfg, &a).expect("login");
    assert!(matches!(
        session::refresh(&store, &cfg, b.user_id, &sa.expire_token),
        Err(AccountsError::RefreshForbidden)
    ));
    assert!(matches!(
        session::refresh(&store, &cfg, a.user_id, "0123"),
        Err(AccountsError::SessionNotFound)
    ));
}

#[test]
fn password_change_and_deletion_end_sessions() {
    let (_d, store) = temp();
    let u = add_user(&store, "a@x.test", "ADMIN", None);
    // A second ADMIN, so that deleting `u` is not refused as removing the last one.
    add_user(&store, "b@x.test", "ADMIN", None);
    let cfg = cfg();
    let s1 = session::login(&store, &cfg, &u).expect("login");
    let new = password::hash("password-2", 10).expect("hash");
    let pw_draft = UserDraft {
        password: Some("password-2".into()),
        ..UserDraft::default()
    };
    users::update(
        &store,
        &Scope::All,
        &u.user_id.to_string(),
        &pw_draft,
        Some(new),
        |_, _| Ok(()),
    )
    .expect("update");
    assert!(session::authenticate_token(&store, &cfg, &s1.access_token).is_err());
    let s2 = session::login(&store, &cfg, &u).expect("login");
    users::delete(&store, &Scope::All, &u.user_id.to_string(), |_| Ok(())).expect("delete");
    assert!(matches!(
        session::authenticate_token(&store, &cfg, &s2.access_token),
        Err(AccountsError::UnknownToken)
    ));
    let left: Vec<Session> = store.read(|tx| tx.list_prefix("")).expect("list");
    assert!(left.is_empty(), "sessions left behind: {left:?}");
}

#[test]
fn permissions_match_the_role_table() {
    let (_d, store) = temp();
    let a = companies::create(&store, "A").expect("a");
    let b = companies::create(&store, "B").expect("b");
    let admin = add_user(&store, "root@x.test", "ADMIN", None).principal();
    let op = add_user(&store, "op@x.test", "OPERATOR", None).principal();
    let ca = add_user(&store, "ca@a.test", "CLIENT_ADMIN", Some(a.company_id));
    let cl = add_user(&store, "cl@a.test", "CLIENT", Some(a.company_id));
    let cb = add_user(&store, "cb@b.test", "CLIENT", Some(b.company_id));
    let (cap, clp) = (ca.principal(), cl.principal());

    assert!(permissions::create_company(&admin).is_ok());
    for p in [&op, &cap, &clp] {
        assert!(permissions::create_company(p).is_err());
        assert!(permissions::delete_company(p).is_err());
    }
    assert!(permissions::update_company(&cap, a.company_id).is_ok());
    assert!(permissions::update_company(&cap, b.company_id).is_err());
    assert!(permissions::update_company(&clp, a.company_id).is_err());

    assert!(permissions::create_user(&admin, &cb).is_ok());
    assert!(permissions::create_user(&cap, &cl).is_ok());
    assert!(
        permissions::create_user(&cap, &cb).is_err(),
        "other company"
    );
    assert!(permissions::create_user(&clp, &cl).is_err(), "plain client");
    assert!(
        permissions::create_user(&op, &cl).is_err(),
        "operator is read-only"
    );
    let mut staff = cl.clone();
    staff.user_type = Role::Admin;
    staff.company_id = None;
    assert!(
        permissions::create_user(&cap, &staff).is_err(),
        "no staff from a client admin"
    );

    // Self-service: names yes, privileges no.
    let mut renamed = cl.clone();
    renamed.first_name = Some("Cl".into());
    assert!(permissions::update_user(&clp, &cl, &renamed).is_ok());
    let mut promoted = cl.clone();
    promoted.user_type = Role::ClientAdmin;
    promoted.is_admin = true;
    assert!(permissions::update_user(&clp, &cl, &promoted).is_err());
    assert!(permissions::update_user(&cap, &cl, &promoted).is_ok());
    assert!(
        permissions::update_user(&clp, &ca, &ca).is_err(),
        "client edits another user"
    );

    assert!(permissions::delete_user(&cap, &cl).is_ok());
    assert!(permissions::delete_user(&cap, &cb).is_err());
    assert!(permissions::delete_user(&cap, &ca).is_err(), "not self");
    assert!(permissions::delete_user(&admin, &ca).is_ok());
    assert!(permissions::delete_user(&clp, &cb).is_err());
}

#[test]
fn the_last_admin_cannot_be_demoted_or_deleted() {
    let (_d, store) = temp();
    let a = add_user(&store, "a@x.test", "ADMIN", None);
    let op = UserDraft {
        user_type: Role::parse("OPERATOR"),
        ..UserDraft::default()
    };
    let id = a.user_id.to_string();
    assert!(matches!(
        users::update(&store, &Scope::All, &id, &op, None, |_, _| Ok(())),
        Err(AccountsError::Conflict(_))
    ));
    assert!(matches!(
        users::delete(&store, &Scope::All, &id, |_| Ok(())),
        Err(AccountsError::Conflict(_))
    ));
    let b = add_user(&store, "b@x.test", "ADMIN", None);
    users::update(&store, &Scope::All, &id, &op, None, |_, _| Ok(())).expect("demote a");
    // b is now the last one.
    assert!(matches!(
        users::delete(&store, &Scope::All, &b.user_id.to_string(), |_| Ok(())),
        Err(AccountsError::Conflict(_))
    ));
    users::delete(&store, &Scope::All, &id, |_| Ok(())).expect("delete the operator");
}
