//! Connection slots and their deadlines.
//!
//! A slot is held from `accept` until the socket closes, so a client that opens connections and
//! sends nothing (or half an HTTP/2 preface, or a request head and then no body) could fill
//! every slot and keep everyone else out. Three rules stop that:
//!
//! * **Deadlines on every phase.** A connection with no request in progress is closed once it
//!   has been idle too long: `server.header_read_timeout_secs` before its first request is
//!   under way (first byte, protocol detection, request head, whatever the protocol), and
//!   `server.keep_alive_secs` between requests. While a response is being sent, a client that
//!   reads nothing for `server.send_stall_secs` is closed. Request bodies have a per-chunk
//!   deadline of their own (see `body.rs`).
//! * **A share per client address.** One address holds at most
//!   `server.max_connections_per_client` slots; more connections from it are closed at once.
//! * **Idle connections make room.** When every slot is taken, the connection that has been
//!   idle longest (no request in progress) is closed to admit the new one, so a full server
//!   still answers a client that sends its request at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::http::body::SendGuard;

/// The deadlines of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// From accept until the first request is being handled.
    pub first_request: Duration,
    /// Between two requests on a kept-alive connection.
    pub keep_alive: Duration,
    /// While a response is sent, the longest time without the client reading anything.
    pub send_stall: Duration,
}

/// What the watchdog knows about one open connection.
pub struct ConnState {
    id: u64,
    peer: IpAddr,
    origin: Instant,
    /// Handlers running plus response bodies not yet sent, on this connection.
    busy: AtomicUsize,
    /// Response bodies not yet sent (a subset of `busy`).
    sending: AtomicUsize,
    /// Whether any request reached a handler.
    served: AtomicBool,
    /// Milliseconds since `origin` when the connection last became idle.
    idle_since_ms: AtomicU64,
    /// Milliseconds since `origin` of the last byte written to the client.
    last_write_ms: AtomicU64,
    kill: Notify,
}

impl ConnState {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Marks a request as under way until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.served.store(true, Ordering::Relaxed);
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy {
            conn: self.clone(),
            sending: false,
        }
    }

    fn end(&self, sending: bool) {
        if sending {
            self.sending.fetch_sub(1, Ordering::AcqRel);
        }
        self.idle_since_ms.store(self.now_ms(), Ordering::Relaxed);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.idle_since_ms.load(Ordering::Relaxed);
        Some(Duration::from_millis(self.now_ms().saturating_sub(since)))
    }

    /// Why the connection should close now, if it should.
    fn expired(&self, d: &Deadlines) -> Option<&'static str> {
        if let Some(idle) = self.idle_for() {
            let served = self.served.load(Ordering::Relaxed);
            let limit = if served {
                d.keep_alive
            } else {
                d.first_request
            };
            if idle >= limit {
                return Some(if served {
                    "idle keep-alive"
                } else {
                    "no request in time"
                });
            }
            return None;
        }
        if self.sending.load(Ordering::Acquire) > 0 && self.busy.load(Ordering::Acquire) > 0 {
            let last = self.last_write_ms.load(Ordering::Relaxed);
            let stalled = Duration::from_millis(self.now_ms().saturating_sub(last));
            // Only when every busy request is sending: a handler still computing has not
            // written yet, and that is no stall.
            let all_sending =
                self.sending.load(Ordering::Acquire) >= self.busy.load(Ordering::Acquire);
            if all_sending && stalled >= d.send_stall {
                return Some("client stopped reading the response");
            }
        }
        None
    }

    /// Resolves when the connection should be closed: a deadline passed or it was evicted.
    pub async fn watchdog(self: Arc<Self>, d: Deadlines) -> &'static str {
        let tick = Duration::from_millis(250);
        loop {
            if let Some(why) = self.expired(&d) {
                return why;
            }
            tokio::select! {
                _ = self.kill.notified() => return "evicted to make room",
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }
}

/// A request in progress; dropping it (handler finished, or its body was sent) ends it.
pub struct Busy {
    conn: Arc<ConnState>,
    sending: bool,
}

impl Busy {
    /// The handler has answered; from now on this guard stands for the response body being
    /// sent (it travels inside the body and is dropped when hyper has written it).
    pub fn into_send_guard(mut self) -> Box<dyn SendGuard> {
        self.sending = true;
        self.conn.sending.fetch_add(1, Ordering::AcqRel);
        self.conn
            .last_write_ms
            .store(self.conn.now_ms(), Ordering::Relaxed);
        Box::new(self)
    }
}

impl SendGuard for Busy {}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn.end(self.sending);
    }
}

/// The table of open connections.
pub struct Slots {
    inner: Mutex<Table>,
    released: Notify,
    max: usize,
    per_client: usize,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Arc<ConnState>>,
    per_peer: HashMap<IpAddr, usize>,
}

/// Why a new connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its address already holds its share of the slots.
    ClientShare,
}

