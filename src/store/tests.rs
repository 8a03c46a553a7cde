//! Store contract tests against real redb files in temp dirs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::tenant::{CompanyOwned, Scope};
use crate::store::{tables, CompanyScoped, Global, Record, Store, StoreError, StoreRead};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    id: String,
    text: String,
}

impl Record for Note {
    // Any table works for the contract; SESSIONS holds global records.
    const TABLE: tables::Table = tables::SESSIONS;
    const WHAT: &'static str = "note";
    const VERSION: u32 = 2;
    type Tenancy = Global;
    fn key(&self) -> String {
        self.id.clone()
    }
    fn upgrade(from: u32, mut data: serde_json::Value) -> Result<serde_json::Value, String> {
        // Version 1 called the field "body".
        if from == 1 {
            let body = data.get("body").cloned().unwrap_or_default();
            data["text"] = body;
            Ok(data)
        } else {
            Err(format!("unknown version {from}"))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Thing {
    id: String,
    company: Uuid,
}

impl Record for Thing {
    const TABLE: tables::Table = tables::COMPANIES;
    const WHAT: &'static str = "thing";
    const VERSION: u32 = 1;
    type Tenancy = CompanyScoped;
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl CompanyOwned for Thing {
    fn owner_company(&self) -> Uuid {
        self.company
    }
}

fn temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(&dir.path().join("data")).expect("open");
    (dir, store)
}

fn note(id: &str, text: &str) -> Note {
    Note {
        id: id.into(),
        text: text.into(),
    }
}

#[test]
fn global_records_round_trip_and_survive_reopen() {
    let (dir, store) = temp();
    store
        .write(|tx| {
            tx.put(&note("a/1", "one"))?;
            tx.put(&note("a/2", "two"))?;
            tx.put(&note("b/1", "three"))
        })
        .expect("write");
    assert_eq!(
        store.get::<Note>("a/2").expect("get"),
        Some(note("a/2", "two"))
    );
    let a: Vec<Note> = store.read(|tx| tx.list_prefix("a/")).expect("list");
    assert_eq!(a, vec![note("a/1", "one"), note("a/2", "two")]);
    drop(store);
    let store = Store::open_in(&dir.path().join("data")).expect("reopen");
    assert_eq!(
        store.get::<Note>("b/1").expect("get"),
        Some(note("b/1", "three"))
    );
    assert!(store.write(|tx| tx.delete::<Note>("b/1")).expect("delete"));
    assert_eq!(store.get::<Note>("b/1").expect("get"), None);
}

#[cfg(unix)]
#[test]
fn the_store_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, store) = temp();
    let mode = std::fs::metadata(store.path())
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_failed_write_rolls_back() {
    let (_dir, store) = temp();
    let r: Result<(), StoreError> = store.write(|tx| {
        tx.put(&note("x", "never"))?;
        Err(StoreError::NotFound {
            what: "thing",
            key: "y".into(),
        })
    });
    assert!(r.is_err());
    assert_eq!(store.get::<Note>("x").expect("get"), None);
}

#[test]
fn older_record_versions_are_upgraded_and_newer_refused() {
    let (_dir, store) = temp();
    store
        .write(|tx| {
            tx.index_put(
                tables::SESSIONS,
                "old",
                r#"{"v":1,"d":{"id":"old","body":"hi"}}"#,
            )?;
            tx.index_put(
                tables::SESSIONS,
                "new",
                r#"{"v":3,"d":{"id":"new","text":"x"}}"#,
            )
        })
        .expect("raw write");
    assert_eq!(
        store.get::<Note>("old").expect("upgrade"),
        Some(note("old", "hi"))
    );
    match store.get::<Note>("new") {
        Err(StoreError::Corrupt { reason, .. }) => assert!(reason.contains("newer"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn scoped_reads_hide_other_companies() {
    let (_dir, store) = temp();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let ta = Thing {
        id: "t-a".into(),
        company: a,
    };
    let tb = Thing {
        id: "t-b".into(),
        company: b,
    };
    store
        .write(|tx| {
            tx.put_scoped(&Scope::All, &ta)?;
            tx.put_scoped(&Scope::Company(b), &tb)
        })
        .expect("write");
    let sa = Scope::Company(a);
    assert_eq!(store.get_scoped::<Thing>(&sa, "t-a").expect("own"), ta);
    assert!(matches!(
        store.get_scoped::<Thing>(&sa, "t-b"),
        Err(StoreError::NotFound { what: "thing", .. })
    ));
    assert_eq!(
        store.list_scoped::<Thing>(&sa).expect("list"),
        vec![ta.clone()]
    );
    let mut all = store.list_scoped::<Thing>(&Scope::All).expect("list all");
    all.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(all, vec![ta.clone(), tb.clone()]);
}

#[test]
fn scoped_writes_cannot_touch_other_companies() {
    let (_dir, store) = temp();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let tb = Thing {
        id: "t".into(),
        company: b,
    };
    store
        .write(|tx| tx.put_scoped(&Scope::All, &tb))
        .expect("write");
    let sa = Scope::Company(a);
    // Creating a record for another company.
    let r = store.write(|tx| {
        tx.put_scoped(
            &sa,
            &Thing {
                id: "new".into(),
                company: b,
            },
        )
    });
    assert!(matches!(r, Err(StoreError::NotFound { .. })));
    // Overwriting B's record by reusing its key with A as owner.
    let r = store.write(|tx| {
        tx.put_scoped(
            &sa,
            &Thing {
                id: "t".into(),
                company: a,
            },
        )
    });
    assert!(matches!(r, Err(StoreError::NotFound { .. })));
    let r = store.write(|tx| tx.delete_scoped::<Thing>(&sa, "t"));
    assert!(matches!(r, Err(StoreError::NotFound { .. })));
    assert_eq!(
        store.get_scoped::<Thing>(&Scope::All, "t").expect("intact"),
        tb
    );
}

#[test]
fn moving_a_record_between_companies_updates_the_tenant_index() {
    let (_dir, store) = temp();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut t = Thing {
        id: "t".into(),
        company: a,
    };
    store
        .write(|tx| tx.put_scoped(&Scope::All, &t))
        .expect("write");
    assert!(store
        .read(|tx| tx.company_has_records(a, tables::USERS))
        .expect("read"));
    t.company = b;
    store
        .write(|tx| tx.put_scoped(&Scope::All, &t))
        .expect("move");
    assert!(store
        .list_scoped::<Thing>(&Scope::Company(a))
        .expect("a")
        .is_empty());
    assert_eq!(
        store.list_scoped::<Thing>(&Scope::Company(b)).expect("b"),
        vec![t.clone()]
    );
    assert!(!store
        .read(|tx| tx.company_has_records(a, tables::USERS))
        .expect("read"));
    // The own table is excluded from the check.
    assert!(!store
        .read(|tx| tx.company_has_records(b, tables::COMPANIES))
        .expect("read"));
    store
        .write(|tx| tx.delete_scoped::<Thing>(&Scope::Company(b), "t"))
        .expect("delete");
    assert!(!store
        .read(|tx| tx.company_has_records(b, tables::USERS))
        .expect("read"));
}

#[test]
fn a_second_open_reports_the_lock() {
    let (dir, _store) = temp();
    match Store::open_in(&dir.path().join("data")) {
        Err(e @ StoreError::Locked { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("in use by a running facelite server"), "{msg}");
            assert!(msg.contains("facelite.redb"), "{msg}");
        }
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second open must fail while the first is alive"),
    }
}

#[test]
fn schema_version_is_stamped_and_newer_files_are_refused() {
    let (dir, store) = temp();
    let v = store
        .read(|tx| tx.index_get(tables::META, "schema_version"))
        .expect("read");
    assert_eq!(
        v.as_deref(),
        Some(super::schema::CURRENT.to_string().as_str())
    );
    store
        .write(|tx| tx.index_put(tables::META, "schema_version", "999"))
        .expect("write");
    drop(store);
    match Store::open_in(&dir.path().join("data")) {
        Err(StoreError::SchemaTooNew { found: 999, .. }) => {}
        Err(e) => panic!("expected SchemaTooNew, got {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}
