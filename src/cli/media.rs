//! `msgaudit media`: the media archive's jobs — list them (by status, dead reason, corp, message),
//! put dead ones back after fixing their cause, and get a stored file out.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::StoreArgs;
use crate::config::MediaConfig;
use crate::media::{MediaStore, ObjectKey};
use crate::store::{MediaDeadReason, MediaJob, MediaJobQuery, MediaStatus};
use crate::timefmt::format_ms;

#[derive(Debug, Subcommand)]
pub enum MediaCommands {
    /// List media jobs, oldest message first.
    List(ListArgs),
    /// Put dead jobs back to pending (after fixing their cause); the running daemon fetches them.
    Retry(RetryArgs),
    /// Write a message's stored file to a file (or stdout).
    Get(GetArgs),
    /// Make playable (MP3) copies of the voice stored without one: after installing ffmpeg, for
    /// the voice fetched before. The running daemon can stay up.
    Playable(PlayableArgs),
}

#[derive(Debug, Args)]
pub struct Filter {
    /// Only this corp.
    #[arg(long)]
    pub corp: Option<String>,
    /// Only this message.
    #[arg(long)]
    pub msgid: Option<String>,
    /// Only dead jobs with this reason: expired, bad_file_id, md5_mismatch, sdk_error, gave_up.
    #[arg(long)]
    pub reason: Option<String>,
}

