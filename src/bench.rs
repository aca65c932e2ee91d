//! The bench harness behind `msgaudit bench`: one end-to-end run of the real daemon — the SDK
//! through FFI (the emulator), decrypt+parse, the audit with a synthetic 10,000-word strategy, the
//! store — over a generated archive, and, in the same process around it, the machine's ceiling: raw
//! RSA-2048 PKCS#1 v1.5 private decryptions per second on the same threads with the same keys,
//! measured for 1.5 s just before the pipeline and 1.5 s just after, and averaged (a shared
//! machine's speed drifts; measuring on both sides keeps the drift out of the ratio).
//!
//! Per-stage figures are messages per second of each stage's busy time: `pull` is time inside
//! `GetChatData` (the emulator encrypting), `decrypt_parse` the decode stage's wall time with the
//! whole pool (RSA, `DecryptData`, parse, audit), `rsa` and `audit` its RSA and audit parts, `store` time inside
//! `store_batch`, `spool` time appending to the spool (encode, write, fsync; the daemon's path,
//! `--no-spool` leaves it out). A stage's figure far above `msgs_per_sec` means it is not the
//! bottleneck.
//!
//! Media is fetched beside the pipeline as the daemon does (`--no-media` leaves it out): the text
//! figures are the pipeline's alone, and the media part is reported separately — files, MiB, the
//! time the fetchers needed after the text was done, and MiB/s over the whole media time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::RuleSet;
use crate::config::{AlertConfig, Config, CorpConfig, PullConfig, SdkConfig};
use crate::daemon::Daemon;
use crate::emulator::fixture_key;
use crate::runtime::Stats;
use crate::sdk::{
    EncryptedMessage, FinanceLibrary, KeyRing, NetworkOptions, PrivateKey, RsaBackend,
};
use crate::secret::Secret;

/// The bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Load(#[from] crate::sdk::LoadError),
    #[error(transparent)]
    Sdk(#[from] crate::sdk::SdkError),
    #[error(transparent)]
    Key(#[from] crate::sdk::KeyError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Daemon(Box<crate::daemon::DaemonError>),
    #[error("bench I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the bench corp stopped on an SDK error: {0}")]
    Corp(String),
    #[error(transparent)]
    Rsa(#[from] crate::sdk::rsa_backend::BackendError),
}

impl From<crate::daemon::DaemonError> for BenchError {
    fn from(e: crate::daemon::DaemonError) -> BenchError {
        BenchError::Daemon(Box::new(e))
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub messages: u64,
    /// Decrypt+parse threads and RSA-ceiling threads (0 = all cores).
    pub threads: usize,
    /// Store to bench (default: a fresh SQLite file in a temporary directory).
    pub store_url: Option<String>,
    /// Words of the synthetic strategy.
    pub words: usize,
    pub seed: u64,
    pub sdk: PathBuf,
    /// Put the durable spool in the path, as the daemon does (default true).
    pub spool: bool,
    /// Fetch media beside the pipeline, as the daemon does (default true).
    pub media: bool,
    /// Keep the conversation tables and search index as the writer does (default true; off only
    /// to measure their cost, SQLite only).
    pub archive_index: bool,
    /// The pipeline's RSA backend (`[crypto]`); the crypto_mb ceiling is measured whenever its
    /// library can run, whichever backend the pipeline uses.
    pub crypto: crate::config::CryptoConfig,
}

/// What the media fetchers did in a bench run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MediaReport {
    /// Attachments done: by download, and without one (the same file already stored).
    pub jobs: u64,
    pub downloaded_files: u64,
    pub deduplicated: u64,
    pub dead: u64,
    pub mb: f64,
    /// From the pipeline's start until the last attachment was stored.
    pub seconds: f64,
    /// Of which after the text pipeline had finished.
    pub seconds_after_text: f64,
    pub mb_per_sec: f64,
    pub qr_hits: u64,
    /// Voice files stored with a playable copy (files, not transcodings: two fetches of one
    /// file both transcode it).
    pub playable: u64,
    /// Fetcher busy seconds (summed over fetchers) and their parts.
    pub busy_seconds: f64,
    pub download_seconds: f64,
    pub scan_seconds: f64,
    pub voice_seconds: f64,
    pub put_seconds: f64,
}

/// Messages per second of busy time, per stage.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stages {
    pub pull: f64,
    /// Recovering the random keys (RSA) on the pool: part of `decrypt_parse`.
    pub rsa: f64,
    /// Appending to the spool: encode, write, fsync (0 without a spool).
    pub spool: f64,
    pub decrypt_parse: f64,
    pub audit: f64,
    pub store: f64,
}

/// The bench's result (serialised as the `--json` object).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub messages: u64,
    pub seconds: f64,
    pub msgs_per_sec: f64,
    /// OpenSSL's ceiling: RSA decryptions per second on the same threads and keys.
    pub rsa_ceiling_per_sec: f64,
    /// The two halves of the ceiling: just before and just after the pipeline.
    pub rsa_ceiling_before: f64,
    pub rsa_ceiling_after: f64,
    /// Pipeline msgs/s over OpenSSL's ceiling.
    pub ratio_to_ceiling: f64,
    /// The backend the pipeline used, and why.
    pub rsa_backend: &'static str,
    pub rsa_backend_reason: String,
    /// crypto_mb's ceiling (eight lanes a call) on the same threads and keys, measured in the same
    /// run (None when it cannot run here), its halves, and the pipeline's ratio to it.
    pub crypto_mb_ceiling_per_sec: Option<f64>,
    pub crypto_mb_ceiling_before: Option<f64>,
    pub crypto_mb_ceiling_after: Option<f64>,
    pub ratio_to_crypto_mb_ceiling: Option<f64>,
    pub peak_rss_mb: f64,
    pub threads: usize,
    pub words: usize,
    pub stored: u64,
    pub dead_letters: u64,
    pub hits: u64,
    pub behaviour_hits: u64,
    /// Messages per second of each stage's busy time.
    pub stages: Stages,
    /// Each stage's busy time, seconds.
    pub stage_busy_seconds: Stages,
    /// Whether the spool was in the path, what was written to it, and its write rate over the
    /// appender's busy time (MiB/s, fsyncs included).
    pub spool: bool,
    pub spool_written_mb: f64,
    pub spool_mb_per_sec: f64,
    /// The media part (None with `--no-media`).
    pub media: Option<MediaReport>,
}

