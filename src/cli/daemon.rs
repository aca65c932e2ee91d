//! `msgaudit run`: the daemon. Loads and validates the configuration, opens the store and the SDK,
//! and runs the pipeline until SIGINT/SIGTERM (or, with `--once`, until every corp is drained).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use super::progress::{Progress, Style};
use crate::alert::{AlertSettings, Sender, SenderReport};
use crate::audit::LiveAudit;
use crate::config::Config;
use crate::pipeline::{self, PipelineSettings, PullSettings, RunSummary, Shutdown, Stats};
use crate::sdk::FinanceLibrary;
use crate::store::Store;

/// How often the daemon looks for rules changes (they apply within this plus the build time).
const RULES_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (see fixtures/msgaudit.toml).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Drain every corp once and exit instead of polling forever.
    #[arg(long)]
    pub once: bool,
}

/// What a pipeline run left behind, for the caller's summary.
pub struct Finished {
    pub summary: RunSummary,
    pub stats: Arc<Stats>,
    pub store: Arc<dyn Store>,
    /// What the alert sender did (None when alerts are disabled).
    pub alerts: Option<SenderReport>,
}

/// Starts the alert sender on its own thread; it runs until `stop`, then hands itself back.
fn spawn_sender(
    store: Arc<dyn Store>,
    settings: AlertSettings,
    stop: Shutdown,
    stats: Arc<Stats>,
) -> anyhow::Result<std::thread::JoinHandle<Sender>> {
    let mut sender = Sender::new(store, settings).context("starting the alert sender")?;
    Ok(std::thread::Builder::new()
        .name("alerts".into())
        .spawn(move || {
            sender.run(&stop, Some(stats));
            sender
        })?)
}

/// Opens everything a configuration names and runs the pipeline.
pub fn run_config(config: &Config, once: bool, style: Style) -> anyhow::Result<Finished> {
    let store: Arc<dyn Store> =
        Arc::from(crate::store::open(&config.store_url).with_context(|| {
            format!(
                "opening the store {}",
                crate::store::redact_url(&config.store_url)
            )
        })?);
    let accounts = if config.corps_from_store {
        store.corp_accounts()?
    } else {
        Vec::new()
    };
    let corps = config.with_store_corps(&accounts)?;
    if corps.is_empty() {
        bail!("no corps to archive: add [[corps]] to the config or rows to we_corp_account");
    }
    let lib = FinanceLibrary::load(&config.sdk.library)?;
    let mut decryptor = lib.decryptor();
    if config.sdk.serialize_decrypt {
        decryptor = decryptor.serialized();
    }
    let settings = PipelineSettings {
        pull: PullSettings {
            pull: config.pull.clone(),
            timeout: config.sdk.timeout,
            once,
        },
        network: config.sdk.network.clone(),
        threads: config.threads,
        queue_batches: config.queue_batches,
        max_store_backoff: config.pull.max_backoff,
        spool: config.spool.clone(),
    };
    let live = LiveAudit::new(LiveAudit::load(store.as_ref()).context("loading the audit rules")?);
    tracing::info!(rules_version = live.current().version, "audit rules loaded");
    let reload_stop = Shutdown::new();
    let reloader = live
        .spawn_reloader(store.clone(), reload_stop.clone(), RULES_RELOAD_INTERVAL)
        .context("starting the rules reloader")?;
    let shutdown = Shutdown::new();
    shutdown
        .install_signal_handlers()
        .context("installing the SIGINT/SIGTERM handlers")?;
    let stats = Arc::new(Stats::default());
    let alert_stop = Shutdown::new();
    if let Some(addr) = config.metrics_listen {
        let bound = crate::metrics::serve(addr, stats.clone(), store.clone(), alert_stop.clone())
            .with_context(|| format!("serving metrics on {addr} ([metrics] listen)"))?;
        tracing::info!(url = %format!("http://{bound}/metrics"), "metrics");
    }
    let sender = if config.alerts.enabled {
        Some(spawn_sender(
            store.clone(),
            config.alert_settings(&corps),
            alert_stop.clone(),
            stats.clone(),
        )?)
    } else {
        tracing::info!("alerts are disabled ([alerts] enabled = false): hits stay pending");
        None
    };
    let summary = {
        let _progress = Progress::start(stats.clone(), style);
        pipeline::run(
            &lib,
            decryptor,
            store.clone(),
            &corps,
            &settings,
            live,
            stats.clone(),
            shutdown.clone(),
        )
    };
    reload_stop.request();
    let _ = reloader.join();
    alert_stop.request();
    let alerts = match sender.map(|s| s.join()) {
        Some(Ok(mut sender)) => {
            if once && !shutdown.is_requested() {
                if let Err(e) = sender.drain(config.alerts.drain, &Shutdown::new()) {
                    tracing::warn!(error = %e, "alerts could not all be sent; they stay pending for the next run");
                }
            }
            Some(sender.report)
        }
        Some(Err(_)) => bail!("the alert sender panicked; pending alerts stay in the outbox"),
        None => None,
    };
    Ok(Finished {
        summary: summary?,
        stats,
        store,
        alerts,
    })
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
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
            no_destination = a.unroutable,
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
        bail!("some corps stopped on SDK errors:\n  {}", list.join("\n  "));
    }
    Ok(())
}
