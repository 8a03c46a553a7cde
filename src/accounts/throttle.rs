//! Failed-login throttling, in memory, with three counters per attempt, all within
//! `auth.throttle_window_secs` (300 s):
//!
//! * **account from one address** (lower-cased email, whether or not it exists, with the client
//!   address): at most `auth.max_failed_logins` (10) failures. This is the key a guesser hits.
//! * **account**, from all addresses together: at most `auth.max_failed_logins_per_account`
//!   (100). A ceiling against guessing spread over many addresses, high enough that one guesser
//!   does not lock the real user out: the user's own address has its own count of 10.
//! * **client address**, across all accounts: at most `auth.max_failed_logins_per_address` (30),
//!   so one address cannot try a few guesses on every account.
//!
//! Client addresses are IPv4 addresses, or IPv6 /64 prefixes (one host usually holds a whole
//! /64, so counting single IPv6 addresses would count nothing); an IPv4-mapped IPv6 address
//! counts as its IPv4 address.
//!
//! While any of the three is at its limit, logins are refused with 429 *before* the password
//! is checked, so guessing stops even for the right password.
//!
//! **Concurrency.** [`LoginThrottle::reserve`] checks the three counters and records the attempt
//! in them under ONE lock, before the (slow) password check, and hands back a [`Reservation`].
//! Parallel attempts therefore see each other: with a limit of 10, 200 simultaneous wrong
//! passwords get ten password checks and 190 refusals, not 200 checks. A login that fails keeps
//! its reservation as the failure; one that succeeds calls [`LoginThrottle::succeeded`], which
//! withdraws the reservation (a success is no failure) and clears the failures of that account
//! from that address. A request abandoned mid-check keeps its reservation, i.e. counts as a
//! failure.
//!
//! The state is lost on restart, which is acceptable: a restart takes longer than a window of
//! guesses is worth. Memory is bounded by [`MAX_KEYS`].

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; beyond it, stale keys are dropped, then arbitrary ones.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// SHA-256 (hex) of the lower-cased email: fixed size however long the submitted email.
    Account(String),
    /// The account from one client address.
    AccountAddress(String, IpAddr),
    /// A client address (see [`client_key`]).
    Address(IpAddr),
}

fn account_hash(email: &str) -> String {
    crate::accounts::token::hash(&email.trim().to_lowercase())
}

/// The address a client is counted under: IPv4 as is (also when IPv4-mapped), IPv6 as its /64.
pub fn client_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Which limit refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// `auth.max_failed_logins`: this account from this client address.
    AccountAddress,
    /// `auth.max_failed_logins_per_account`: this account from all addresses.
    Account,
    /// `auth.max_failed_logins_per_address`: this client address across all accounts.
    Address,
}

impl Limited {
    /// How the refusal names the limit ("too many failed logins for this ...").
    pub fn what(self) -> &'static str {
        match self {
            Limited::AccountAddress => "account from this client address",
            Limited::Account => "account",
            Limited::Address => "client address",
        }
    }
}

/// The limits, from `[auth]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per account and client address (`max_failed_logins`).
    pub account_address: u32,
    /// Per account (`max_failed_logins_per_account`).
    pub account: u32,
    /// Per client address (`max_failed_logins_per_address`).
    pub address: u32,
    /// `throttle_window_secs`.
    pub window: Duration,
}

impl Limits {
    /// The limits of an `[auth]` section.
    pub fn of(auth: &crate::config::AuthConfig) -> Limits {
        Limits {
            account_address: auth.max_failed_logins,
            account: auth.max_failed_logins_per_account,
            address: auth.max_failed_logins_per_address,
            window: Duration::from_secs(auth.throttle_window_secs),
        }
    }
}

/// A login attempt recorded in advance (see the module doc). Dropping it leaves it counted as
/// a failure; pass it to [`LoginThrottle::succeeded`] when the password was right.
#[derive(Debug)]
#[must_use = "a reservation counts as a failure unless passed to `succeeded`"]
pub struct Reservation {
    id: u64,
    account: String,
    addr: IpAddr,
}

/// One recorded attempt: when, and the reservation it belongs to.
type Entry = (Instant, u64);

#[derive(Debug, Default)]
struct State {
    failures: HashMap<Key, VecDeque<Entry>>,
    next_id: u64,
}

/// The throttle state shared by all requests.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    state: Mutex<State>,
}

