//! `msgaudit status`: where each corp stands and what is stuck, for a terminal or (`--json`) a
//! script. It reads the store (so it works while the daemon runs, or without it) and, when the
//! config has `[metrics] listen`, the running daemon's live figures (`/metrics`, and `/corps` for
//! whether each corp is caught up, behind or failing, and its lag). Three corps or fewer (or those
//! named with `--corp`) are shown in full; more as one table, worst first (`corps.rs`).

mod corps;
mod fleet;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::StoreArgs;
use crate::timefmt::now_ms;

use crate::runtime::RETENTION_MS;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Show this corp alone, in full (repeat for several).
    #[arg(long = "corp", value_name = "CORP_ID")]
    pub corps: Vec<String>,
    /// Only corps behind the archive's head or failing.
    #[arg(long)]
    pub behind: bool,
    /// Print everything as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Rows of the corps table at most, worst first (0: all).
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
}

/// The `[metrics] listen` of a config file, without validating the rest.
fn metrics_addr(path: &std::path::Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: toml::Value = toml::from_str(&text).ok()?;
    v.get("metrics")?.get("listen")?.as_str()?.parse().ok()
}

/// The body the daemon's metrics listener answers at `path`, if it answers 200.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    // Connecting is quick or never; a daemon under load may take a while to answer.
    crate::daemon::scrape::get(addr, path, Duration::from_secs(10))
}

/// The value of an unlabelled metric in a metrics text.
fn global(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{:.1} h", s as f64 / 3600.0),
        _ => format!("{:.1} days", s as f64 / 86_400.0),
    }
}

/// The RSA backend: the running daemon's (from its metrics), else what the config would choose.
fn rsa_backend(args: &StatusArgs, live: Option<&(SocketAddr, Option<String>)>) -> String {
    if let Some((_, Some(text))) = live
        && let Some(line) = text
            .lines()
            .find(|l| l.starts_with("msgaudit_rsa_backend{"))
    {
        let value = |key: &str| {
            line.split(&format!("{key}=\"")).nth(1).and_then(|rest| {
                let mut out = String::new();
                let mut chars = rest.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => out.extend(chars.next()),
                        '"' => return Some(out),
                        c => out.push(c),
                    }
                }
                None
            })
        };
        return format!(
            "{} (the running daemon: {})",
            value("backend").unwrap_or_default(),
            value("reason").unwrap_or_default()
        );
    }
    let Some(path) = args.store.config.as_deref() else {
        return "not known without a config (give --config)".into();
    };
    match crate::config::Config::load(path) {
        Ok(c) => match crate::sdk::rsa_backend::choose(c.crypto.backend, c.crypto.library) {
            Ok(chosen) => format!(
                "{} (what the config chooses here: {})",
                chosen.backend.name(),
                chosen.reason
            ),
            Err(e) => format!("none: {e}"),
        },
        Err(e) => format!("not known: {e}"),
    }
}

pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let url = args.store.url()?;
    let store = crate::store::open_existing(&url)
        .with_context(|| format!("opening the store {}", crate::store::redact_url(&url)))?;
    let live = args
        .store
        .config
        .as_deref()
        .and_then(metrics_addr)
        .map(|addr| (addr, get(addr, "/metrics")));
    let live_corps: Option<Vec<crate::daemon::metrics::LiveCorp>> = match &live {
        Some((addr, Some(_))) => Some(
            get(*addr, "/corps")
                .and_then(|body| serde_json::from_str(&body).ok())
                .unwrap_or_default(),
        ),
        _ => None,
    };
    let now = now_ms();
    let fleet = fleet::read(args.store.config.as_deref());
    let holders = match &fleet {
        fleet::Fleet::Found(view) => Some(&view.holders),
        _ => None,
    };
    let mut rows = corps::rows(store.corp_progress()?, live_corps, holders);
    let all = rows.len();
    if !args.corps.is_empty() {
        let unknown: Vec<&String> = args
            .corps
            .iter()
            .filter(|c| !rows.iter().any(|r| &&r.corp_id == c))
            .collect();
        if !unknown.is_empty() {
            anyhow::bail!(
                "no corp {} in the store or the running daemon (`msgaudit status` lists them)",
                unknown
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        rows.retain(|r| args.corps.contains(&r.corp_id));
    }
    if args.behind {
        rows.retain(corps::CorpRow::is_behind);
    }
    let daemon = match &live {
        Some((addr, Some(_))) => format!("running, metrics at http://{addr}/metrics"),
        Some((addr, None)) => format!("not answering at http://{addr}/metrics"),
        None => "no [metrics] listen in the config; showing the store only".to_owned(),
    };
    let metrics_text = live.as_ref().and_then(|(_, t)| t.as_deref());
    let rsa = rsa_backend(&args, live.as_ref());
    let alerts = store.alert_backlog()?;
    if args.json {
        let media = store.media_summary()?;
        let dir = super::spool::spool_dir(&args.store, None)?;
        let (segments, bytes) = super::spool::disk_bytes(&dir);
        let out = serde_json::json!({
            "store": crate::store::redact_url(&url),
            "daemon": daemon,
            "rsa_backend": rsa,
            "fleet": match &fleet {
                fleet::Fleet::Alone => serde_json::Value::Null,
                fleet::Fleet::Unreachable(why) => serde_json::json!({ "error": why }),
                fleet::Fleet::Found(view) => serde_json::to_value(view)?,
            },
            "summary": corps::summary(&rows),
            "corps": rows,
            "alerts_waiting": alerts,
            "media": {
                "pending": media.pending, "done": media.done, "dead": media.dead,
                "dead_by_reason": media.dead_by_reason.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                "oldest_pending_ms": media.oldest_pending_ms,
                "files": media.files, "bytes": media.bytes, "job_bytes": media.job_bytes,
            },
            "spool": {
                "dir": dir.display().to_string(), "segments": segments, "disk_bytes": bytes,
                "waiting_bytes": metrics_text.and_then(|t| global(t, "msgaudit_spool_bytes")),
                "limit_bytes": metrics_text.and_then(|t| global(t, "msgaudit_spool_limit_bytes")),
                "full": metrics_text.map(|t| global(t, "msgaudit_spool_full").unwrap_or(0.0) > 0.0),
            },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("store {}", crate::store::redact_url(&url));
    println!("daemon: {daemon}");
    match &fleet {
        fleet::Fleet::Alone => {}
        fleet::Fleet::Unreachable(why) => println!("fleet: {why}"),
        fleet::Fleet::Found(view) => println!(
            "fleet: {} daemon(s) under {}, corps held: {}; alerts sent by {}",
            view.daemons.len(),
            view.prefix,
            view.shares(),
            view.alert_sender.as_deref().unwrap_or("no daemon")
        ),
    }
    println!("RSA backend: {rsa}");
    if all == 0 {
        println!("no corp has stored anything yet");
    } else {
        println!("{}", corps::summary(&rows));
    }
    if rows.is_empty() && all > 0 {
        println!(
            "(none {})",
            if args.behind {
                "behind or failing"
            } else {
                "matches"
            }
        );
    } else if !args.corps.is_empty() || rows.len() <= 3 {
        for r in &rows {
            corps::print_block(r, now);
        }
    } else {
        println!();
        corps::print_table(&rows, args.limit, now);
    }
    println!("\nalerts waiting       {alerts}");
    print_media(store.as_ref(), metrics_text)?;
    print_spool(&args, metrics_text)
}

/// The spool: what waits for the store (live), else what is on disk.
fn print_spool(args: &StatusArgs, live: Option<&str>) -> anyhow::Result<()> {
    let dir = super::spool::spool_dir(&args.store, None)?;
    let (segments, bytes) = super::spool::disk_bytes(&dir);
    let mib = |b: f64| b / (1024.0 * 1024.0);
    match live {
        Some(text) if global(text, "msgaudit_spool_limit_bytes").unwrap_or(0.0) > 0.0 => {
            let waiting = global(text, "msgaudit_spool_bytes").unwrap_or(0.0);
            let limit = global(text, "msgaudit_spool_limit_bytes").unwrap_or(0.0);
            let full = global(text, "msgaudit_spool_full").unwrap_or(0.0) > 0.0;
            println!(
                "spool                {:.1} of {:.0} MiB waiting for the store{} ({})",
                mib(waiting),
                mib(limit),
                if full {
                    " — FULL: pulling is paused until the store takes batches"
                } else {
                    ""
                },
                dir.display()
            );
        }
        _ => println!(
            "spool                {segments} segment file(s), {:.1} MiB on disk ({}); `msgaudit spool` checks them",
            mib(bytes as f64),
            dir.display()
        ),
    }
    Ok(())
}

/// The media archive's state: jobs, what is stored, what failed and why.
fn print_media(store: &dyn crate::store::Store, live: Option<&str>) -> anyhow::Result<()> {
    let m = store.media_summary()?;
    if m.pending + m.done + m.dead == 0 {
        println!("media                no media jobs yet");
        return Ok(());
    }
    let oldest = m.oldest_pending_ms.map_or(String::new(), |t| {
        let behind = now_ms() - t;
        format!(
            " (oldest {} old, {} of WeCom's retention left{})",
            age(behind),
            age(RETENTION_MS - behind),
            if crate::runtime::near_retention(behind) {
                " — fetch faster (more [media] concurrency) or lose them"
            } else {
                ""
            }
        )
    });
    println!(
        "media                {} pending{oldest}, {} done, {} dead",
        m.pending, m.done, m.dead
    );
    let ratio = if m.bytes > 0 {
        m.job_bytes as f64 / m.bytes as f64
    } else {
        1.0
    };
    println!(
        "                     {} files, {:.1} MiB stored; dedup {ratio:.2}× ({:.1} MiB referenced)",
        m.files,
        m.bytes as f64 / (1024.0 * 1024.0),
        m.job_bytes as f64 / (1024.0 * 1024.0)
    );
    for (reason, n) in &m.dead_by_reason {
        let advice = crate::store::MediaDeadReason::parse(reason).map_or("", |r| r.advice());
        println!("                     dead {n} {reason} → {advice}");
    }
    if let Some(text) = live {
        if global(text, "msgaudit_media_paused").unwrap_or(0.0) > 0.0 {
            println!(
                "                     PAUSED at the [media] quota: text ingestion goes on; raise quota_mb or free space"
            );
        }
        if let Some(files) = global(text, "msgaudit_media_fetched_files_total") {
            println!(
                "                     this run: {files} files, {:.1} MiB fetched",
                global(text, "msgaudit_media_fetched_bytes_total").unwrap_or(0.0)
                    / (1024.0 * 1024.0)
            );
        }
    }
    if m.dead > 0 {
        println!(
            "                     `msgaudit media list --status dead`, then `msgaudit media retry` once fixed"
        );
    }
    Ok(())
}
