//! The operator's view: the daemon's counters in Prometheus's text format, served at `/metrics` by
//! axum on a listener of its own (one thread, one short answer per scrape), and the same figures
//! for `msgaudit status`.
//!
//! Per corp: the last seq pulled and stored, messages in flight (pulled, not yet stored), where it
//! stands against the archive's head (caught up, behind, failing; see [`crate::runtime::Lag`]), its
//! lag in messages and in the age of the oldest unpulled message, what is left of WeCom's five-day
//! retention, the age of its newest stored message, messages pulled and stored, dead letters by
//! reason and SDK errors by code. Overall: the spool (bytes waiting, limit, paused, writes), the
//! alert backlog, store retries and hits, and the media archive (jobs by state, the oldest pending
//! against retention, files and bytes stored, the dedup ratio, failures by reason, what the
//! fetchers did). `/corps` answers every corp's figures as JSON for `msgaudit status`.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::media_figures::{MediaFigures, Plan};
use crate::runtime::{PullState, RETENTION_MS, Shutdown, Stats};
use crate::store::{MediaSummary, Store};
use crate::timefmt::now_ms;

/// Prometheus label value escaping.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One per-corp gauge or counter: name, type, help, and how to read it (given the time in ms).
type CorpMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::runtime::CorpStats, i64) -> f64,
);

/// What a scrape reads from the store (each `None` when the store could not say).
#[derive(Debug, Clone, Default)]
pub struct StoreFigures {
    pub alert_backlog: Option<u64>,
    pub media: Option<MediaSummary>,
    /// How old `media` is (it is read again only as often as it is worth: `media_figures.rs`).
    pub media_age: Option<std::time::Duration>,
}