impl LoginThrottle {
    /// An empty throttle.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another request panicked while holding it; the map is
        // still a valid map.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks the three limits and, when none is reached, records this attempt in all three
    /// counters, atomically. `Err((limit, retry_after))` when a limit is reached now (the
    /// attempt is then not recorded); with several, the one that lasts longest.
    pub fn reserve(
        &self,
        email: &str,
        addr: IpAddr,
        limits: &Limits,
        now: Instant,
    ) -> Result<Reservation, (Limited, Duration)> {
        let account = account_hash(email);
        let addr = client_key(addr);
        let keys = keys(&account, addr);
        let maxima = [limits.account_address, limits.account, limits.address];
        let mut st = self.lock();
        let mut refused: Option<(Limited, Duration)> = None;
        for ((key, which), max) in keys.iter().zip(maxima) {
            let Some(q) = st.failures.get_mut(key) else {
                continue;
            };
            expire(q, limits.window, now);
            if q.len() >= max as usize {
                let oldest = q.front().map(|e| e.0).unwrap_or(now);
                let retry = (oldest + limits.window)
                    .saturating_duration_since(now)
                    .max(Duration::from_secs(1));
                if refused.is_none_or(|(_, r)| retry > r) {
                    refused = Some((*which, retry));
                }
            }
        }
        if let Some(r) = refused {
            return Err(r);
        }
        if st.failures.len() + keys.len() > MAX_KEYS {
            make_room(&mut st.failures, limits.window, now);
        }
        st.next_id += 1;
        let id = st.next_id;
        for (key, _) in keys {
            let q = st.failures.entry(key).or_default();
            expire(q, limits.window, now);
            q.push_back((now, id));
        }
        Ok(Reservation { id, account, addr })
    }

    /// The password was right: withdraws the reservation from every counter and forgets the
    /// failures of this account from this address (not those from other addresses, nor this
    /// address' failures on other accounts).
    pub fn succeeded(&self, r: Reservation) {
        let mut st = self.lock();
        for (key, _) in keys(&r.account, r.addr) {
            let Some(q) = st.failures.get_mut(&key) else {
                continue;
            };
            if matches!(key, Key::AccountAddress(..)) {
                q.clear();
            } else {
                q.retain(|e| e.1 != r.id);
            }
            if q.is_empty() {
                st.failures.remove(&key);
            }
        }
    }

    /// Keys tracked now (for tests of the memory bound).
    pub fn tracked_keys(&self) -> usize {
        self.lock().failures.len()
    }
}

/// The three counters of an attempt, in the order they are checked.
fn keys(account: &str, addr: IpAddr) -> [(Key, Limited); 3] {
    [
        (
            Key::AccountAddress(account.to_string(), addr),
            Limited::AccountAddress,
        ),
        (Key::Account(account.to_string()), Limited::Account),
        (Key::Address(addr), Limited::Address),
    ]
}

/// Drops stale keys, then arbitrary ones, until three new keys fit under [`MAX_KEYS`].
fn make_room(map: &mut HashMap<Key, VecDeque<Entry>>, window: Duration, now: Instant) {
    map.retain(|_, q| {
        expire(q, window, now);
        !q.is_empty()
    });
    let excess = (map.len() + 3).saturating_sub(MAX_KEYS);
    if excess > 0 {
        let drop: Vec<Key> = map.keys().take(excess).cloned().collect();
        for k in drop {
            map.remove(&k);
        }
    }
}