impl Filter {
    fn query(&self, status: Option<MediaStatus>, limit: u32) -> anyhow::Result<MediaJobQuery> {
        let dead_reason = self
            .reason
            .as_deref()
            .map(|r| {
                MediaDeadReason::parse(r).with_context(|| {
                    format!("--reason {r:?}: use expired, bad_file_id, md5_mismatch, sdk_error or gave_up")
                })
            })
            .transpose()?;
        Ok(MediaJobQuery {
            corp_id: self.corp.clone(),
            msg_id: self.msgid.clone(),
            status: if dead_reason.is_some() {
                Some(MediaStatus::Dead)
            } else {
                status
            },
            dead_reason,
            limit,
            ..MediaJobQuery::default()
        })
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub filter: Filter,
    /// Only jobs in this state: pending, done, dead.
    #[arg(long)]
    pub status: Option<String>,
    /// At most this many jobs.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub filter: Filter,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The message whose file to get.
    #[arg(long)]
    pub msgid: String,
    /// Which attachment: its position in a chatrecord or mixed message (default 0).
    #[arg(long, default_value_t = 0)]
    pub item: u32,
    /// The corp, when the msgid alone is ambiguous.
    #[arg(long)]
    pub corp: Option<String>,
    /// The browser-playable copy of a voice file instead of the original.
    #[arg(long)]
    pub playable: bool,
    /// Where to write (default: stdout, which must not be a terminal).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlayableArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// At most this many files (default: every one without a copy).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Only count the voice files without a copy; make none.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(command: MediaCommands) -> anyhow::Result<()> {
    match command {
        MediaCommands::List(args) => list(args),
        MediaCommands::Retry(args) => retry(args),
        MediaCommands::Get(args) => get(args),
        MediaCommands::Playable(args) => super::media_playable::run(args),
    }
}

pub(super) fn open(store: &StoreArgs) -> anyhow::Result<(Box<dyn crate::store::Store>, String)> {
    let url = store.url()?;
    let s = crate::store::open_existing(&url)
        .with_context(|| format!("opening the store {}", crate::store::redact_url(&url)))?;
    Ok((s, url))
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    let status = args
        .status
        .as_deref()
        .map(|s| {
            MediaStatus::parse(s)
                .with_context(|| format!("--status {s:?}: use pending, done or dead"))
        })
        .transpose()?;
    let (store, _) = open(&args.store)?;
    let jobs = store.media_jobs(&args.filter.query(status, args.limit)?)?;
    if args.json {
        let mut out = std::io::stdout().lock();
        for j in &jobs {
            writeln!(out, "{}", serde_json::to_string(j)?)?;
        }
        return Ok(());
    }
    if jobs.is_empty() {
        println!("no media jobs match");
        return Ok(());
    }
    println!(
        "{:<19}  {:<40}  {:>4}  {:<18}  {:<7}  {:>3}  what",
        "message time", "msgid", "item", "kind", "status", "try"
    );
    for j in &jobs {
        println!(
            "{:<19}  {:<40}  {:>4}  {:<18}  {:<7}  {:>3}  {}",
            format_ms(j.msg_time),
            cut(&j.key.msg_id, 40),
            j.key.item,
            j.kind.as_str(),
            j.status.as_str(),
            j.attempts,
            what(j)
        );
    }
    eprintln!(
        "{}",
        super::listed(
            jobs.len(),
            args.limit,
            "media job(s)",
            "oldest message first"
        )
    );
    Ok(())
}

/// A job's one-line story: the stored file, or why it is not (yet) stored.
fn what(j: &MediaJob) -> String {
    match j.status {
        MediaStatus::Done => {
            let mut s = format!("{}, md5 {}", super::size(j.file_size), j.file_md5);
            if !j.note.is_empty() {
                s.push_str(&format!(" ({})", j.note));
            }
            s
        }
        MediaStatus::Dead => {
            let advice = MediaDeadReason::parse(&j.dead_reason).map_or("", |r| r.advice());
            format!("{}: {} → {advice}", j.dead_reason, cut(&j.last_error, 120))
        }
        MediaStatus::Pending if j.last_error.is_empty() => "waiting to be fetched".into(),
        MediaStatus::Pending => format!(
            "retry at {} after: {}",
            format_ms(j.next_attempt),
            cut(&j.last_error, 120)
        ),
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn retry(args: RetryArgs) -> anyhow::Result<()> {
    let (store, _) = open(&args.store)?;
    let q = args.filter.query(Some(MediaStatus::Dead), u32::MAX)?;
    let n = store.retry_media_jobs(&q)?;
    if n == 0 {
        println!("no dead media jobs match; nothing to retry");
    } else {
        println!(
            "{n} dead media job(s) put back to pending; the running daemon fetches them (or run it)"
        );
    }
    Ok(())
}

/// The `[media]` settings a config gives (or the defaults beside the store).
pub fn media_config(store: &StoreArgs, url: &str) -> anyhow::Result<MediaConfig> {
    match &store.config {
        Some(path) => crate::config::media_of_file(path, url)?,
        None => crate::config::media_of_file_default(url),
    }
    .context("the config has [media] enabled = false: no media store")
}

/// The media store a config names (or the default beside the store).
pub fn media_store(store: &StoreArgs, url: &str) -> anyhow::Result<Box<dyn MediaStore>> {
    let config = media_config(store, url)?;
    open_media_store(&config)
}

/// The media store of these settings.
pub fn open_media_store(config: &MediaConfig) -> anyhow::Result<Box<dyn MediaStore>> {
    crate::media::open_store(&config.store, config.s3.as_ref())
        .with_context(|| format!("opening the media store {}", config.store))
}

fn get(args: GetArgs) -> anyhow::Result<()> {
    let (store, url) = open(&args.store)?;
    let jobs = store.media_jobs(&MediaJobQuery {
        corp_id: args.corp.clone(),
        msg_id: Some(args.msgid.clone()),
        limit: 1000,
        ..Default::default()
    })?;
    let Some(job) = jobs.iter().find(|j| j.key.item == args.item) else {
        let items: Vec<String> = jobs.iter().map(|j| j.key.item.to_string()).collect();
        if items.is_empty() {
            bail!(
                "message {} has no media job (no attachment, or not stored)",
                args.msgid
            );
        }
        bail!(
            "message {} has no attachment at item {}; its items: {}",
            args.msgid,
            args.item,
            items.join(", ")
        );
    };
    if jobs
        .iter()
        .map(|j| &j.key.corp_id)
        .collect::<std::collections::HashSet<_>>()
        .len()
        > 1
    {
        bail!(
            "msgid {} is in several corps; say which with --corp",
            args.msgid
        );
    }
    if job.status != MediaStatus::Done {
        bail!("not stored yet: {} ({})", job.status.as_str(), what(job));
    }
    let media = media_store(&args.store, &url)?;
    let key = if args.playable {
        let file = store.media_file(&job.file_md5, job.file_size)?;
        if file.as_ref().is_none_or(|f| f.playable_type.is_empty()) {
            bail!(
                "this file has no playable copy ({})",
                if job.note.is_empty() {
                    "not voice"
                } else {
                    &job.note
                }
            );
        }
        ObjectKey::copy(
            &job.file_md5,
            job.file_size,
            crate::media::voice::PLAYABLE_EXT,
        )
    } else {
        ObjectKey::original(&job.file_md5, job.file_size)
    };
    match &args.out {
        Some(path) => write_file(media.as_ref(), &key, path),
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!("the file is binary: give --out FILE, or redirect stdout");
            }
            let mut out = std::io::stdout().lock();
            media.get(&key, &mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

fn write_file(media: &dyn MediaStore, key: &ObjectKey, path: &Path) -> anyhow::Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let n = media.get(key, &mut f)?;
    f.sync_all()?;
    eprintln!("wrote {n} bytes to {}", path.display());
    Ok(())
}