/// The metrics text for `stats` and the store's figures.
pub fn render(stats: &Stats, store: &StoreFigures) -> String {
    let alert_backlog = store.alert_backlog;
    let corps = stats.corps();
    let now = now_ms();
    let mut out = String::with_capacity(4096);
    let per_corp: [CorpMetric; 11] = [
        (
            "msgaudit_corp_pulled_seq",
            "gauge",
            "Last seq pulled from the SDK (with the spool on: once fsync'd there).",
            |c, _| c.pulled_seq as f64,
        ),
        (
            "msgaudit_corp_stored_seq",
            "gauge",
            "Last seq stored (the checkpoint).",
            |c, _| c.stored_seq as f64,
        ),
        (
            "msgaudit_corp_in_flight_messages",
            "gauge",
            "Messages pulled but not yet stored.",
            |c, _| c.pulled_seq.saturating_sub(c.stored_seq) as f64,
        ),
        (
            "msgaudit_corp_lag_messages",
            "gauge",
            "Messages the store is behind the archive's head: in flight plus, for a corp behind, an estimate of the unpulled ones at its own rate (-1: not known yet).",
            |c, now| c.lag(now).messages().map_or(-1.0, |n| n as f64),
        ),
        (
            "msgaudit_corp_caught_up",
            "gauge",
            "1 when the last pull came back short: everything the archive had was pulled.",
            |c, _| f64::from(u8::from(c.state() == PullState::CaughtUp)),
        ),
        (
            "msgaudit_corp_catching_up",
            "gauge",
            "1 while the last pull came back full (more is waiting in the archive).",
            |c, _| f64::from(u8::from(c.catching_up)),
        ),
        (
            "msgaudit_corp_failing_calls",
            "gauge",
            "GetChatData calls failed in a row (3 or more: the corp is failing).",
            |c, _| f64::from(c.failing_calls),
        ),
        (
            "msgaudit_corp_lag_seconds",
            "gauge",
            "Age of the oldest message not yet pulled, at most (caught up: the time since the last pull; -1 before the first pull); WeCom keeps about 5 days (432000 s).",
            |c, now| {
                c.lag(now)
                    .oldest_unpulled_ms
                    .map_or(-1.0, |ms| ms as f64 / 1000.0)
            },
        ),
        (
            "msgaudit_corp_retention_left_seconds",
            "gauge",
            "WeCom's 5-day retention minus the age of the oldest unpulled message: at 0 messages start to expire.",
            |c, now| {
                c.lag(now)
                    .retention_left_ms()
                    .map_or(RETENTION_MS as f64 / 1000.0, |ms| ms as f64 / 1000.0)
            },
        ),
        (
            "msgaudit_corp_newest_stored_age_seconds",
            "gauge",
            "Age of the newest stored message (an idle corp's grows; it is not lag).",
            |c, now| {
                if c.newest_stored_ms > 0 {
                    ((now - c.newest_stored_ms).max(0) as f64) / 1000.0
                } else {
                    0.0
                }
            },
        ),
        (
            "msgaudit_corp_messages_pulled_total",
            "counter",
            "Messages pulled since start.",
            |c, _| c.pulled as f64,
        ),
    ];
    let stored_total: CorpMetric = (
        "msgaudit_corp_messages_stored_total",
        "counter",
        "Messages newly stored since start (use rate() for messages/s).",
        |c, _| c.stored as f64,
    );
    for (name, kind, help, value) in per_corp.into_iter().chain([stored_total]) {
        family(&mut out, name, kind, help);
        for (corp, c) in &corps {
            let _ = writeln!(out, "{name}{{corp=\"{}\"}} {}", label(corp), value(c, now));
        }
    }
    family(
        &mut out,
        "msgaudit_corp_dead_letters_total",
        "counter",
        "Dead letters stored since start, by reason.",
    );
    for (corp, c) in &corps {
        for (reason, n) in &c.dead {
            let _ = writeln!(
                out,
                "msgaudit_corp_dead_letters_total{{corp=\"{}\",reason=\"{reason}\"}} {n}",
                label(corp)
            );
        }
    }
    family(
        &mut out,
        "msgaudit_corp_sdk_errors_total",
        "counter",
        "SDK errors since start, by code (10001-10003 are transient).",
    );
    for (corp, c) in &corps {
        for (code, n) in &c.sdk_errors {
            let _ = writeln!(
                out,
                "msgaudit_corp_sdk_errors_total{{corp=\"{}\",code=\"{code}\"}} {n}",
                label(corp)
            );
        }
    }
    let spool: [(&str, &str, &str, &AtomicU64); 6] = [
        (
            "msgaudit_spool_bytes",
            "gauge",
            "Bytes of pulled batches in the spool waiting for the store.",
            &stats.spool_bytes,
        ),
        (
            "msgaudit_spool_limit_bytes",
            "gauge",
            "Spool bytes at which pulling pauses ([spool] max_mb; 0 without a spool).",
            &stats.spool_limit_bytes,
        ),
        (
            "msgaudit_spool_full",
            "gauge",
            "1 while pulling is paused because the spool is at its limit.",
            &stats.spool_full,
        ),
        (
            "msgaudit_spool_written_bytes_total",
            "counter",
            "Bytes written to the spool since start (fsync'd).",
            &stats.spool_written_bytes,
        ),
        (
            "msgaudit_spool_errors_total",
            "counter",
            "Failed spool writes (disk full, permissions); retried.",
            &stats.spool_errors,
        ),
        (
            "msgaudit_spool_replayed_batches_total",
            "counter",
            "Batches a previous run left in the spool, replayed to the store.",
            &stats.spool_replayed,
        ),
    ];
    for (name, kind, help, value) in spool {
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {}", Stats::get(value));
    }
    family(
        &mut out,
        "msgaudit_store_retries_total",
        "counter",
        "Failed attempts to store a batch (the store slow or down).",
    );
    let _ = writeln!(
        out,
        "msgaudit_store_retries_total {}",
        Stats::get(&stats.store_retries)
    );
    family(
        &mut out,
        "msgaudit_hits_total",
        "counter",
        "Strategy hits newly stored since start.",
    );
    let _ = writeln!(out, "msgaudit_hits_total {}", Stats::get(&stats.hits));
    family(
        &mut out,
        "msgaudit_behaviour_hits_total",
        "counter",
        "Behaviour hits newly stored since start.",
    );
    let _ = writeln!(
        out,
        "msgaudit_behaviour_hits_total {}",
        Stats::get(&stats.act_hits)
    );
    if let Some((backend, reason)) = stats.rsa_backend.get() {
        family(
            &mut out,
            "msgaudit_rsa_backend",
            "gauge",
            "The RSA implementation recovering random keys (1), with why it was chosen.",
        );
        let _ = writeln!(
            out,
            "msgaudit_rsa_backend{{backend=\"{}\",reason=\"{}\"}} 1",
            label(backend),
            label(reason)
        );
    }
    if let Some(n) = alert_backlog {
        family(
            &mut out,
            "msgaudit_alert_backlog",
            "gauge",
            "Hits whose alert is not settled yet (send_status 0).",
        );
        let _ = writeln!(out, "msgaudit_alert_backlog {n}");
    }
    render_media(&mut out, stats, store.media.as_ref());
    if let Some(age) = store.media_age {
        family(
            &mut out,
            "msgaudit_media_summary_age_seconds",
            "gauge",
            "How old the media jobs' and files' figures are: on a big store they are read again only every 20 times what a read takes.",
        );
        let _ = writeln!(
            out,
            "msgaudit_media_summary_age_seconds {:.3}",
            age.as_secs_f64()
        );
    }
    out
}

