//! Failed-login throttling, in memory: at most `auth.max_failed_logins` failures per account
//! (lower-cased email, whether or not it exists) and per client IP address within
//! `auth.throttle_window_secs`. While a key is over the limit, logins with it are refused with
//! 429 *before* the password is checked, so guessing stops even for the right password.
//! A successful login clears the account's failures (not the address's).
//!
//! The state is lost on restart, which is acceptable: a restart takes longer than a window of
//! guesses is worth. Memory is bounded by [`MAX_KEYS`].

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; beyond it, stale keys are dropped, then arbitrary ones.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// SHA-256 (hex) of the lower-cased email: fixed size however long the submitted email.
    Account(String),
    Address(IpAddr),
}

fn account(email: &str) -> Key {
    Key::Account(crate::accounts::token::hash(&email.trim().to_lowercase()))
}

/// Which limit refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Account,
    Address,
}

/// The throttle state shared by all requests.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// An empty throttle.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, VecDeque<Instant>>> {
        // A poisoned lock only means another request panicked while holding it; the map is
        // still a valid map.
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some((limit, retry_after))` when the account or address is over the limit now.
    pub fn check(
        &self,
        email: &str,
        addr: IpAddr,
        max: u32,
        window: Duration,
        now: Instant,
    ) -> Option<(Limited, Duration)> {
        let mut map = self.lock();
        for (key, which) in [
            (account(email), Limited::Account),
            (Key::Address(addr), Limited::Address),
        ] {
            if let Some(q) = map.get_mut(&key) {
                expire(q, window, now);
                if q.len() >= max as usize {
                    let oldest = q.front().copied().unwrap_or(now);
                    let retry = (oldest + window).saturating_duration_since(now);
                    return Some((which, retry.max(Duration::from_secs(1))));
                }
            }
        }
        None
    }

    /// Records a failed login for the account and the address.
    pub fn record_failure(&self, email: &str, addr: IpAddr, window: Duration, now: Instant) {
        let mut map = self.lock();
        if map.len() >= MAX_KEYS {
            map.retain(|_, q| {
                expire(q, window, now);
                !q.is_empty()
            });
            while map.len() >= MAX_KEYS {
                let Some(k) = map.keys().next().cloned() else {
                    break;
                };
                map.remove(&k);
            }
        }
        for key in [account(email), Key::Address(addr)] {
            let q = map.entry(key).or_default();
            expire(q, window, now);
            q.push_back(now);
        }
    }

    /// Forgets the account's failures after a successful login.
    pub fn record_success(&self, email: &str) {
        self.lock().remove(&account(email));
    }
}

fn expire(q: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
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

    #[test]
    fn account_is_limited_after_max_failures_and_recovers_after_the_window() {
        let t = LoginThrottle::new();
        let now = Instant::now();
        for i in 0..3 {
            assert_eq!(
                t.check("A@x.test", ip("10.0.0.1"), 3, W, now),
                None,
                "failure {i}"
            );
            t.record_failure("a@x.test", ip(&format!("10.0.0.{}", i + 1)), W, now);
        }
        let (which, retry) = t
            .check("a@X.test", ip("10.0.0.9"), 3, W, now)
            .expect("limited");
        assert_eq!(which, Limited::Account);
        assert!(retry <= W && retry >= Duration::from_secs(59));
        assert_eq!(t.check("a@x.test", ip("10.0.0.9"), 3, W, now + W), None);
    }

    #[test]
    fn address_is_limited_across_accounts() {
        let t = LoginThrottle::new();
        let now = Instant::now();
        for i in 0..3 {
            t.record_failure(&format!("u{i}@x.test"), ip("10.0.0.1"), W, now);
        }
        assert_eq!(
            t.check("new@x.test", ip("10.0.0.1"), 3, W, now)
                .map(|x| x.0),
            Some(Limited::Address)
        );
        assert_eq!(t.check("new@x.test", ip("10.0.0.2"), 3, W, now), None);
    }

    #[test]
    fn success_clears_the_account_only() {
        let t = LoginThrottle::new();
        let now = Instant::now();
        for _ in 0..3 {
            t.record_failure("a@x.test", ip("10.0.0.1"), W, now);
        }
        t.record_success("a@x.test");
        assert_eq!(
            t.check("a@x.test", ip("10.0.0.1"), 3, W, now).map(|x| x.0),
            Some(Limited::Address)
        );
        assert_eq!(t.check("a@x.test", ip("10.0.0.2"), 3, W, now), None);
    }
}