/// `n` distinct deterministic words of 2–4 common CJK characters, plus a few that occur in generated
/// archives, so that a strategy of realistic size also has hits.
pub fn synthetic_words(n: usize) -> Vec<String> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = std::collections::BTreeSet::new();
    while out.len() < n {
        let len = 2 + (next() % 3) as usize;
        let w: String = (0..len)
            .filter_map(|_| char::from_u32(0x4E00 + (next() % 3500) as u32))
            .collect();
        out.insert(w);
    }
    let mut v: Vec<String> = out.into_iter().collect();
    v.extend(["私下转账", "加我微信", "发票", "vx", "微信"].map(String::from));
    v
}

/// A one-strategy rule set over `words` (normalised, every member in scope).
pub fn synthetic_rules(words: usize) -> RuleSet {
    let mut rules = RuleSet::default();
    rules.strategies.push(crate::audit::Strategy {
        words: synthetic_words(words),
        allow_words: vec!["微信支付".into()],
        alert: false,
        ..crate::audit::Strategy::new(1, "bench")
    });
    rules
}

fn threads_or_all(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(2, usize::from)
    } else {
        threads
    }
}

/// Random keys recovered per second from `samples` with `backend` on `threads` threads, each
/// thread with its own one-thread pool taking 64 messages a call — the path the decode stage
/// takes, without the rest of the pipeline.
pub fn rsa_ceiling(
    keys: &KeyRing,
    backend: &RsaBackend,
    samples: &[EncryptedMessage],
    threads: usize,
    duration: Duration,
) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let items: Vec<(u32, &str)> = samples
        .iter()
        .map(|m| (m.publickey_ver, m.encrypt_random_key.as_str()))
        .collect();
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (done, stop, items) = (&done, &stop, &items);
            scope.spawn(move || {
                let Ok(pool) = rayon::ThreadPoolBuilder::new().num_threads(1).build() else {
                    return;
                };
                let mut at = (t * 37) % items.len();
                while !stop.load(Ordering::Relaxed) {
                    let end = (at + 64).min(items.len());
                    let ok = pool.install(|| keys.decrypt_random_keys(backend, &items[at..end]));
                    done.fetch_add(
                        ok.iter().filter(|r| r.is_ok()).count() as u64,
                        Ordering::Relaxed,
                    );
                    at = if end == items.len() { 0 } else { end };
                }
            });
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Both ceilings, OpenSSL's and (when it runs here) crypto_mb's, one after the other.
fn ceilings(
    keys: &KeyRing,
    mb: Option<&RsaBackend>,
    samples: &[EncryptedMessage],
    threads: usize,
    each: Duration,
) -> (f64, Option<f64>) {
    let openssl = rsa_ceiling(keys, &RsaBackend::OpenSsl, samples, threads, each);
    let mb = mb.map(|b| rsa_ceiling(keys, b, samples, threads, each));
    (openssl, mb)
}

