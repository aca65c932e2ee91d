//! `msgaudit media playable`: playable (MP3) copies of the voice stored without one — fetched
//! while ffmpeg was missing, or before it worked — made from the originals in the media store, on
//! every core, beside a running daemon.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rayon::prelude::*;

use super::media::{PlayableArgs, media_config, open, open_media_store};
use crate::media::object::Staged;
use crate::media::voice::{PLAYABLE_EXT, PLAYABLE_TYPE};
use crate::media::{MediaStore, ObjectKey, Transcoder};
use crate::store::{MediaFile, Store};

/// Files listed at a time: on ClickHouse each listing reads the job table, so few and large.
const LISTED: u32 = 1000;

/// Files transcoded in parallel and then recorded at once.
const CHUNK: usize = 64;

/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Failures shown in full at the end (the rest are counted).
const SHOWN_FAILURES: usize = 5;

pub fn run(args: PlayableArgs) -> anyhow::Result<()> {
    let (store, url) = open(&args.store)?;
    let limit = args.limit.unwrap_or(u64::MAX);
    let total = count(store.as_ref(), limit)?;
    if total == 0 {
        println!("every stored voice file has a playable copy; nothing to do");
        return Ok(());
    }
    if args.dry_run {
        println!("{total} voice file(s) have no playable copy; without --dry-run they get one");
        return Ok(());
    }
    let config = media_config(&args.store, &url)?;
    let transcoder = Transcoder::locate(&config.ffmpeg).map_err(|e| {
        anyhow::anyhow!(
            "ffmpeg was not found ({e}): install it (Debian: apt-get install ffmpeg) or set \
             [media] ffmpeg to its path, then run this again"
        )
    })?;
    let media = open_media_store(&config)?;
    eprintln!(
        "making playable copies of {total} voice file(s) in {} with {} thread(s)",
        media.location(),
        rayon::current_num_threads()
    );

    let started = Instant::now();
    let mut shown = Instant::now();
    let (mut made, mut failed) = (0u64, Vec::new());
    let mut after: Option<(String, u64)> = None;
    while made + (failed.len() as u64) < total {
        let want = (total - made - failed.len() as u64).min(u64::from(LISTED)) as u32;
        let files =
            store.files_without_copy(after.as_ref().map(|(m, s)| (m.as_str(), *s)), want)?;
        let Some(last) = files.last() else { break };
        after = Some((last.md5.clone(), last.size));
        for chunk in files.chunks(CHUNK) {
            let results: Vec<(&MediaFile, Result<(), String>)> = chunk
                .par_iter()
                .map(|f| (f, copy_of(media.as_ref(), &transcoder, f)))
                .collect();
            let mut done = Vec::new();
            for (file, result) in results {
                match result {
                    Ok(()) => done.push((file.md5.clone(), file.size)),
                    Err(e) => failed.push(format!("{}-{}: {e}", file.md5, file.size)),
                }
            }
            store
                .record_playable_copies(&done, PLAYABLE_TYPE)
                .context("recording the copies made")?;
            made += done.len() as u64;
            if shown.elapsed() >= PROGRESS_EVERY {
                shown = Instant::now();
                eprintln!(
                    "  {}/{total} · {made} made · {} failed",
                    made + failed.len() as u64,
                    failed.len()
                );
            }
        }
    }
    println!(
        "made {made} playable copies in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        return Ok(());
    }
    for f in failed.iter().take(SHOWN_FAILURES) {
        eprintln!("  {f}");
    }
    if failed.len() > SHOWN_FAILURES {
        eprintln!("  … and {} more", failed.len() - SHOWN_FAILURES);
    }
    bail!(
        "{} voice file(s) got no playable copy (above: why); a file ffmpeg refuses keeps only its \
         original, anything else can be run again",
        failed.len()
    )
}

/// How many files lack a copy, up to `limit`.
fn count(store: &dyn Store, limit: u64) -> anyhow::Result<u64> {
    let mut n = 0u64;
    let mut after: Option<(String, u64)> = None;
    while n < limit {
        let page =
            store.files_without_copy(after.as_ref().map(|(m, s)| (m.as_str(), *s)), LISTED)?;
        let Some(last) = page.last() else { break };
        after = Some((last.md5.clone(), last.size));
        n += page.len() as u64;
    }
    Ok(n.min(limit))
}

/// Stages the original of `file`, transcodes it and puts the copy beside it.
fn copy_of(
    media: &dyn MediaStore,
    transcoder: &Transcoder,
    file: &MediaFile,
) -> Result<(), String> {
    let (staged, mut out) =
        Staged::create(media.staging_dir()).map_err(|e| format!("staging: {e}"))?;
    media
        .get(&ObjectKey::original(&file.md5, file.size), &mut out)
        .map_err(|e| format!("reading the original: {e}"))?;
    drop(out);
    let copy = transcoder
        .to_playable(&staged.path, media.staging_dir())
        .map_err(|e| e.to_string())?;
    media
        .put(
            &copy.path,
            &ObjectKey::copy(&file.md5, file.size, PLAYABLE_EXT),
        )
        .map(|_| ())
        .map_err(|e| format!("storing the copy: {e}"))
}
