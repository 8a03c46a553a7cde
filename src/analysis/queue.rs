//! The bounded in-memory queue feeding the worker threads, and the completion signals single
//! requests wait on.
//!
//! Capacity is checked BEFORE the request's transaction commits: a request first reserves
//! slots ([`Queue::reserve`]); if the queue is full it answers 503 and stores nothing. After the
//! commit it pushes into its reservation. Jobs recovered at start bypass the capacity (they are
//! already on disk, so the queue cannot grow beyond what the store holds).
//!
//! The queue also knows which stored jobs are *in hand*: waiting, running, or waiting for a
//! retry. A committed job that is not in hand was lost on its way to the queue (whatever the
//! cause); the periodic reconciliation finds it in the store and pushes it again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex};

use uuid::Uuid;

use crate::analysis::instant::InstantTask;

/// Work for a worker thread.
pub enum Task {
    /// A persisted analysis (its job row is in the store).
    Stored(Uuid),
    /// An instant-mode analysis: nothing persisted, result sent back.
    Instant(Box<InstantTask>),
}

#[derive(Default)]
struct Inner {
    items: VecDeque<Task>,
    reserved: usize,
    /// Stored jobs waiting, running or waiting for a retry.
    in_hand: HashSet<Uuid>,
}

impl Inner {
    fn take_in_hand(&mut self, tasks: &[Task]) {
        for t in tasks {
            if let Task::Stored(id) = t {
                self.in_hand.insert(*id);
            }
        }
    }
}

/// The queue is full; the caller answers 503.
#[derive(Debug, thiserror::Error)]
#[error("the analysis queue is full ({capacity} analyses waiting); retry later")]
pub struct QueueFull {
    pub capacity: usize,
}

/// Bounded FIFO of tasks.
pub struct Queue {
    inner: Mutex<Inner>,
    ready: Condvar,
    capacity: usize,
}

/// Slots reserved for a request; released on drop unless filled.
pub struct Reservation<'a> {
    queue: &'a Queue,
    slots: usize,
}

impl Queue {
    /// A queue that holds at most `capacity` waiting tasks (reservations included).
    pub fn new(capacity: usize) -> Queue {
        Queue {
            inner: Mutex::new(Inner::default()),
            ready: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves `n` slots, or fails when they would exceed the capacity. Reserving nothing
    /// always succeeds: a request without analyses adds no work, even when jobs recovered at
    /// start hold the queue above its capacity.
    pub fn reserve(&self, n: usize) -> Result<Reservation<'_>, QueueFull> {
        if n == 0 {
            return Ok(Reservation {
                queue: self,
                slots: 0,
            });
        }
        let mut g = self.lock();
        if g.items.len() + g.reserved + n > self.capacity {
            return Err(QueueFull {
                capacity: self.capacity,
            });
        }
        g.reserved += n;
        Ok(Reservation {
            queue: self,
            slots: n,
        })
    }

    /// Pushes tasks ignoring the capacity: jobs recovered at start or by reconciliation (they
    /// are already on disk). Stored jobs already in hand are skipped, so a job never runs
    /// twice at once. Returns how many were pushed.
    pub fn push_recovered(&self, tasks: Vec<Task>) -> usize {
        let mut g = self.lock();
        let fresh: Vec<Task> = tasks
            .into_iter()
            .filter(|t| !matches!(t, Task::Stored(id) if g.in_hand.contains(id)))
            .collect();
        let n = fresh.len();
        g.take_in_hand(&fresh);
        g.items.extend(fresh);
        drop(g);
        self.ready.notify_all();
        n
    }

    /// Pushes a stored job that stayed in hand while it waited for a retry (its result could
    /// not be stored), ignoring the capacity.
    pub fn requeue(&self, id: Uuid) {
        let mut g = self.lock();
        g.in_hand.insert(id);
        g.items.push_back(Task::Stored(id));
        drop(g);
        self.ready.notify_all();
    }

    /// A stored job's run ended (its result is stored, or it was dropped): no longer in hand.
    pub fn finished(&self, id: Uuid) {
        self.lock().in_hand.remove(&id);
    }

    /// Whether a stored job is waiting, running or waiting for a retry.
    pub fn in_hand(&self, id: Uuid) -> bool {
        self.lock().in_hand.contains(&id)
    }

    /// Blocks until a task is available.
    pub fn pop(&self) -> Task {
        let mut g = self.lock();
        loop {
            if let Some(t) = g.items.pop_front() {
                return t;
            }
            g = self.ready.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Tasks waiting (not yet taken by a worker).
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether no task is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Reservation<'_> {
    /// Fills the reservation (at most the reserved number of tasks is accepted).
    pub fn push(mut self, tasks: Vec<Task>) {
        let mut g = self.queue.lock();
        g.reserved -= self.slots;
        let n = tasks.len();
        g.take_in_hand(&tasks);
        g.items.extend(tasks);
        self.slots = 0;
        drop(g);
        if n > 0 {
            self.queue.ready.notify_all();
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.slots > 0 {
            let mut g = self.queue.lock();
            g.reserved -= self.slots;
        }
    }
}

/// Completion signals: a single request registers the analyses it waits for; the worker that
/// stores a result wakes the waiters.
#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<Uuid, Vec<tokio::sync::oneshot::Sender<()>>>>,
}

impl Waiters {
    /// Registers interest in `id`; the receiver resolves when its result is stored.
    pub fn register(&self, id: Uuid) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_default()
            .push(tx);
        rx
    }

    /// Wakes everyone waiting for `id`.
    pub fn notify(&self, id: Uuid) {
        let senders = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        for s in senders.into_iter().flatten() {
            let _ = s.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_bound_the_queue_and_release_on_drop() {
        let q = Queue::new(2);
        let r = q.reserve(2).expect("room");
        assert!(q.reserve(1).is_err());
        drop(r);
        let r = q.reserve(1).expect("released");
        r.push(vec![Task::Stored(Uuid::nil())]);
        assert_eq!(q.len(), 1);
        assert!(q.reserve(2).is_err());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        q.push_recovered(vec![Task::Stored(a), Task::Stored(b)]);
        assert_eq!(q.len(), 3);
        assert!(matches!(q.pop(), Task::Stored(_)));
    }

    #[test]
    fn jobs_in_hand_are_not_pushed_twice_until_finished() {
        let q = Queue::new(4);
        let id = Uuid::new_v4();
        q.reserve(1).expect("room").push(vec![Task::Stored(id)]);
        assert!(q.in_hand(id));
        assert_eq!(
            q.push_recovered(vec![Task::Stored(id)]),
            0,
            "already queued"
        );
        assert!(matches!(q.pop(), Task::Stored(x) if x == id));
        assert_eq!(q.push_recovered(vec![Task::Stored(id)]), 0, "running");
        q.finished(id);
        assert!(!q.in_hand(id));
        assert_eq!(
            q.push_recovered(vec![Task::Stored(id)]),
            1,
            "lost, found again"
        );
    }

    #[test]
    fn an_empty_reservation_succeeds_above_capacity() {
        let q = Queue::new(1);
        q.push_recovered(vec![
            Task::Stored(Uuid::new_v4()),
            Task::Stored(Uuid::new_v4()),
        ]);
        assert_eq!(q.len(), 2);
        assert!(q.reserve(1).is_err());
        let r = q
            .reserve(0)
            .expect("an upload without analyses needs no slot");
        r.push(Vec::new());
        assert_eq!(q.len(), 2);
        assert!(q.reserve(1).is_err());
    }
}
