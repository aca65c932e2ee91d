//! Graceful shutdown: one flag, set by SIGINT/SIGTERM (or a test), checked by every stage between
//! units of work. A second signal exits at once — safe, because a batch and its checkpoint commit
//! together or not at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A shared stop request.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks every stage to stop.
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d`, waking early on shutdown; returns false if shutdown was requested.
    pub fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while !self.is_requested() {
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
        false
    }

    /// Sets the flag on SIGINT and SIGTERM; a second signal terminates the process immediately.
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 130, self.flag.clone())?;
            signal_hook::flag::register(sig, self.flag.clone())?;
        }
        Ok(())
    }
}
