//! Every redb table of the store, declared in one place so that the whole on-disk layout can be
//! read on one screen. All tables map `&str` keys to `&[u8]` values:
//!
//! * **record tables** hold one record per key, encoded as a versioned JSON envelope
//!   (see [`crate::store::record`]); keys are the record's id (a UUID string unless noted);
//! * **index tables** map a derived key to the UTF-8 bytes of a primary key (or to nothing when
//!   the key itself carries the information); they are kept in the same write transaction as
//!   the record they point to.
//!
//! A family that needs a table adds a `pub const` here, adds it to [`ALL`] (so that
//! `schema::ensure` creates it on open), and bumps nothing else: new empty tables need no
//! migration. Renaming or re-encoding an existing table does need one (`schema.rs`).

use redb::TableDefinition;

/// The one table type of the store: string keys, byte values.
pub type Table = TableDefinition<'static, &'static str, &'static [u8]>;

/// Store metadata: `schema_version` -> decimal text.
pub const META: Table = TableDefinition::new("meta");

/// Tenant index of every company-owned record: key `<company_id>/<table>/<record key>`, empty
/// value. Kept by `WriteTx::put_scoped` / `delete_scoped`; lets a company's records be listed
/// without a scan and lets a company deletion check that nothing still belongs to it.
pub const TENANT_INDEX: Table = TableDefinition::new("tenant_index");

// ---- accounts -------------------------------------------------------------------------------

/// Companies (`accounts::companies::Company`), key `company_id`.
pub const COMPANIES: Table = TableDefinition::new("companies");

/// Users (`accounts::users::User`), key `user_id`.
pub const USERS: Table = TableDefinition::new("users");

/// Unique login index: lower-cased email -> `user_id`.
pub const USERS_BY_EMAIL: Table = TableDefinition::new("users_by_email");

/// Sessions (`accounts::session::Session`), key `session_id`.
pub const SESSIONS: Table = TableDefinition::new("sessions");

/// SHA-256 (hex) of an access token -> `session_id`. Tokens themselves are never stored.
pub const SESSIONS_BY_ACCESS: Table = TableDefinition::new("sessions_by_access");

/// SHA-256 (hex) of an expire (refresh) token -> `session_id`.
pub const SESSIONS_BY_EXPIRE: Table = TableDefinition::new("sessions_by_expire");

/// `<user_id>/<session_id>` -> empty; finds a user's sessions to end them.
pub const SESSIONS_BY_USER: Table = TableDefinition::new("sessions_by_user");

// ---- later families add their tables below (folders, media, analyses, jobs, webhook outbox,
// ---- collections, persons), and list them in ALL.

/// Collections (1:N), key `collection_id` (`collections::model::CollectionRec`).
pub const COLLECTIONS: Table = TableDefinition::new("collections");

/// Persons of collections, key `person_id`.
pub const PERSONS: Table = TableDefinition::new("persons");

/// Person images with their templates, key `person_image_id`.
pub const PERSON_IMAGES: Table = TableDefinition::new("person_images");

/// `<collection_id>/<person_id>` -> nothing: a collection's persons.
pub const PERSONS_BY_COLLECTION: Table = TableDefinition::new("persons_by_collection");

/// `<person_id>/<analysis_id>` -> nothing: COLLECTION analyses that reported the person as a
/// hit (written before the analysis result is stored; checked against the analysis record).
pub const PERSON_MATCHES: Table = TableDefinition::new("person_matches");

/// Every table, created (empty) when the store is opened.
pub const ALL: &[Table] = &[
    META,
    TENANT_INDEX,
    COMPANIES,
    USERS,
    USERS_BY_EMAIL,
    SESSIONS,
    SESSIONS_BY_ACCESS,
    SESSIONS_BY_EXPIRE,
    SESSIONS_BY_USER,
    COLLECTIONS,
    PERSONS,
    PERSON_IMAGES,
    PERSONS_BY_COLLECTION,
    PERSON_MATCHES,
];
