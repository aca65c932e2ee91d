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

/// The progress line. Once every message of a known `total` is stored or a dead letter, the rate
/// stays that of the text (`text_done` is when that happened) rather than falling while the media
/// is still fetched, and the line says so.
fn line(
    stats: &Stats,
    elapsed: Duration,
    total: Option<u64>,
    text_done: Option<Duration>,
) -> String {
    let pulled = Stats::get(&stats.pulled);
    let of = total.map(|t| format!("/{t}")).unwrap_or_default();
    let secs = text_done.unwrap_or(elapsed).as_secs_f64().max(1e-3);
    let mut line = format!(
        "pulled {pulled}{of} · stored {} · dead letters {} · {:.0} msg/s",
        Stats::get(&stats.stored),
        stats.dead_total(),
        pulled as f64 / secs
    );
    if text_done.is_some() {
        line.push_str(" (text done)");
    }
    let m = &stats.media;
    let attachments = Stats::get(&m.files) + Stats::get(&m.deduplicated) + Stats::get(&m.dead);
    if attachments > 0 {
        line.push_str(&format!(
            " · media {attachments} attachment(s), {:.1} MiB downloaded",
            Stats::get(&m.bytes) as f64 / (1024.0 * 1024.0)
        ));
    }
    line
}

/// Whether every message of `total` is stored or a dead letter.
fn text_finished(stats: &Stats, total: Option<u64>) -> bool {
    total.is_some_and(|t| Stats::get(&stats.stored) + stats.dead_total() >= t)
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
                let total = match style {
                    Style::Human { total } => total,
                    Style::Log { .. } => None,
                };
                let mut text_done = None;
                let mut last = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    if text_done.is_none() && text_finished(&stats, total) {
                        text_done = Some(started.elapsed());
                    }
                    if last.elapsed() < every {
                        continue;
                    }
                    last = Instant::now();
                    match style {
                        Style::Human { .. } if tty => {
                            eprint!("\r{}   ", line(&stats, started.elapsed(), total, text_done))
                        }
                        Style::Human { .. } => {
                            eprintln!("{}", line(&stats, started.elapsed(), total, text_done))
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
                    eprintln!("\r{}   ", line(&stats, started.elapsed(), total, text_done));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_stays_the_texts_once_it_is_done_and_media_is_shown() {
        let stats = Stats::default();
        Stats::add(&stats.pulled, 10);
        Stats::add(&stats.stored, 8);
        Stats::add(&stats.dead[0], 2);
        assert!(text_finished(&stats, Some(10)));
        assert!(!text_finished(&stats, Some(11)));
        assert!(
            !text_finished(&stats, None),
            "a daemon's text is never done"
        );
        let secs = Duration::from_secs;
        assert_eq!(
            line(&stats, secs(2), Some(10), None),
            "pulled 10/10 · stored 8 · dead letters 2 · 5 msg/s"
        );
        Stats::add(&stats.media.files, 2);
        Stats::add(&stats.media.deduplicated, 1);
        Stats::add(&stats.media.bytes, 1 << 20);
        assert_eq!(
            line(&stats, secs(20), Some(10), Some(secs(2))),
            "pulled 10/10 · stored 8 · dead letters 2 · 5 msg/s (text done) · media 3 attachment(s), 1.0 MiB downloaded"
        );
    }
}
