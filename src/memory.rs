//! The process-wide memory budget (`limits.memory_mb`).
//!
//! Small hostile inputs can ask for large allocations: a 280 KB PNG that announces 6000x6000
//! pixels, a 200 KB ZIP whose one entry inflates to 200 MB, a request body of 60 MB sent twenty
//! times at once. Each such allocation is *charged* here, by its announced size, before it is
//! made; the charge is released when the memory is freed (a [`Charge`] is dropped). Work that
//! does not fit waits a little for others to finish and is then refused: bigger than the whole
//! budget is "too large" (413), not fitting now is "busy" (503).
//!
//! The budget is one per process, like the allocator it stands in front of, so deep decoding
//! code reaches it without every caller threading a handle through: the server installs it
//! once at start ([`install`]); without one (command-line analysis, unit tests) every charge is
//! granted and nothing is counted.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Why a charge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The work alone needs more than the whole budget: it can never run here.
    #[error("{what} needs {needed_mb} MB of memory, more than this server's whole budget of {budget_mb} MB (limits.memory_mb)")]
    TooLarge {
        what: String,
        needed_mb: u64,
        budget_mb: u64,
    },
    /// The budget is taken by work in progress; the client may retry shortly.
    #[error("the server's memory budget is in use by other work ({what} needs {needed_mb} MB, {free_mb} MB free of {budget_mb} MB); retry shortly")]
    Busy {
        what: String,
        needed_mb: u64,
        free_mb: u64,
        budget_mb: u64,
    },
}

/// A memory budget in bytes.
#[derive(Debug)]
pub struct MemoryBudget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
    /// Wakes async waiters when memory is released.
    freed_async: tokio::sync::Notify,
}

/// Memory charged against a budget; released when dropped.
#[derive(Debug)]
pub struct Charge {
    budget: Option<Arc<MemoryBudget>>,
    bytes: u64,
}

const MB: u64 = 1024 * 1024;

impl MemoryBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            total: total.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
            freed_async: tokio::sync::Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // The counter is a plain number: a panic elsewhere cannot leave it half-written.
        self.used.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        *self.lock()
    }

    /// The budget's size in bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn too_large(&self, bytes: u64, what: &str) -> Option<BudgetError> {
        (bytes > self.total).then(|| BudgetError::TooLarge {
            what: what.to_string(),
            needed_mb: bytes.div_ceil(MB),
            budget_mb: self.total / MB,
        })
    }

    fn busy(&self, bytes: u64, used: u64, what: &str) -> BudgetError {
        BudgetError::Busy {
            what: what.to_string(),
            needed_mb: bytes.div_ceil(MB),
            free_mb: self.total.saturating_sub(used) / MB,
            budget_mb: self.total / MB,
        }
    }

    /// Takes `bytes` now, or fails at once.
    pub fn try_charge(self: &Arc<Self>, bytes: u64, what: &str) -> Result<Charge, BudgetError> {
        if let Some(e) = self.too_large(bytes, what) {
            return Err(e);
        }
        let mut used = self.lock();
        if *used + bytes > self.total {
            return Err(self.busy(bytes, *used, what));
        }
        *used += bytes;
        Ok(Charge {
            budget: Some(self.clone()),
            bytes,
        })
    }

    /// Takes `bytes`, blocking the thread up to `wait` for others to release memory (for the
    /// worker threads, which have nothing else to do meanwhile).
    pub fn charge_blocking(
        self: &Arc<Self>,
        bytes: u64,
        wait: Duration,
        what: &str,
    ) -> Result<Charge, BudgetError> {
        if let Some(e) = self.too_large(bytes, what) {
            return Err(e);
        }
        let until = Instant::now() + wait;
        let mut used = self.lock();
        while *used + bytes > self.total {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.busy(bytes, *used, what));
            }
            used = self
                .freed
                .wait_timeout(used, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        *used += bytes;
        Ok(Charge {
            budget: Some(self.clone()),
            bytes,
        })
    }

    /// Takes `bytes`, waiting on the async runtime up to `wait`.
    pub async fn charge(
        self: &Arc<Self>,
        bytes: u64,
        wait: Duration,
        what: &str,
    ) -> Result<Charge, BudgetError> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.freed_async.notified();
            match self.try_charge(bytes, what) {
                Ok(c) => return Ok(c),
                Err(e @ BudgetError::TooLarge { .. }) => return Err(e),
                Err(busy) => {
                    // A release between the try and this wait is not lost: `notified` was
                    // created before the try. The timer also bounds a missed wake-up.
                    let tick = tokio::time::sleep(Duration::from_millis(200));
                    tokio::select! {
                        _ = notified => {}
                        _ = tick => {}
                        _ = tokio::time::sleep_until(until) => return Err(busy),
                    }
                }
            }
        }
    }

    fn release(&self, bytes: u64) {
        let mut used = self.lock();
        *used = used.saturating_sub(bytes);
        drop(used);
        self.freed.notify_all();
        self.freed_async.notify_waiters();
    }
}

impl Charge {
    /// A charge against no budget (nothing installed).
    pub fn free() -> Charge {
        Charge {
            budget: None,
            bytes: 0,
        }
    }

