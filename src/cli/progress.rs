//! Progress of a running pipeline, read from its [`Stats`]: a live line on a terminal, a line every few
//! seconds otherwise (or a structured log line for the daemon).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::runtime::Stats;

/// A background thread printing progress until dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// For people: a live line on a terminal, else a line every 5 s; `total` if known.
    Human { total: Option<u64> },
    /// For the daemon: an info log line every `every`.
    Log { every: Duration },
}

fn line(stats: &Stats, elapsed: Duration, total: Option<u64>) -> String {
    let pulled = Stats::get(&stats.pulled);
    let of = total.map(|t| format!("/{t}")).unwrap_or_default();
    format!(
        "pulled {pulled}{of} · stored {} · dead letters {} · {:.0} msg/s",
        Stats::get(&stats.stored),
        stats.dead_total(),
        pulled as f64 / elapsed.as_secs_f64().max(1e-3)
    )
}

impl Progress {
    pub fn start(stats: Arc<Stats>, style: Style) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let started = Instant::now();
                let tty = std::io::stderr().is_terminal();
                let (tick, every) = match style {
                    Style::Human { .. } if tty => {
                        (Duration::from_millis(250), Duration::from_millis(250))
                    }
                    Style::Human { .. } => (Duration::from_millis(250), Duration::from_secs(5)),
                    Style::Log { every } => (Duration::from_millis(250), every),
                };
                let mut last = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    if last.elapsed() < every {
                        continue;
                    }
                    last = Instant::now();
                    match style {
                        Style::Human { total } if tty => {
                            eprint!("\r{}   ", line(&stats, started.elapsed(), total))
                        }
                        Style::Human { total } => {
                            eprintln!("{}", line(&stats, started.elapsed(), total))
                        }
                        Style::Log { .. } => tracing::info!(
                            pulled = Stats::get(&stats.pulled),
                            stored = Stats::get(&stats.stored),
                            dead_letters = stats.dead_total(),
                            transient_errors = Stats::get(&stats.transient_errors),
                            errors = Stats::get(&stats.other_errors),
                            spool_bytes = Stats::get(&stats.spool_bytes),
                            store_retries = Stats::get(&stats.store_retries),
                            "progress"
                        ),
                    }
                }
                if tty && matches!(style, Style::Human { .. }) {
                    eprintln!(
                        "\r{}   ",
                        line(
                            &stats,
                            started.elapsed(),
                            match style {
                                Style::Human { total } => total,
                                Style::Log { .. } => None,
                            }
                        )
                    );
                }
            })
            .ok();
        Progress { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