/// A held slot; dropping it frees the slot.
pub struct Slot {
    slots: Arc<Slots>,
    pub state: Arc<ConnState>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.slots.lock();
        t.open.remove(&self.state.id);
        if let Some(n) = t.per_peer.get_mut(&self.state.peer) {
            *n -= 1;
            if *n == 0 {
                t.per_peer.remove(&self.state.peer);
            }
        }
        drop(t);
        self.slots.released.notify_waiters();
    }
}

impl Slots {
    /// `max` slots in all, at most `per_client` for one address.
    pub fn new(max: usize, per_client: usize) -> Arc<Slots> {
        Arc::new(Slots {
            inner: Mutex::new(Table::default()),
            released: Notify::new(),
            max: max.max(1),
            per_client: per_client.clamp(1, max.max(1)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // The table stays consistent under a panic elsewhere: every update is one statement.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().open.len()
    }

    /// Admits a connection from `peer`: refused when its address holds its share; when every
    /// slot is taken, the longest-idle connection is told to close, or this waits for a slot
    /// if none is idle.
    pub async fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        loop {
            let released = self.released.notified();
            {
                let mut t = self.lock();
                if t.per_peer.get(&peer).copied().unwrap_or(0) >= self.per_client {
                    return Err(Refused::ClientShare);
                }
                let full = t.open.len() >= self.max;
                let evict = if full { longest_idle(&t) } else { None };
                if !full || evict.is_some() {
                    if let Some(victim) = evict {
                        // It closes on its own task; the table is over by one until then.
                        victim.kill.notify_one();
                        t.open.remove(&victim.id);
                    }
                    t.next_id += 1;
                    let state = Arc::new(ConnState {
                        id: t.next_id,
                        peer,
                        origin: Instant::now(),
                        busy: AtomicUsize::new(0),
                        sending: AtomicUsize::new(0),
                        served: AtomicBool::new(false),
                        idle_since_ms: AtomicU64::new(0),
                        last_write_ms: AtomicU64::new(0),
                        kill: Notify::new(),
                    });
                    t.open.insert(state.id, state.clone());
                    *t.per_peer.entry(peer).or_insert(0) += 1;
                    return Ok(Slot {
                        slots: self.clone(),
                        state,
                    });
                }
            }
            // Every slot is busy with a request: wait for one to end (or become idle).
            tokio::select! {
                _ = released => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }
}

fn longest_idle(t: &Table) -> Option<Arc<ConnState>> {
    t.open
        .values()
        .filter_map(|c| c.idle_for().map(|d| (d, c)))
        .max_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// A socket that records when bytes were written to it, for the send-stall deadline.
pub struct Watched<T> {
    inner: T,
    state: Arc<ConnState>,
}

impl<T> Watched<T> {
    /// Wraps `inner` for the connection `state`.
    pub fn new(inner: T, state: Arc<ConnState>) -> Self {
        Watched { inner, state }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            let now = self.state.now_ms();
            self.state.last_write_ms.store(now, Ordering::Relaxed);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            let now = self.state.now_ms();
            self.state.last_write_ms.store(now, Ordering::Relaxed);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Deadlines {
        Deadlines {
            first_request: Duration::from_millis(ms),
            keep_alive: Duration::from_millis(ms * 2),
            send_stall: Duration::from_millis(ms),
        }
    }

    #[tokio::test]
    async fn a_share_per_client_and_idle_connections_make_room() {
        let slots = Slots::new(2, 1);
        let a: IpAddr = "127.0.0.2".parse().expect("ip");
        let b: IpAddr = "127.0.0.3".parse().expect("ip");
        let c: IpAddr = "127.0.0.4".parse().expect("ip");
        let sa = slots.admit(a).await.expect("first from a");
        assert_eq!(slots.admit(a).await.err(), Some(Refused::ClientShare));
        let sb = slots.admit(b).await.expect("first from b");
        let busy = sb.state.begin();
        // Full: the idle connection of `a` is evicted for `c`; the busy one of `b` is not.
        let sc = slots.admit(c).await.expect("room made");
        let why =
            tokio::time::timeout(Duration::from_secs(1), sa.state.clone().watchdog(d(60_000)))
                .await
                .expect("the evicted connection is told to close");
        assert_eq!(why, "evicted to make room");
        assert_eq!(busy.conn.busy.load(Ordering::Acquire), 1);
        drop((sa, sb, sc, busy));
        assert_eq!(slots.open(), 0);
    }

    #[tokio::test]
    async fn idle_and_stalled_connections_expire() {
        let slots = Slots::new(4, 4);
        let s = slots
            .admit("127.0.0.2".parse().expect("ip"))
            .await
            .expect("slot");
        let why = s.state.clone().watchdog(d(50)).await;
        assert_eq!(why, "no request in time");
        let busy = s.state.begin();
        assert_eq!(
            s.state.expired(&d(0)),
            None,
            "a running handler is not idle"
        );
        let guard = busy.into_send_guard();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            s.state.expired(&d(50)),
            Some("client stopped reading the response")
        );
        drop(guard);
        assert_eq!(s.state.expired(&d(50)), None, "just became idle");
    }
}
