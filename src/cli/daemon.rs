//! `msgaudit run`: loads and validates the configuration, runs the daemon ([`crate::daemon`]) until
//! SIGINT/SIGTERM (or, with `--once`, until every corp is drained), and reports what it did.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::progress::{Progress, Style};
use crate::config::Config;
use crate::daemon::{Daemon, Finished};
use crate::runtime::Stats;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (see fixtures/msgaudit.toml).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Drain every corp once and exit instead of polling forever.
    #[arg(long)]
    pub once: bool,
}

/// Opens and runs the daemon a configuration describes, showing progress in `style`.
pub fn run_config(config: &Config, once: bool, style: Style) -> anyhow::Result<Finished> {
    let daemon = Daemon::open(config)?;
    let _progress = Progress::start(daemon.stats(), style);
    Ok(daemon.run(once)?)
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    crate::timefmt::set_display_zone(config.display_zone.clone());
    tracing::info!(config = %args.config.display(), corps = config.corps.len(), store = %crate::store::redact_url(&config.store_url), "msgaudit starts");
    let done = run_config(
        &config,
        args.once,
        Style::Log {
            every: Duration::from_secs(30),
        },
    )?;
    let s = &done.stats;
    tracing::info!(
        pulled = Stats::get(&s.pulled),
        stored = Stats::get(&s.stored),
        duplicates = Stats::get(&s.duplicates),
        dead_letters = s.dead_total(),
        hits = Stats::get(&s.hits),
        behaviour_hits = Stats::get(&s.act_hits),
        seconds = done.summary.elapsed.as_secs_f64(),
        "msgaudit stopped"
    );
    if let Some(a) = &done.alerts {
        tracing::info!(
            posts_sent = a.posts_sent,
            posts_failed = a.posts_failed,
            retries = a.retries,
            hits_alerted = a.hits_sent,
            waiting = a.waiting,
            routes_without_destination = a.unroutable,
            "alerts"
        );
    }
    if done.summary.abandoned_batches > 0 {
        tracing::warn!(
            batches = done.summary.abandoned_batches,
            "batches unstored at shutdown are stored next start (from the spool, or pulled again without one)"
        );
    }
    if !done.summary.failures.is_empty() {
        let list: Vec<String> = done
            .summary
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.corp_id, f.error))
            .collect();
        bail!(
            "some corps stopped on SDK errors:\n  {}\n`msgaudit check --config {}` tries each corp's secret and keys against its archive",
            list.join("\n  "),
            args.config.display()
        );
    }
    Ok(())
}
