//! `msgaudit bench`: the end-to-end throughput run (see `crate::bench`), with progress, a table, or
//! one JSON object.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::progress::{Progress, Style};
use crate::bench::{BenchOptions, run as run_bench};
use crate::emulator::bundled_emulator;
use crate::runtime::Stats;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Messages in the generated archive.
    #[arg(long, default_value_t = 50_000)]
    pub messages: u64,
    /// Decrypt+parse threads, and threads of the RSA ceiling (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Store to bench (default: a fresh SQLite file in a temporary directory, removed after).
    #[arg(long)]
    pub store: Option<String>,
    /// Words of the synthetic audit strategy.
    #[arg(long, default_value_t = 10_000)]
    pub words: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// SDK library (default: the bundled emulator).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Pass batches on in memory instead of through the durable spool (the daemon's default path).
    #[arg(long)]
    pub no_spool: bool,
    /// Leave media out (by default it is fetched beside the pipeline, as the daemon does, and
    /// reported separately).
    #[arg(long)]
    pub no_media: bool,
    /// Store without the conversation tables and search index the writer keeps (to measure what
    /// they cost: run with and without, and compare the ratios to the ceiling).
    #[arg(long)]
    pub no_archive_index: bool,
    /// The pipeline's RSA backend: auto (crypto_mb when it can run here), openssl or crypto_mb.
    #[arg(long, value_enum, default_value_t = RsaChoice::Auto)]
    pub rsa: RsaChoice,
    /// ipp-crypto's libcrypto_mb.so (default: $MSGAUDIT_CRYPTO_MB, else target/crypto-mb/lib/
    /// when scripts/fetch-crypto-mb has put it there). Both ceilings are measured when it runs.
    #[arg(long)]
    pub crypto_library: Option<PathBuf>,
}

/// `--rsa`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RsaChoice {
    Auto,
    Openssl,
    CryptoMb,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let sdk = match args.sdk {
        Some(p) => p,
        None => bundled_emulator()?,
    };
    let opts = BenchOptions {
        messages: args.messages,
        threads: args.threads,
        store_url: args.store,
        words: args.words,
        seed: args.seed,
        sdk,
        spool: !args.no_spool,
        media: !args.no_media,
        archive_index: !args.no_archive_index,
        crypto: crate::config::CryptoConfig {
            backend: match args.rsa {
                RsaChoice::Auto => crate::sdk::BackendChoice::Auto,
                RsaChoice::Openssl => crate::sdk::BackendChoice::Openssl,
                RsaChoice::CryptoMb => crate::sdk::BackendChoice::CryptoMb,
            },
            library: args
                .crypto_library
                .or_else(|| std::env::var_os("MSGAUDIT_CRYPTO_MB").map(PathBuf::from))
                .or_else(fetched_crypto_mb),
        },
    };
    if !args.json {
        eprintln!(
            "measuring the RSA ceiling (1.5 s), running {} messages through the pipeline, then the ceiling again (1.5 s)…",
            opts.messages
        );
    }
    let stats = Arc::new(Stats::default());
    let report = {
        let _progress = Progress::start(
            stats.clone(),
            Style::Human {
                total: Some(opts.messages),
            },
        );
        run_bench(&opts, stats.clone())?
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let r = &report;
    println!(
        "msgaudit bench: {} messages, {} threads, {} audit words",
        r.messages, r.threads, r.words
    );
    println!("  elapsed                 {:>10.2} s", r.seconds);
    println!("  pipeline                {:>10.0} msg/s", r.msgs_per_sec);
    println!(
        "  RSA ceiling             {:>10.0} decryptions/s  (same keys, same threads, no pipeline; {:.0} before, {:.0} after)",
        r.rsa_ceiling_per_sec, r.rsa_ceiling_before, r.rsa_ceiling_after
    );
    println!("  ratio to ceiling        {:>10.3}", r.ratio_to_ceiling);
    if let (Some(c), Some(b), Some(a), Some(ratio)) = (
        r.crypto_mb_ceiling_per_sec,
        r.crypto_mb_ceiling_before,
        r.crypto_mb_ceiling_after,
        r.ratio_to_crypto_mb_ceiling,
    ) {
        println!(
            "  crypto_mb ceiling       {:>10.0} decryptions/s  (eight lanes a call, same keys and threads; {:.0} before, {:.0} after; {:.2}× OpenSSL)",
            c,
            b,
            a,
            c / r.rsa_ceiling_per_sec.max(1e-9)
        );
        println!("  ratio to crypto_mb      {:>10.3}", ratio);
    }
    println!(
        "  RSA backend             {:>10}  ({})",
        r.rsa_backend, r.rsa_backend_reason
    );
    println!("  peak RSS                {:>10.1} MiB", r.peak_rss_mb);
    println!(
        "  stored / dead letters   {:>10} / {}",
        r.stored, r.dead_letters
    );
    println!(
        "  hits / behaviour hits   {:>10} / {}",
        r.hits, r.behaviour_hits
    );
    println!("  stage (msg/s of busy time, busy seconds):");
    let s = (&r.stages, &r.stage_busy_seconds);
    println!(
        "    pull (GetChatData)    {:>10.0}   {:>7.2} s",
        s.0.pull, s.1.pull
    );
    if r.spool {
        println!(
            "    spool (fsync'd)       {:>10.0}   {:>7.2} s   {:.0} MiB at {:.0} MiB/s",
            s.0.spool, s.1.spool, r.spool_written_mb, r.spool_mb_per_sec
        );
    }
    println!(
        "    decrypt+parse+audit   {:>10.0}   {:>7.2} s",
        s.0.decrypt_parse, s.1.decrypt_parse
    );
    println!(
        "    RSA alone ({:<9})   {:>10.0}   {:>7.2} s",
        r.rsa_backend, s.0.rsa, s.1.rsa
    );
    println!(
        "    audit alone           {:>10.0}   {:>7.2} s",
        s.0.audit, s.1.audit
    );
    println!(
        "    store                 {:>10.0}   {:>7.2} s",
        s.0.store, s.1.store
    );
    match &r.media {
        None => println!("  media                   left out (--no-media)"),
        Some(m) => {
            println!(
                "  media                   {:>10.1} MiB/s  ({} attachments: {} files downloaded, {} deduplicated, {} dead; {:.1} MiB)",
                m.mb_per_sec, m.jobs, m.downloaded_files, m.deduplicated, m.dead, m.mb
            );
            println!(
                "                          {:>10.2} s in all, {:.2} s of it after the text was done; {} QR-code hits, {} voice made playable",
                m.seconds, m.seconds_after_text, m.qr_hits, m.playable
            );
            println!(
                "                          fetcher busy {:.1} s: download {:.1} s, QR scan {:.1} s, voice {:.1} s, put {:.1} s",
                m.busy_seconds, m.download_seconds, m.scan_seconds, m.voice_seconds, m.put_seconds
            );
        }
    }
    Ok(())
}

/// `target/crypto-mb/lib/libcrypto_mb.so` under the current directory, when
/// `scripts/fetch-crypto-mb` has put it there.
fn fetched_crypto_mb() -> Option<PathBuf> {
    let p = PathBuf::from("target/crypto-mb/lib/libcrypto_mb.so");
    p.is_file().then(|| p.canonicalize().unwrap_or(p))
}
