//! `msgaudit spool`: what the durable spool holds, checked record by record, against what the store
//! has. It only reads (no lock, no truncation), so it is safe beside a running daemon; there the
//! newest segment's last record may be mid-write and show as an unfinished tail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::StoreArgs;
use crate::spool::recover::{Recovered, inspect, segment_ids};
use crate::spool::segment;
use crate::timefmt::format_ms;

#[derive(Debug, Args)]
pub struct SpoolArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The spool directory (default: the config's [spool] dir, or the one beside the store).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The spool directory a config file (or, without one, the default store) implies.
pub fn spool_dir(store: &StoreArgs, dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(d) = dir {
        return Ok(d.to_owned());
    }
    let url = store.url()?;
    let Some(config) = &store.config else {
        return Ok(crate::config::default_spool_dir(&url, Path::new(".")));
    };
    let base = config.parent().unwrap_or(Path::new("."));
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let value: toml::Value =
        toml::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
    let configured = value
        .get("spool")
        .and_then(|s| s.get("dir"))
        .and_then(|d| d.as_str())
        .map(PathBuf::from);
    Ok(match configured {
        Some(d) if d.is_absolute() => d,
        Some(d) => base.join(d),
        None => crate::config::default_spool_dir(&url, base),
    })
}

/// Bytes of segment files in `dir` (file sizes only; nothing is read).
pub fn disk_bytes(dir: &Path) -> (usize, u64) {
    let ids = segment_ids(dir).unwrap_or_default();
    let bytes = ids
        .iter()
        .filter_map(|id| std::fs::metadata(segment::path(dir, *id)).ok())
        .map(|m| m.len())
        .sum();
    (ids.len(), bytes)
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

pub fn run(args: SpoolArgs) -> anyhow::Result<()> {
    let dir = spool_dir(&args.store, args.dir.as_deref())?;
    if !dir.exists() {
        println!(
            "no spool at {} (nothing spooled yet, or [spool] enabled = false)",
            dir.display()
        );
        return Ok(());
    }
    let found: Recovered = inspect(&dir)?;
    // The store's checkpoints, to say what is still waiting; the spool alone if the store is away.
    let store = args
        .store
        .url()
        .ok()
        .and_then(|u| crate::store::open_existing(&u).ok());
    // Per corp, once: its stored checkpoint and how many of its spooled batches go beyond it.
    let waiting: BTreeMap<&str, (Option<u64>, usize)> = found
        .corps
        .keys()
        .map(|corp| {
            let stored = store
                .as_ref()
                .and_then(|s| s.checkpoint(corp).ok().flatten());
            let n = found
                .records
                .iter()
                .filter(|(_, r)| r.corp_id == *corp && stored.is_none_or(|s| r.checkpoint > s))
                .count();
            (corp.as_str(), (stored, n))
        })
        .collect();
    if args.json {
        let corps: serde_json::Map<String, serde_json::Value> = found
            .corps
            .iter()
            .map(|(corp, c)| {
                let (stored, n) = waiting[corp.as_str()];
                (
                    corp.clone(),
                    serde_json::json!({
                        "batches": c.batches,
                        "messages": c.messages,
                        "from_seq": c.from_seq,
                        "to_seq": c.checkpoint,
                        "stored_seq": stored,
                        "batches_waiting": n,
                        "oldest_pulled_ms": c.oldest_pulled_ms,
                    }),
                )
            })
            .collect();
        let torn = found.torn.as_ref().map(|(p, t)| {
            serde_json::json!({"file": p.display().to_string(), "offset": t.offset, "bytes": t.dropped, "why": t.why})
        });
        println!(
            "{}",
            serde_json::json!({
                "dir": dir.display().to_string(),
                "segments": found.segments.len(),
                "bytes": found.bytes(),
                "records": found.records.len(),
                "corps": corps,
                "unfinished_tail": torn,
            })
        );
        return Ok(());
    }
    if found.records.is_empty() && found.torn.is_none() {
        println!(
            "spool {}: empty — everything pulled is stored",
            dir.display()
        );
        return Ok(());
    }
    println!(
        "spool {}: {} segment(s), {}, {} batch(es) — every record's checksum holds",
        dir.display(),
        found.segments.len(),
        mib(found.bytes()),
        found.records.len()
    );
    for (corp, c) in &found.corps {
        let (stored, n) = waiting[corp.as_str()];
        let stored_text = match stored {
            Some(s) => format!("stored up to seq {s}, {n} batch(es) waiting for the store"),
            None if store.is_some() => format!("nothing stored yet, {n} batch(es) waiting"),
            None => {
                "the store could not be opened (give --config or --store to compare)".to_owned()
            }
        };
        println!(
            "  corp {corp}: {} batch(es), {} message(s), seqs {}..={}; {stored_text}; oldest pulled {}",
            c.batches,
            c.messages,
            c.from_seq + 1,
            c.checkpoint,
            format_ms(c.oldest_pulled_ms)
        );
    }
    if let Some((path, torn)) = &found.torn {
        println!(
            "  unfinished tail: {} at offset {} ({} bytes, {}): a record being written now, or a \
             torn write the daemon truncates when it starts",
            path.display(),
            torn.offset,
            torn.dropped,
            torn.why
        );
    }
    Ok(())
}