fn expire(q: &mut VecDeque<Entry>, window: Duration, now: Instant) {
    while q
        .front()
        .is_some_and(|e| now.saturating_duration_since(e.0) >= window)
    {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(60);

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn limits(account_address: u32, account: u32, address: u32) -> Limits {
        Limits {
            account_address,
            account,
            address,
            window: W,
        }
    }

    /// `n` failed attempts (reservations dropped).
    fn fail(t: &LoginThrottle, email: &str, addr: &str, l: &Limits, now: Instant, n: usize) {
        for i in 0..n {
            let r = t.reserve(email, ip(addr), l, now);
            assert!(r.is_ok(), "attempt {i} of {email} from {addr}: {r:?}");
        }
    }

    #[test]
    fn account_from_one_address_is_limited_and_recovers_after_the_window() {
        let t = LoginThrottle::new();
        let l = limits(3, 100, 30);
        let now = Instant::now();
        fail(&t, "A@x.test", "10.0.0.1", &l, now, 3);
        let (which, retry) = t
            .reserve("a@X.test ", ip("10.0.0.1"), &l, now)
            .expect_err("limited");
        assert_eq!(which, Limited::AccountAddress);
        assert!(retry <= W && retry >= Duration::from_secs(59), "{retry:?}");
        // The real user, elsewhere, is not locked out by the guesser.
        let r = t
            .reserve("a@x.test", ip("10.0.0.2"), &l, now)
            .expect("other address");
        t.succeeded(r);
        // Nor does their success unlock the guesser.
        assert!(t.reserve("a@x.test", ip("10.0.0.1"), &l, now).is_err());
        // After the window it works again.
        assert!(t.reserve("a@x.test", ip("10.0.0.1"), &l, now + W).is_ok());
    }

    #[test]
    fn refused_attempts_are_not_counted() {
        let t = LoginThrottle::new();
        let l = limits(2, 100, 30);
        let now = Instant::now();
        fail(&t, "a@x.test", "10.0.0.1", &l, now, 2);
        for _ in 0..50 {
            assert!(t.reserve("a@x.test", ip("10.0.0.1"), &l, now).is_err());
        }
        // Only the 2 checked attempts count towards the account and the address.
        fail(&t, "a@x.test", "10.0.0.2", &l, now, 2);
        fail(&t, "b@x.test", "10.0.0.1", &l, now, 2);
    }

    #[test]
    fn account_wide_ceiling_holds_across_addresses() {
        let t = LoginThrottle::new();
        let l = limits(3, 10, 30);
        let now = Instant::now();
        for i in 0..5 {
            fail(&t, "a@x.test", &format!("10.0.1.{i}"), &l, now, 2);
        }
        let (which, _) = t
            .reserve("a@x.test", ip("10.9.9.9"), &l, now)
            .expect_err("ceiling");
        assert_eq!(which, Limited::Account);
        assert_eq!(Limited::Account.what(), "account");
        // Other accounts from those addresses are fine.
        assert!(t.reserve("b@x.test", ip("10.0.1.0"), &l, now).is_ok());
    }

    #[test]
    fn address_is_limited_across_accounts() {
        let t = LoginThrottle::new();
        let l = limits(3, 100, 5);
        let now = Instant::now();
        for i in 0..5 {
            fail(&t, &format!("u{i}@x.test"), "10.0.0.1", &l, now, 1);
        }
        let (which, _) = t
            .reserve("new@x.test", ip("10.0.0.1"), &l, now)
            .expect_err("address");
        assert_eq!(which, Limited::Address);
        assert!(t.reserve("new@x.test", ip("10.0.0.2"), &l, now).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let t = LoginThrottle::new();
        let l = limits(3, 100, 30);
        let now = Instant::now();
        fail(&t, "a@x.test", "2001:db8:1:2::1", &l, now, 2);
        fail(&t, "a@x.test", "2001:db8:1:2:ffff::9", &l, now, 1);
        assert!(t
            .reserve("a@x.test", ip("2001:db8:1:2::77"), &l, now)
            .is_err());
        assert!(t
            .reserve("a@x.test", ip("2001:db8:1:3::1"), &l, now)
            .is_ok());
        fail(&t, "b@x.test", "10.0.0.7", &l, now, 3);
        assert!(t
            .reserve("b@x.test", ip("::ffff:10.0.0.7"), &l, now)
            .is_err());
    }

    #[test]
    fn success_withdraws_its_reservation_and_clears_that_address_only() {
        let t = LoginThrottle::new();
        let l = limits(3, 4, 30);
        let now = Instant::now();
        fail(&t, "a@x.test", "10.0.0.1", &l, now, 2);
        fail(&t, "a@x.test", "10.0.0.2", &l, now, 2);
        // 4 failures on the account: at the ceiling.
        assert_eq!(
            t.reserve("a@x.test", ip("10.0.0.1"), &l, now).map(|_| ()),
            Err((Limited::Account, W))
        );
        let t = LoginThrottle::new();
        fail(&t, "a@x.test", "10.0.0.1", &l, now, 2);
        fail(&t, "a@x.test", "10.0.0.2", &l, now, 1);
        // A success from 10.0.0.1 (the 4th attempt) does not count, and clears 10.0.0.1's 2.
        let r = t.reserve("a@x.test", ip("10.0.0.1"), &l, now).expect("4th");
        t.succeeded(r);
        fail(&t, "a@x.test", "10.0.0.1", &l, now, 1);
        // The account has 4 failures now (2 from .1 before, 1 from .2, 1 from .1 after).
        assert_eq!(
            t.reserve("a@x.test", ip("10.0.0.3"), &l, now).map(|_| ()),
            Err((Limited::Account, W))
        );
    }

    #[test]
    fn parallel_reservations_never_exceed_the_limit() {
        let t = std::sync::Arc::new(LoginThrottle::new());
        let l = limits(10, 100, 30);
        let now = Instant::now();
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    // Held, as during a password check.
                    let r = t.reserve("a@x.test", ip("10.0.0.1"), &l, now);
                    std::thread::sleep(Duration::from_millis(20));
                    r.is_ok()
                })
            })
            .collect();
        let ok = handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .filter(|ok| *ok)
            .count();
        assert_eq!(ok, 10, "attempts that got through");
    }

    #[test]
    fn memory_stays_bounded() {
        let t = LoginThrottle::new();
        let l = limits(3, 100, 30);
        let now = Instant::now();
        // Three new keys per attempt, none stale: the arbitrary-drop path.
        for i in 0..(MAX_KEYS / 3 + 10) as u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let r = t.reserve(&format!("u{i}@x.test"), addr, &l, now);
            assert!(r.is_ok());
        }
        assert!(t.tracked_keys() <= MAX_KEYS, "{}", t.tracked_keys());
        // Stale keys go first.
        let later = now + W;
        for i in 0..10u32 {
            let r = t.reserve(&format!("v{i}@x.test"), ip("10.200.0.1"), &l, later);
            assert!(r.is_ok());
        }
        assert!(t.tracked_keys() <= MAX_KEYS, "{}", t.tracked_keys());
    }
}