    /// Bytes held by this charge.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Grows this charge to `bytes` in total, if the budget has room now.
    pub fn grow_to(&mut self, bytes: u64, what: &str) -> Result<(), BudgetError> {
        let Some(budget) = self.budget.clone() else {
            return Ok(());
        };
        if bytes <= self.bytes {
            return Ok(());
        }
        let mut more = budget.try_charge(bytes - self.bytes, what)?;
        self.bytes += more.bytes;
        // Merged into this charge: `more` must not release its bytes when dropped.
        more.budget = None;
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(b) = self.budget.take() {
            if self.bytes > 0 {
                b.release(self.bytes);
            }
        }
    }
}

static GLOBAL: OnceLock<Arc<MemoryBudget>> = OnceLock::new();

/// Installs the process's budget (once, at server start; later calls are ignored).
pub fn install(budget: Arc<MemoryBudget>) {
    let _ = GLOBAL.set(budget);
}

/// The process's budget, if one is installed.
pub fn global() -> Option<&'static Arc<MemoryBudget>> {
    GLOBAL.get()
}

/// How long work on a worker thread waits for memory before it is refused as busy.
pub const WORKER_WAIT: Duration = Duration::from_secs(30);

/// Charges `bytes` against the process's budget from a blocking thread, waiting up to
/// [`WORKER_WAIT`]; granted without counting when no budget is installed.
pub fn charge_blocking(bytes: u64, what: &str) -> Result<Charge, BudgetError> {
    match global() {
        Some(b) => b.charge_blocking(bytes, WORKER_WAIT, what),
        None => Ok(Charge::free()),
    }
}

thread_local! {
    static HELD: std::cell::RefCell<Option<Vec<Charge>>> = const { std::cell::RefCell::new(None) };
}

/// Runs one unit of work (an analysis, a Lite request's inference) on this thread; memory
/// charged inside it with [`hold`] stays charged until it returns, because that is how long
/// the decoded images it made live.
pub fn scope<R>(work: impl FnOnce() -> R) -> R {
    let outer = HELD.with(|h| h.borrow_mut().replace(Vec::new()));
    struct Restore(Option<Vec<Charge>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let mine = HELD.with(|h| std::mem::replace(&mut *h.borrow_mut(), self.0.take()));
            drop(mine);
        }
    }
    let _restore = Restore(outer);
    work()
}

/// Keeps `charge` until the current [`scope`] ends; without a scope it is released now.
pub fn hold(charge: Charge) {
    if charge.bytes == 0 {
        return;
    }
    let kept = HELD.with(|h| match h.borrow_mut().as_mut() {
        Some(list) => {
            list.push(charge);
            None
        }
        None => Some(charge),
    });
    drop(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_bounded_released_on_drop_and_grow() {
        let b = MemoryBudget::new(10 * MB);
        let a = b.try_charge(6 * MB, "a").expect("fits");
        assert!(matches!(
            b.try_charge(5 * MB, "b"),
            Err(BudgetError::Busy { .. })
        ));
        assert!(matches!(
            b.try_charge(11 * MB, "c"),
            Err(BudgetError::TooLarge { .. })
        ));
        drop(a);
        assert_eq!(b.used(), 0);
        let mut c = b.try_charge(MB, "c").expect("fits");
        c.grow_to(4 * MB, "c").expect("grows");
        assert_eq!(b.used(), 4 * MB);
        assert!(c.grow_to(11 * MB, "c").is_err());
        assert_eq!(b.used(), 4 * MB);
        drop(c);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn a_blocked_charge_proceeds_when_memory_is_released() {
        let b = MemoryBudget::new(10 * MB);
        let a = b.try_charge(8 * MB, "a").expect("fits");
        let b2 = b.clone();
        let t = std::thread::spawn(move || {
            b2.charge_blocking(5 * MB, Duration::from_secs(10), "b")
                .map(|c| c.bytes())
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(a);
        assert_eq!(t.join().expect("thread"), Ok(5 * MB));
        let held = b.try_charge(9 * MB, "c").expect("fits");
        assert!(matches!(
            b.charge_blocking(2 * MB, Duration::from_millis(50), "d"),
            Err(BudgetError::Busy { .. })
        ));
        drop(held);
    }

    #[test]
    fn held_charges_last_until_their_scope_ends() {
        let b = MemoryBudget::new(10 * MB);
        scope(|| {
            hold(b.try_charge(3 * MB, "a").expect("fits"));
            scope(|| hold(b.try_charge(2 * MB, "b").expect("fits")));
            assert_eq!(b.used(), 3 * MB, "the inner scope released its own");
        });
        assert_eq!(b.used(), 0);
        hold(b.try_charge(MB, "c").expect("fits"));
        assert_eq!(b.used(), 0, "no scope: released at once");
    }

    #[tokio::test]
    async fn async_waiters_wake_on_release() {
        let b = MemoryBudget::new(10 * MB);
        let a = b.try_charge(8 * MB, "a").expect("fits");
        let b2 = b.clone();
        let waiter = tokio::spawn(async move {
            b2.charge(5 * MB, Duration::from_secs(10), "b")
                .await
                .is_ok()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(a);
        assert!(waiter.await.expect("task"));
    }
}
