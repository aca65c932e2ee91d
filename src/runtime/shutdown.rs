//! Graceful shutdown: one token per process, cloned to every part. [`Shutdown::request`] wakes
//! every waiter at once — threads asleep in [`Shutdown::sleep`] (a condition variable) and tasks
//! awaiting [`Shutdown::requested`] (a tokio `Notify`) — so no part polls a flag.
//!
//! SIGINT and SIGTERM request it ([`Shutdown::install_signal_handlers`]); a signal that arrives
//! once shutdown is already requested exits at once. That is safe: a batch and its checkpoint commit
//! together or not at all, and alerts wait in the durable outbox.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The process's stop request.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requested: AtomicBool,
    /// Guards nothing but the wake-up: `request` takes it before notifying, so a sleeper that has
    /// checked the flag under it cannot miss the notification.
    lock: Mutex<()>,
    wake: Condvar,
    notify: tokio::sync::Notify,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks every part to stop, and wakes every waiter.
    pub fn request(&self) {
        if self.inner.requested.swap(true, Ordering::SeqCst) {
            return;
        }
        let _guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.wake.notify_all();
        self.inner.notify.notify_waiters();
    }

    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d`, waking at once on shutdown; returns false if shutdown was requested.
    pub fn sleep(&self, d: Duration) -> bool {
        let guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        let (_guard, _) = self
            .inner
            .wake
            .wait_timeout_while(guard, d, |_| !self.is_requested())
            .unwrap_or_else(|p| p.into_inner());
        !self.is_requested()
    }

    /// Completes once shutdown is requested (for async servers' graceful shutdown).
    pub async fn requested(&self) {
        loop {
            let mut notified = std::pin::pin!(self.inner.notify.notified());
            // Registered before the check, so a request in between is not missed.
            notified.as_mut().enable();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }

    /// Requests shutdown on SIGINT and SIGTERM; a signal once it is requested exits the process
    /// at once with status 130.
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let token = self.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    if token.is_requested() {
                        signal_hook::low_level::exit(130);
                    }
                    tracing::info!(signal, "shutdown requested; a second signal exits at once");
                    token.request();
                }
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_request_wakes_a_sleeping_thread_at_once() {
        let token = Shutdown::new();
        let sleeper = {
            let token = token.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (token.sleep(Duration::from_secs(60)), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        token.request();
        let (slept_through, waited) = sleeper.join().expect("sleeper");
        assert!(!slept_through);
        assert!(waited < Duration::from_secs(30), "woke after {waited:?}");
    }

    #[test]
    fn a_sleep_without_a_request_runs_its_course() {
        assert!(Shutdown::new().sleep(Duration::from_millis(5)));
    }

    #[test]
    fn sleep_after_a_request_returns_at_once() {
        let token = Shutdown::new();
        token.request();
        token.request();
        assert!(!token.sleep(Duration::from_secs(60)));
    }

    #[test]
    fn a_request_wakes_an_async_waiter() {
        let token = Shutdown::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let other = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.request();
        });
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), token.requested())
                .await
                .expect("woken");
        });
    }
}