/// The media archive's figures: the fetchers' counters, and the store's summary when known.
fn render_media(out: &mut String, stats: &Stats, summary: Option<&MediaSummary>) {
    let m = &stats.media;
    let counters: [(&str, &str, &str, &AtomicU64); 8] = [
        (
            "msgaudit_media_fetched_files_total",
            "counter",
            "Media files downloaded and stored since start (new content).",
            &m.files,
        ),
        (
            "msgaudit_media_fetched_bytes_total",
            "counter",
            "Media bytes downloaded since start (use rate() for the fetch rate).",
            &m.bytes,
        ),
        (
            "msgaudit_media_deduplicated_total",
            "counter",
            "Media jobs done without storing anything new (same md5 and size already stored).",
            &m.deduplicated,
        ),
        (
            "msgaudit_media_retries_total",
            "counter",
            "Media attempts that failed and will be retried.",
            &m.retries,
        ),
        (
            "msgaudit_media_dead_total",
            "counter",
            "Media jobs given up since start (see msgaudit_media_dead_jobs by reason).",
            &m.dead,
        ),
        (
            "msgaudit_media_qr_hits_total",
            "counter",
            "发送二维码 hits found in images since start.",
            &m.qr_hits,
        ),
        (
            "msgaudit_media_playable_total",
            "counter",
            "Voice files given a browser-playable copy since start.",
            &m.playable,
        ),
        (
            "msgaudit_media_paused",
            "gauge",
            "1 while fetching is paused at the media quota.",
            &m.paused,
        ),
    ];
    for (name, kind, help, value) in counters {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {}", Stats::get(value));
    }
    let Some(s) = summary else {
        return;
    };
    family(out, "msgaudit_media_jobs", "gauge", "Media jobs by state.");
    for (state, n) in [("pending", s.pending), ("done", s.done), ("dead", s.dead)] {
        let _ = writeln!(out, "msgaudit_media_jobs{{status=\"{state}\"}} {n}");
    }
    family(
        out,
        "msgaudit_media_dead_jobs",
        "gauge",
        "Dead media jobs by reason (msgaudit media list --status dead).",
    );
    for (reason, n) in &s.dead_by_reason {
        let _ = writeln!(
            out,
            "msgaudit_media_dead_jobs{{reason=\"{}\"}} {n}",
            label(reason)
        );
    }
    let age = s.oldest_pending_ms.map_or(0, |t| (now_ms() - t).max(0));
    let gauges: [(&str, &str, f64); 6] = [
        (
            "msgaudit_media_oldest_pending_age_seconds",
            "Age of the message of the oldest pending media job (0: none pending).",
            age as f64 / 1000.0,
        ),
        (
            "msgaudit_media_retention_left_seconds",
            "WeCom's 5-day retention minus the oldest pending job's age: at 0 its media starts to expire.",
            (RETENTION_MS - age).max(0) as f64 / 1000.0,
        ),
        (
            "msgaudit_media_stored_files",
            "Distinct media files stored (one per md5 and size).",
            s.files as f64,
        ),
        (
            "msgaudit_media_stored_bytes",
            "Bytes of media stored.",
            s.bytes as f64,
        ),
        (
            "msgaudit_media_playable_files",
            "Distinct voice files stored with a playable (MP3) copy.",
            s.playable as f64,
        ),
        (
            "msgaudit_media_dedup_ratio",
            "Bytes the done jobs point at over bytes stored (1: no duplicates).",
            if s.bytes > 0 {
                s.job_bytes as f64 / s.bytes as f64
            } else {
                1.0
            },
        ),
    ];
    for (name, help, v) in gauges {
        family(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {v}");
    }
}

/// Serves `/metrics` on `addr` until `shutdown`, on a thread of its own with a one-thread tokio
/// runtime (axum); returns the bound address once the socket is listening.
pub fn serve(
    addr: SocketAddr,
    stats: Arc<Stats>,
    store: Arc<dyn Store>,
    shutdown: Shutdown,
) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/corps", get(corps))
        .fallback(|| async { (StatusCode::NOT_FOUND, "see /metrics or /corps\n") })
        .with_state(Scrape {
            stats,
            store,
            media: Arc::new(MediaFigures::default()),
        });
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let served = runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move { shutdown.requested().await })
                    .await
            });
            if let Err(e) = served {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        })?;
    Ok(bound)
}

