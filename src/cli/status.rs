//! `msgaudit status`: how far each corp is stored and what is stuck, for a terminal. It reads the
//! store (so it works while the daemon runs, or without it) and, when the config has
//! `[metrics] listen`, the running daemon's live figures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::StoreArgs;
use crate::timefmt::{format_ms, now_ms};

use crate::pipeline::RETENTION_MS;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The `[metrics] listen` of a config file, without validating the rest.
fn metrics_addr(path: &std::path::Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: toml::Value = toml::from_str(&text).ok()?;
    v.get("metrics")?.get("listen")?.as_str()?.parse().ok()
}

/// The daemon's metrics text, if it answers.
fn scrape(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// The value of an unlabelled metric in a metrics text.
fn global(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

/// The value of `name{corp="…"}` in a metrics text.
fn metric(text: &str, name: &str, corp: &str) -> Option<f64> {
    let prefix = format!("{name}{{corp=\"{corp}\"}} ");
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
    let store = crate::store::open(&url)
        .with_context(|| format!("opening the store {}", crate::store::redact_url(&url)))?;
    let live = args
        .store
        .config
        .as_deref()
        .and_then(metrics_addr)
        .map(|addr| (addr, scrape(addr)));
    let progress = store.corp_progress()?;
    println!("store {}", crate::store::redact_url(&url));
    match &live {
        Some((addr, Some(_))) => println!("daemon: running, metrics at http://{addr}/metrics"),
        Some((addr, None)) => println!("daemon: not answering at http://{addr}/metrics"),
        None => println!("daemon: no [metrics] listen in the config; showing the store only"),
    }
    println!("RSA backend: {}", rsa_backend(&args, live.as_ref()));
    if progress.is_empty() {
        println!("no corp has stored anything yet");
    }
    let now = now_ms();
    for p in &progress {
        let behind = if p.newest_msg_ms > 0 {
            now - p.newest_msg_ms
        } else {
            0
        };
        println!("\ncorp {}", p.corp_id);
        println!("  stored up to seq    {}", p.checkpoint);
        if p.newest_msg_ms > 0 {
            println!(
                "  newest message      {} ({} ago{})",
                format_ms(p.newest_msg_ms),
                age(behind),
                if behind > RETENTION_MS * 4 / 5 {
                    " — close to WeCom's 5-day retention: catch up now or lose messages"
                } else {
                    ""
                }
            );
        }
        if let Some((_, Some(text))) = &live {
            if let Some(pulled) = metric(text, "msgaudit_corp_pulled_seq", &p.corp_id) {
                let lag = metric(text, "msgaudit_corp_lag_messages", &p.corp_id).unwrap_or(0.0);
                let catching_up =
                    metric(text, "msgaudit_corp_catching_up", &p.corp_id).unwrap_or(0.0) > 0.0;
                println!(
                    "  pulled up to seq    {pulled} ({lag} in flight{})",
                    if catching_up {
                        ", catching up"
                    } else {
                        ", drained"
                    }
                );
            }
        }
        if p.pending_dead.is_empty() {
            println!("  dead letters        none pending");
        }
        for (reason, n) in &p.pending_dead {
            let advice = crate::message::DeadReason::parse(reason).map_or("", |r| r.advice());
            println!("  dead letters        {n} {reason} → {advice}");
        }
    }
    println!("\nalerts waiting       {}", store.alert_backlog()?);
    print_media(
        store.as_ref(),
        live.as_ref().and_then(|(_, t)| t.as_deref()),
    )?;
    let dir = super::spool::spool_dir(&args.store, None)?;
    let (segments, bytes) = super::spool::disk_bytes(&dir);
    let mib = |b: f64| b / (1024.0 * 1024.0);
    match &live {
        Some((_, Some(text)))
            if global(text, "msgaudit_spool_limit_bytes").unwrap_or(0.0) > 0.0 =>
        {
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
            if behind > RETENTION_MS * 4 / 5 {
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
