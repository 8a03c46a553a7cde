//! systemd integration: READY/STOPPING notifications and the watchdog heartbeat. Every call is
//! a no-op when the process was not started by systemd (no `NOTIFY_SOCKET`).

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the service is up (after the socket is bound and the models are loaded).
pub fn ready(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the service is shutting down.
pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// When the unit sets `WatchdogSec=`, pings the watchdog at half the interval from the async
/// runtime: if the runtime stalls, the pings stop and systemd restarts the service.
pub fn spawn_watchdog() {
    if let Some(interval) = sd_notify::watchdog_enabled() {
        let period = (interval / 2).max(Duration::from_millis(500));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(&[NotifyState::Watchdog]);
            }
        });
    }
}