/// One corp's live figures, as `/corps` answers them (and `msgaudit status` reads them).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LiveCorp {
    pub corp_id: String,
    /// `caught_up`, `behind`, `failing` or `starting` ([`PullState`]).
    pub state: String,
    pub pulled_seq: u64,
    pub stored_seq: u64,
    pub in_flight: u64,
    /// In flight plus the estimated unpulled messages (None: not known yet).
    pub lag_messages: Option<u64>,
    /// Age of the oldest unpulled message, ms (0 when caught up; None: not known).
    pub oldest_unpulled_ms: Option<i64>,
    pub near_retention: bool,
    /// Epoch ms (0: none yet).
    pub newest_stored_ms: i64,
    pub last_pull_ms: i64,
    pub head_seen_ms: i64,
    pub failing_calls: u32,
    /// SDK errors since start, by code.
    pub sdk_errors: std::collections::BTreeMap<i64, u64>,
}

/// Every corp's live figures at `now`.
pub fn live_corps(stats: &Stats, now: i64) -> Vec<LiveCorp> {
    stats
        .corps()
        .into_iter()
        .map(|(corp_id, c)| {
            let lag = c.lag(now);
            LiveCorp {
                corp_id,
                state: lag.state.as_str().to_owned(),
                pulled_seq: c.pulled_seq,
                stored_seq: c.stored_seq,
                in_flight: lag.in_flight,
                lag_messages: lag.messages(),
                oldest_unpulled_ms: lag.oldest_unpulled_ms,
                near_retention: lag.near_retention(),
                newest_stored_ms: c.newest_stored_ms,
                last_pull_ms: c.last_pull_ms,
                head_seen_ms: c.head_seen_ms,
                failing_calls: c.failing_calls,
                sdk_errors: c.sdk_errors,
            }
        })
        .collect()
}

async fn corps(State(s): State<Scrape>) -> impl IntoResponse {
    axum::Json(live_corps(&s.stats, now_ms()))
}

/// What a scrape reads.
#[derive(Clone)]
struct Scrape {
    stats: Arc<Stats>,
    store: Arc<dyn Store>,
    media: Arc<MediaFigures>,
}

