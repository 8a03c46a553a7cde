//! Sessions: an access token + expire (refresh) token pair bound to a user.
//!
//! * Only SHA-256 hashes of the tokens are stored (`SESSIONS_BY_ACCESS`, `SESSIONS_BY_EXPIRE`).
//! * **Sliding expiry:** each authenticated request made while the session is alive pushes its
//!   expiry to now + TTL (`auth.session_ttl_secs`, or `auth.session_longlive_ttl_secs` for
//!   service users). To avoid one disk sync per request, the new expiry is only written when it
//!   moved by at least 1/100 of the TTL (capped at 60 s); a session therefore expires at most
//!   that much earlier than an exact slide would give.
//! * **Refresh rotation:** refreshing session S issues a new session N that remembers S as its
//!   predecessor. S keeps working until N is used for the first time (any authenticated request
//!   with N's access token, or a refresh with N's expire token); then S is deleted. Refreshing S
//!   again before N was used replaces N, so at most one unused successor exists.
//! * An expired session answers "expired" (code 8) until it is pruned, one day after its
//!   expiry, at the user's next login; then its token is simply unknown (code 7).
//! * A user keeps at most [`MAX_SESSIONS_PER_USER`] sessions; a login beyond that ends the
//!   oldest.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::tenant::Scope;
use crate::accounts::users::User;
use crate::accounts::{now_ms, token, AccountsError};
use crate::config::AuthConfig;
use crate::store::{tables, Global, Record, Store, StoreError, StoreRead, WriteTx};

/// Sessions kept per user before the oldest is ended at login.
pub const MAX_SESSIONS_PER_USER: usize = 1024;
/// How long an expired session is kept to answer "expired" rather than "unknown".
const PRUNE_AFTER_MS: u64 = 24 * 3600 * 1000;

/// One session (a token pair).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 hex of the access token.
    pub access_hash: String,
    /// SHA-256 hex of the expire token.
    pub expire_hash: String,
    /// UNIX milliseconds.
    pub created_ms: u64,
    /// UNIX milliseconds; the session is dead from this instant on.
    pub expires_ms: u64,
    /// Issued to a service user: uses the long-lived TTL.
    pub long_lived: bool,
    /// The session this one was refreshed from; deleted on this one's first use.
    pub predecessor: Option<Uuid>,
    /// The not yet used session refreshed from this one.
    pub successor: Option<Uuid>,
}

impl Record for Session {
    const TABLE: tables::Table = tables::SESSIONS;
    const WHAT: &'static str = "session";
    const VERSION: u32 = 1;
    type Tenancy = Global;

    fn key(&self) -> String {
        self.session_id.to_string()
    }
}

impl Session {
    /// `expire_date` on the wire: UNIX seconds.
    pub fn expire_date(&self) -> i64 {
        i64::try_from(self.expires_ms / 1000).unwrap_or(i64::MAX)
    }
}

/// A freshly issued pair; the clear tokens exist only here, to be sent once to the client.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub expire_token: String,
    pub session: Session,
}

/// The TTL of a session, milliseconds.
pub fn ttl_ms(cfg: &AuthConfig, long_lived: bool) -> u64 {
    let secs = if long_lived {
        cfg.session_longlive_ttl_secs
    } else {
        cfg.session_ttl_secs
    };
    secs.saturating_mul(1000)
}

fn slide_threshold_ms(ttl: u64) -> u64 {
    (ttl / 100).min(60_000)
}

fn user_key(user_id: Uuid, session_id: Uuid) -> String {
    format!("{user_id}/{session_id}")
}

/// Creates a session for `user` (inside the caller's transaction).
pub fn issue(
    tx: &mut WriteTx,
    cfg: &AuthConfig,
    user: &User,
    predecessor: Option<Uuid>,
    now: u64,
) -> Result<Issued, AccountsError> {
    let access_token = token::generate()?;
    let expire_token = token::generate()?;
    let session = Session {
        session_id: Uuid::new_v4(),
        user_id: user.user_id,
        access_hash: token::hash(&access_token),
        expire_hash: token::hash(&expire_token),
        created_ms: now,
        expires_ms: now.saturating_add(ttl_ms(cfg, user.is_service)),
        long_lived: user.is_service,
        predecessor,
        successor: None,
    };
    let sid = session.key();
    tx.put(&session)?;
    tx.index_put(tables::SESSIONS_BY_ACCESS, &session.access_hash, &sid)?;
    tx.index_put(tables::SESSIONS_BY_EXPIRE, &session.expire_hash, &sid)?;
    tx.index_put(
        tables::SESSIONS_BY_USER,
        &user_key(user.user_id, session.session_id),
        "",
    )?;
    Ok(Issued {
        access_token,
        expire_token,
        session,
    })
}

fn remove(tx: &mut WriteTx, s: &Session) -> Result<(), AccountsError> {
    tx.delete::<Session>(&s.key())?;
    tx.index_remove(tables::SESSIONS_BY_ACCESS, &s.access_hash)?;
    tx.index_remove(tables::SESSIONS_BY_EXPIRE, &s.expire_hash)?;
    tx.index_remove(tables::SESSIONS_BY_USER, &user_key(s.user_id, s.session_id))?;
    Ok(())
}

fn remove_by_id(tx: &mut WriteTx, id: Uuid) -> Result<(), AccountsError> {
    if let Some(s) = tx.get::<Session>(&id.to_string())? {
        remove(tx, &s)?;
    }
    Ok(())
}

