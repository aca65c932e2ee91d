//! `msgaudit backup`: a consistent copy of the SQLite store, taken beside a running daemon, with
//! progress, what the copy holds, and what else to keep (the media) and how to restore.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::StoreArgs;

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Where to write the copy (a new file; it is created 0600: it holds the chat archive).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Replace `--out` if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: BackupArgs) -> anyhow::Result<()> {
    let url = args.store.url()?;
    let store = sqlite_store(
        &url,
        "back ClickHouse up with its own tools (on 18.16, `ALTER TABLE … FREEZE` on every \
         server, then copy `shadow/`; see docs/operations.md)",
    )?;
    let started = Instant::now();
    let source_bytes = std::fs::metadata(&store).map(|m| m.len()).unwrap_or(0);
    let done = Arc::new(AtomicBool::new(false));
    let progress = show_progress(
        crate::store::backup_partial_path(&args.out),
        source_bytes,
        done.clone(),
    );
    let report = crate::store::backup_sqlite(&store, &args.out, args.force);
    done.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.join();
    }
    let r = report.with_context(|| format!("backing up {}", store.display()))?;
    println!(
        "backup  {} ({}, schema {}, checked) in {:.1} s",
        r.path.display(),
        super::size(r.bytes),
        r.schema,
        started.elapsed().as_secs_f64()
    );
    print_contents("holds   ", &r);
    if let Some(media) = media_dir(&args.store, &url) {
        println!(
            "media   not in the copy: {media} holds one file per content and never changes one, so \
             copy it after this (e.g. `rsync -a {media}/ BACKUP/media/`) and it holds every file the \
             copy names"
        );
    }
    println!(
        "restore stop the daemon, then `msgaudit restore --from {}` with the same --config or \
         --store (and the media back), then start it: it pulls again from the copy's checkpoints \
         what came later, which WeCom keeps for 5 days — so back up at least daily",
        r.path.display()
    );
    Ok(())
}

/// The SQLite file `url` names; any other store gets `advice` for its own tools.
fn sqlite_store(url: &str, advice: &str) -> anyhow::Result<PathBuf> {
    match crate::store::sqlite_path(url).filter(|p| !p.is_empty()) {
        Some(path) => Ok(PathBuf::from(path)),
        None => anyhow::bail!(
            "{} is not a SQLite store: {advice}",
            crate::store::redact_url(url)
        ),
    }
}

/// What a copy holds, under `label` (whose width the following lines are indented by).
fn print_contents(label: &str, r: &crate::store::BackupReport) {
    println!(
        "{label}{} message(s), {} dead letter(s) pending, {} hit(s), {} behaviour hit(s), {} media job(s)",
        r.messages, r.dead_letters, r.hits, r.behaviour_hits, r.media_jobs
    );
    let indent = " ".repeat(label.chars().count());
    for (corp, seq) in &r.checkpoints {
        println!("{indent}{corp}: every message up to seq {seq}");
    }
}

/// The local media directory the arguments' config names, if any (an S3 bucket is kept by S3).
fn media_dir(store: &StoreArgs, url: &str) -> Option<String> {
    let media = match &store.config {
        Some(path) => crate::config::media_of_file(path, url).ok().flatten(),
        None => crate::config::media_of_file_default(url),
    }?;
    (!media.store.starts_with("s3://")).then_some(media.store)
}

/// On a terminal, how much of the copy is written, until `done`.
fn show_progress(
    partial: PathBuf,
    source_bytes: u64,
    done: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    std::thread::Builder::new()
        .name("backup-progress".into())
        .spawn(move || {
            let mut shown = false;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let written = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
                eprint!(
                    "\rcopying {} of about {}   ",
                    super::size(written),
                    super::size(source_bytes)
                );
                shown = true;
            }
            if shown {
                eprintln!();
            }
        })
        .ok()
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The copy to restore (made by `msgaudit backup`).
    #[arg(long)]
    pub from: PathBuf,
}

/// `msgaudit restore`: the copy checked and put in the store's place, with the daemon stopped.
pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let url = args.store.url()?;
    let store = sqlite_store(
        &url,
        "restore ClickHouse with its own tools (`ALTER TABLE … ATTACH PARTITION` from the frozen \
         parts on 18.16; see docs/operations.md)",
    )?;
    // The daemon holds the spool's lock while it runs: taking it proves none runs, and keeps one
    // from starting mid-restore.
    let spool = super::spool::spool_dir(&args.store, None)?;
    let _held = if spool.is_dir() {
        match crate::spool::recover::lock(&spool) {
            Ok(lock) => Some(lock),
            Err(crate::spool::SpoolError::Locked { dir }) => anyhow::bail!(
                "a daemon is running on this store (it holds the spool's lock in {}): stop it \
                 (`systemctl stop msgaudit`, or SIGTERM), then restore",
                dir.display()
            ),
            Err(e) => return Err(e).context("checking that no daemon runs"),
        }
    } else {
        eprintln!(
            "no spool at {}: make sure no daemon runs on this store while it is restored",
            spool.display()
        );
        None
    };
    let done = crate::store::restore_sqlite(&args.from, &store)
        .with_context(|| format!("restoring {} from {}", store.display(), args.from.display()))?;
    let r = &done.restored;
    println!(
        "restored {} from {} ({}, schema {}, checked)",
        store.display(),
        args.from.display(),
        super::size(r.bytes),
        r.schema
    );
    print_contents("holds    ", r);
    if let Some(aside) = &done.replaced {
        println!(
            "kept     the store it replaced, as {} (with its -wal and -shm): remove it once the \
             daemon runs well",
            aside.display()
        );
    }
    println!(
        "next     put the media directory back if it was lost, then start the daemon: it pulls \
         again from these checkpoints what came later (WeCom keeps 5 days); batches still in the \
         spool are stored again without doubling"
    );
    Ok(())
}