/// The process's peak resident set, MiB (Linux `VmHWM`).
pub fn peak_rss_mb() -> f64 {
    peak_rss_mb_of("self")
}

/// The peak resident set of process `pid` (or `self`), MiB; 0 when it cannot be read.
pub fn peak_rss_mb_of(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The bench's own store directory, removed when the bench ends — on errors too.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> std::io::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("msgaudit-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// The bench archive's largest media file: real formats (pictures, AMR, MP4, PDF) of a few bytes to
/// 2 MiB, so that media costs what it costs without multi-MiB files dominating a short run.
const BENCH_MAX_MEDIA: u64 = 2 << 20;

fn rate(messages: u64, nanos: u64) -> f64 {
    if nanos == 0 {
        0.0
    } else {
        messages as f64 / (nanos as f64 / 1e9)
    }
}

/// Runs the bench; `stats` is updated live (for progress).
pub fn run(opts: &BenchOptions, stats: Arc<Stats>) -> Result<BenchReport, BenchError> {
    let threads = threads_or_all(opts.threads);
    let lib = FinanceLibrary::load(&opts.sdk)?;
    let mut keys = KeyRing::new();
    for v in [1, 2] {
        keys.insert(v, PrivateKey::from_file(fixture_key(v))?);
    }
    let keys = Arc::new(keys);
    // WeCom encrypts on its own servers: the pool keeps that cost (and the md5 of multi-MiB media,
    // which the bench never downloads) out of the receiving side's figures. Every message's key is
    // still RSA-decrypted by the pipeline.
    let corp_id = format!(
        "wwbench?messages={}&seed={}&key_pool=256&max_media={}",
        opts.messages, opts.seed, BENCH_MAX_MEDIA
    );
    let secret = Secret::new("bench");

    // The ceiling first, with the same keys and real ciphertexts, outside the pipeline.
    let mut probe = lib.session(&corp_id, &secret, &NetworkOptions::default())?;
    let samples = probe
        .get_chat_data(0, 1000, Duration::from_secs(10))?
        .messages;
    drop(probe);
    let half = Duration::from_millis(1500);
    // The pipeline's backend as `[crypto]` chooses it; crypto_mb's ceiling whenever it can run.
    let chosen = crate::sdk::rsa_backend::choose(opts.crypto.backend, opts.crypto.library.clone())?;
    let mb = match &chosen.backend {
        RsaBackend::CryptoMb(_) => Some(chosen.backend.clone()),
        RsaBackend::OpenSsl => crate::sdk::rsa_backend::choose(
            crate::sdk::BackendChoice::Auto,
            opts.crypto.library.clone(),
        )
        .ok()
        .map(|c| c.backend)
        .filter(|b| matches!(b, RsaBackend::CryptoMb(_))),
    };
    let (before, mb_before) = ceilings(&keys, mb.as_ref(), &samples, threads, half);

    let temp = TempDir::create()?;
    let url = match &opts.store_url {
        Some(u) => u.clone(),
        None => format!(
            "sqlite://{}{}",
            temp.0.join("bench.db").display(),
            if opts.archive_index {
                ""
            } else {
                "?archive_index=off"
            }
        ),
    };
    let rules = synthetic_rules(opts.words);
    let corp_keys = keys.clone();
    let config = Config {
        store_url: url,
        sdk: SdkConfig {
            library: opts.sdk.clone(),
            network: NetworkOptions::default(),
            timeout: Duration::from_secs(10),
            serialize_decrypt: false,
        },
        pull: PullConfig::default(),
        threads,
        queue_batches: 4,
        corps_from_store: false,
        corps_reload: Duration::from_secs(10),
        source: None,
        corps: vec![CorpConfig {
            corp_id,
            secret,
            keys,
            alert_app: None,
            contact_secret: None,
        }],
        alerts: AlertConfig {
            enabled: false,
            settings: Default::default(),
            drain: Duration::ZERO,
        },
        metrics_listen: None,
        display_zone: crate::timefmt::display_zone().clone(),
        names: None,
        crypto: opts.crypto.clone(),
        coordinator: None,
        spool: opts
            .spool
            .then(|| crate::spool::SpoolSettings::new(temp.0.join("bench.spool"), 2048 << 20)),
        media: opts.media.then(|| crate::config::MediaConfig {
            store: temp.0.join("media").display().to_string(),
            s3: None,
            fetcher: crate::media::FetcherSettings::default(),
            ffmpeg: "ffmpeg".into(),
        }),
    };
    let started = Instant::now();
    let done = Daemon::open(&config)?
        .with_fixed_rules(rules.clone())
        .with_stats(stats.clone())
        .run(true)?;
    let media_seconds = started.elapsed().as_secs_f64();
    let media = if opts.media {
        let m = done.store.media_summary()?;
        let s = &stats.media;
        let mb = Stats::get(&s.bytes) as f64 / MIB;
        Some(MediaReport {
            jobs: m.done,
            downloaded_files: Stats::get(&s.files),
            deduplicated: Stats::get(&s.deduplicated),
            dead: m.dead,
            mb,
            seconds: media_seconds,
            seconds_after_text: (media_seconds - done.summary.elapsed.as_secs_f64()).max(0.0),
            mb_per_sec: mb / media_seconds.max(1e-9),
            qr_hits: Stats::get(&s.qr_hits),
            playable: m.playable,
            busy_seconds: Stats::get(&s.busy_nanos) as f64 / 1e9,
            download_seconds: Stats::get(&s.download_nanos) as f64 / 1e9,
            scan_seconds: Stats::get(&s.scan_nanos) as f64 / 1e9,
            voice_seconds: Stats::get(&s.voice_nanos) as f64 / 1e9,
            put_seconds: Stats::get(&s.put_nanos) as f64 / 1e9,
        })
    } else {
        None
    };
    let summary = done.summary;
    drop(done.store);
    if let Some(f) = summary.failures.first() {
        return Err(BenchError::Corp(f.error.to_string()));
    }
    let (after, mb_after) = ceilings(&corp_keys, mb.as_ref(), &samples, threads, half);
    let ceiling = (before + after) / 2.0;
    let mb_ceiling = mb_before.zip(mb_after).map(|(b, a)| (b + a) / 2.0);
    let seconds = summary.elapsed.as_secs_f64();
    let messages = Stats::get(&stats.pulled);
    let msgs_per_sec = messages as f64 / seconds.max(1e-9);
    let nanos = |c: &AtomicU64| Stats::get(c);
    let decode = nanos(&stats.decode_nanos);
    Ok(BenchReport {
        messages,
        seconds,
        msgs_per_sec,
        rsa_ceiling_per_sec: ceiling,
        rsa_ceiling_before: before,
        rsa_ceiling_after: after,
        ratio_to_ceiling: if ceiling > 0.0 {
            msgs_per_sec / ceiling
        } else {
            0.0
        },
        rsa_backend: chosen.backend.name(),
        rsa_backend_reason: chosen.reason,
        crypto_mb_ceiling_per_sec: mb_ceiling,
        crypto_mb_ceiling_before: mb_before,
        crypto_mb_ceiling_after: mb_after,
        ratio_to_crypto_mb_ceiling: mb_ceiling.filter(|c| *c > 0.0).map(|c| msgs_per_sec / c),
        peak_rss_mb: peak_rss_mb(),
        threads,
        words: rules.strategies[0].words.len(),
        stored: Stats::get(&stats.stored),
        dead_letters: stats.dead_total(),
        hits: Stats::get(&stats.hits),
        behaviour_hits: Stats::get(&stats.act_hits),
        stages: Stages {
            pull: rate(messages, nanos(&stats.pull_nanos)),
            rsa: rate(messages, nanos(&stats.rsa_nanos)),
            spool: rate(messages, nanos(&stats.spool_nanos)),
            decrypt_parse: rate(messages, decode),
            audit: rate(messages, nanos(&stats.audit_nanos)),
            store: rate(messages, nanos(&stats.store_nanos)),
        },
        stage_busy_seconds: Stages {
            pull: nanos(&stats.pull_nanos) as f64 / 1e9,
            rsa: nanos(&stats.rsa_nanos) as f64 / 1e9,
            spool: nanos(&stats.spool_nanos) as f64 / 1e9,
            decrypt_parse: decode as f64 / 1e9,
            audit: nanos(&stats.audit_nanos) as f64 / 1e9,
            store: nanos(&stats.store_nanos) as f64 / 1e9,
        },
        spool: opts.spool,
        spool_written_mb: nanos(&stats.spool_written_bytes) as f64 / MIB,
        spool_mb_per_sec: rate(nanos(&stats.spool_written_bytes), nanos(&stats.spool_nanos)) / MIB,
        media,
    })
}