fn sessions_of(tx: &WriteTx, user_id: Uuid) -> Result<Vec<Session>, AccountsError> {
    let prefix = format!("{user_id}/");
    let mut out = Vec::new();
    for (k, _) in tx.index_prefix(tables::SESSIONS_BY_USER, &prefix)? {
        if let Some(s) = tx.get::<Session>(&k[prefix.len()..])? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Ends every session of a user (password change, deletion).
pub fn end_all_for_user(tx: &mut WriteTx, user_id: Uuid) -> Result<(), AccountsError> {
    for s in sessions_of(tx, user_id)? {
        remove(tx, &s)?;
    }
    // Index entries whose session record is gone.
    let prefix = format!("{user_id}/");
    for (k, _) in tx.index_prefix(tables::SESSIONS_BY_USER, &prefix)? {
        tx.index_remove(tables::SESSIONS_BY_USER, &k)?;
    }
    Ok(())
}

/// Drops a user's long-expired sessions and, beyond [`MAX_SESSIONS_PER_USER`] - 1, the
/// oldest ones, making room for one more.
pub fn prune_for_user(tx: &mut WriteTx, user_id: Uuid, now: u64) -> Result<(), AccountsError> {
    let mut live = Vec::new();
    for s in sessions_of(tx, user_id)? {
        if s.expires_ms.saturating_add(PRUNE_AFTER_MS) <= now {
            remove(tx, &s)?;
        } else {
            live.push(s);
        }
    }
    if live.len() >= MAX_SESSIONS_PER_USER {
        live.sort_by_key(|s| s.created_ms);
        let excess = live.len() + 1 - MAX_SESSIONS_PER_USER;
        for s in &live[..excess] {
            remove(tx, s)?;
        }
    }
    Ok(())
}

fn lookup(
    tx: &impl StoreRead,
    index: tables::Table,
    token: &str,
) -> Result<Option<Session>, StoreError> {
    if token.is_empty() || token.len() > token::MAX_TOKEN_LEN {
        return Ok(None);
    }
    match tx.index_get(index, &token::hash(token))? {
        Some(sid) => Ok(tx.get::<Session>(&sid)?),
        None => Ok(None),
    }
}

/// Resolves an access token to its user: unknown token or deleted user -> `UnknownToken`,
/// dead session -> `TokenExpired`. Slides the expiry and, on the first use of a refreshed
/// pair, ends its predecessor.
pub fn authenticate_token(
    store: &Store,
    cfg: &AuthConfig,
    token: &str,
) -> Result<User, AccountsError> {
    let now = now_ms();
    let (s, user) = store
        .read(|tx| {
            let Some(s) = lookup(tx, tables::SESSIONS_BY_ACCESS, token)? else {
                return Ok(None);
            };
            let user = tx.find_scoped::<User>(&Scope::All, &s.user_id.to_string())?;
            Ok(user.map(|u| (s, u)))
        })?
        .ok_or(AccountsError::UnknownToken)?;
    if now >= s.expires_ms {
        return Err(AccountsError::TokenExpired);
    }
    let ttl = ttl_ms(cfg, s.long_lived);
    let slid = now.saturating_add(ttl);
    let needs_write = s.predecessor.is_some()
        || slid.saturating_sub(s.expires_ms) >= slide_threshold_ms(ttl).max(1);
    if needs_write {
        store.write(|tx| {
            let mut cur = tx
                .get::<Session>(&s.key())?
                .ok_or(AccountsError::UnknownToken)?;
            if now >= cur.expires_ms {
                return Err(AccountsError::TokenExpired);
            }
            first_use(tx, &mut cur)?;
            cur.expires_ms = cur.expires_ms.max(slid);
            tx.put(&cur)?;
            Ok(())
        })?;
    }
    Ok(user)
}

/// Marks a refreshed session as used: its predecessor dies.
fn first_use(tx: &mut WriteTx, s: &mut Session) -> Result<(), AccountsError> {
    if let Some(p) = s.predecessor.take() {
        remove_by_id(tx, p)?;
    }
    Ok(())
}

/// Rotates the pair whose expire token is `expire_token` for the authenticated user `caller`.
/// Errors: `SessionNotFound` (no live session has this expire token), `RefreshForbidden`
/// (the session belongs to someone else).
pub fn refresh(
    store: &Store,
    cfg: &AuthConfig,
    caller: Uuid,
    expire_token: &str,
) -> Result<(Issued, User), AccountsError> {
    let now = now_ms();
    store.write(|tx| {
        let mut s = lookup(tx, tables::SESSIONS_BY_EXPIRE, expire_token)?
            .filter(|s| now < s.expires_ms)
            .ok_or(AccountsError::SessionNotFound)?;
        if s.user_id != caller {
            return Err(AccountsError::RefreshForbidden);
        }
        let user = tx
            .find_scoped::<User>(&Scope::All, &caller.to_string())?
            .ok_or(AccountsError::SessionNotFound)?;
        first_use(tx, &mut s)?;
        if let Some(unused) = s.successor.take() {
            remove_by_id(tx, unused)?;
        }
        let issued = issue(tx, cfg, &user, Some(s.session_id), now)?;
        s.successor = Some(issued.session.session_id);
        tx.put(&s)?;
        Ok((issued, user))
    })
}

/// Opens a session for `user` after a successful login (pruning old ones first).
pub fn login(store: &Store, cfg: &AuthConfig, user: &User) -> Result<Issued, AccountsError> {
    let now = now_ms();
    store.write(|tx| {
        prune_for_user(tx, user.user_id, now)?;
        issue(tx, cfg, user, None, now)
    })
}