async fn scrape(State(s): State<Scrape>) -> impl IntoResponse {
    // The store is synchronous (and ClickHouse's runs its own runtime): ask it off this one.
    let read_media = {
        let (store, media) = (s.store.clone(), s.media.clone());
        move || {
            let at = std::time::Instant::now();
            // Always done, or no scrape would read the summary again.
            let summary = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                store.media_summary().ok()
            }))
            .ok()
            .flatten();
            media.read_done(summary, at, at.elapsed());
        }
    };
    match s.media.plan(std::time::Instant::now()) {
        Plan::Cached => {}
        Plan::ReadNow => {
            let _ = tokio::task::spawn_blocking(read_media).await;
        }
        Plan::ReadBehind => {
            drop(tokio::task::spawn_blocking(read_media));
        }
    }
    let store = s.store.clone();
    let alert_backlog = tokio::task::spawn_blocking(move || store.alert_backlog().ok())
        .await
        .unwrap_or_default();
    let (media, media_age) = s.media.current(std::time::Instant::now()).unzip();
    let figures = StoreFigures {
        alert_backlog,
        media,
        media_age,
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&s.stats, &figures),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_corp_figures_render_in_the_text_format() {
        let stats = Stats::default();
        stats.corp("ww\"1", |c| {
            c.pulled_seq = 120;
            c.stored_seq = 100;
            c.newest_stored_ms = now_ms() - 3_600_000;
            c.catching_up = true;
            c.last_pull_ms = now_ms();
            c.note_rate((1, 0), (101, 100_000));
            c.dead.insert("broken_json", 2);
            c.sdk_errors.insert(10001, 3);
        });
        let text = render(
            &stats,
            &StoreFigures {
                alert_backlog: Some(7),
                ..StoreFigures::default()
            },
        );
        assert!(
            text.contains("msgaudit_corp_in_flight_messages{corp=\"ww\\\"1\"} 20"),
            "{text}"
        );
        assert!(text.contains("msgaudit_corp_catching_up{corp=\"ww\\\"1\"} 1"));
        assert!(text.contains("msgaudit_corp_caught_up{corp=\"ww\\\"1\"} 0"));
        // Behind by an hour at one message a second (100 seqs over 100 s), plus 20 in flight.
        let lag_messages: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("msgaudit_corp_lag_messages{corp=\"ww\\\"1\"} "))
            .and_then(|v| v.parse().ok())
            .expect("lag messages");
        assert!((3_620.0..3_720.0).contains(&lag_messages), "{lag_messages}");
        assert!(text.contains("reason=\"broken_json\"} 2"));
        assert!(text.contains("code=\"10001\"} 3"));
        assert!(text.contains("msgaudit_alert_backlog 7"));
        Stats::set(&stats.spool_bytes, 4096);
        let text = render(&stats, &StoreFigures::default());
        assert!(text.contains("msgaudit_spool_bytes 4096"), "{text}");
        assert!(text.contains("msgaudit_spool_full 0"), "{text}");
        let left: f64 = text
            .lines()
            .find(|l| l.starts_with("msgaudit_corp_retention_left_seconds{"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .expect("retention line");
        assert!((428_000.0..428_500.0).contains(&left), "{left}");
        let lag: f64 = text
            .lines()
            .find(|l| l.starts_with("msgaudit_corp_lag_seconds{"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .expect("lag line");
        assert!((3599.0..3700.0).contains(&lag), "{lag}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
    }

    #[test]
    fn media_figures_render_with_the_dedup_ratio_and_retention() {
        let stats = Stats::default();
        Stats::add(&stats.media.files, 3);
        let summary = MediaSummary {
            pending: 2,
            done: 10,
            dead: 1,
            dead_by_reason: vec![("expired".into(), 1)],
            oldest_pending_ms: Some(now_ms() - 86_400_000),
            files: 4,
            bytes: 1000,
            playable: 2,
            job_bytes: 2500,
        };
        let text = render(
            &stats,
            &StoreFigures {
                alert_backlog: None,
                media: Some(summary),
                media_age: Some(std::time::Duration::from_millis(1_500)),
            },
        );
        assert!(text.contains("msgaudit_media_playable_files 2"), "{text}");
        assert!(
            text.contains("msgaudit_media_fetched_files_total 3"),
            "{text}"
        );
        assert!(
            text.contains("msgaudit_media_summary_age_seconds 1.500"),
            "{text}"
        );
        assert!(
            text.contains("msgaudit_media_jobs{status=\"pending\"} 2"),
            "{text}"
        );
        assert!(text.contains("msgaudit_media_dead_jobs{reason=\"expired\"} 1"));
        assert!(text.contains("msgaudit_media_dedup_ratio 2.5"), "{text}");
        let left: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("msgaudit_media_retention_left_seconds "))
            .and_then(|v| v.parse().ok())
            .expect("retention line");
        assert!((345_000.0..345_700.0).contains(&left), "{left}");
    }
}
