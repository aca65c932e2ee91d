//! The running daemon: the one place that builds a daemon from a validated [`Config`] and runs it.
//!
//! [`Daemon::open`] opens what the configuration names — the store, the corps (configured and, when
//! asked, from `we_corp_account`), the SDK library — and [`Daemon::run`] starts the rest around the
//! pipeline: the rules (loaded, then reloaded as they change), the signal handlers, the metrics
//! endpoint, the alert sender and the media fetchers, all under the process's one [`Shutdown`]
//! token. When the pipeline
//! returns (a signal, or every corp drained in once mode) the token stops every other part; in once
//! mode the alert sender then drains what is still pending. `msgaudit run`, `demo` and `bench` all
//! come through here.

mod corps;
mod fleet;
mod media;
mod media_figures;
pub mod metrics;
mod names;
pub mod scrape;
mod settings;

pub use settings::pipeline_settings;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::alert::{Sender, SenderReport};
use crate::audit::{Auditor, RuleSet};
use crate::config::{Config, CoordinatorConfig, CorpConfig};
use crate::pipeline::{self, LiveAudit, Parts, RunSummary};
use crate::runtime::{Shutdown, Stats};
use crate::sdk::FinanceLibrary;
use crate::store::{Store, StoreError};

/// How often the daemon looks for rules changes (they apply within this plus the build time).
const RULES_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// How long one etcd request may take before the next endpoint is tried.
const ETCD_TIMEOUT: Duration = Duration::from_secs(2);

/// The daemon could not start, or a part of it failed.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("opening the store {url}: {source}")]
    Store {
        /// Redacted.
        url: String,
        #[source]
        source: StoreError,
    },
    #[error("reading the corps of we_corp_account: {0}")]
    Accounts(#[source] StoreError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("no corps to archive: add [[corps]] to the config or rows to we_corp_account")]
    NoCorps,
    #[error(transparent)]
    Load(#[from] crate::sdk::LoadError),
    #[error(transparent)]
    Rsa(#[from] crate::sdk::rsa_backend::BackendError),
    #[error("loading the audit rules: {0}")]
    Rules(#[source] pipeline::ReloadError),
    #[error("starting the {what}: {source}")]
    Start {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("serving metrics on {addr} ([metrics] listen): {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the alert sender: {0}")]
    Sender(#[source] crate::alert::SenderError),
    #[error("the alert sender panicked; pending alerts stay in the outbox")]
    SenderPanicked,
    #[error(transparent)]
    Pipeline(#[from] pipeline::PipelineError),
    #[error("opening the media store ([media] store): {0}")]
    Media(#[source] crate::media::MediaStoreError),
    #[error(
        "--once drains every corp in one process; a daemon of a fleet ([coordinator]) pulls only the corps it holds: run --once without [coordinator]"
    )]
    OnceInFleet,
    #[error("the etcd client ([coordinator] etcd): {0}")]
    Coordinator(#[source] crate::coordinator::EtcdError),
}

/// What a run left behind, for the caller's summary.
pub struct Finished {
    pub summary: RunSummary,
    pub stats: Arc<Stats>,
    pub store: Arc<dyn Store>,
    /// What the alert sender did (None when alerts are disabled).
    pub alerts: Option<SenderReport>,
}

/// The threads running beside the pipeline that the daemon joins: the rules reloader and the alert
/// sender (each absent when not wanted).
type Beside = (Option<JoinHandle<()>>, Option<JoinHandle<Sender>>);

/// A daemon opened from its configuration, ready to run.
pub struct Daemon {
    config: Config,
    store: Arc<dyn Store>,
    lib: FinanceLibrary,
    corps: Vec<CorpConfig>,
    stats: Arc<Stats>,
    shutdown: Shutdown,
    /// Rules fixed for the whole run instead of the store's (the bench's synthetic strategy).
    fixed_rules: Option<RuleSet>,
    /// The RSA implementation, and why it was chosen.
    rsa: crate::sdk::ChosenBackend,
    /// What the media and names fetchers read of the corps archived now.
    live: corps::LiveCorps,
    /// In a fleet: whether this daemon sends the alerts now.
    leadership: fleet::Leadership,
}

impl Daemon {
    /// Opens the store, the corps and the SDK library the configuration names.
    pub fn open(config: &Config) -> Result<Daemon, DaemonError> {
        let url = crate::store::redact_url(&config.store_url);
        let store: Arc<dyn Store> = Arc::from(
            crate::store::open(&config.store_url)
                .map_err(|source| DaemonError::Store { url, source })?,
        );
        let accounts = if config.corps_from_store {
            store.corp_accounts().map_err(DaemonError::Accounts)?
        } else {
            Vec::new()
        };
        let corps = config.with_store_corps(&accounts)?;
        if corps.is_empty() && !config.corps_from_store {
            return Err(DaemonError::NoCorps);
        }
        if corps.is_empty() {
            tracing::info!("no corps yet: waiting for rows in we_corp_account");
        }
        let rsa =
            crate::sdk::rsa_backend::choose(config.crypto.backend, config.crypto.library.clone())?;
        tracing::info!(backend = rsa.backend.name(), reason = %rsa.reason, "RSA backend");
        Ok(Daemon {
            live: corps::LiveCorps::new(&corps, config.coordinator.is_some()),
            rsa,
            lib: FinanceLibrary::load(&config.sdk.library)?,
            config: config.clone(),
            store,
            corps,
            stats: Arc::new(Stats::default()),
            shutdown: Shutdown::new(),
            fixed_rules: None,
            leadership: fleet::Leadership::default(),
        })
    }

    /// Audits with `rules` for the whole run, ignoring (and never reloading) the store's.
    pub fn with_fixed_rules(mut self, rules: RuleSet) -> Daemon {
        self.fixed_rules = Some(rules);
        self
    }

    /// Counts into `stats` (the caller's, already shown as progress) instead of fresh counters.
    pub fn with_stats(mut self, stats: Arc<Stats>) -> Daemon {
        self.stats = stats;
        self
    }

    /// The RSA backend in use, and why.
    pub fn rsa(&self) -> &crate::sdk::ChosenBackend {
        &self.rsa
    }

    /// The counters the run updates (for progress display).
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// The process's shutdown token.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Runs until SIGINT/SIGTERM or, with `once`, until every corp is drained; then stops every
    /// part and (once) lets the alert sender finish what is pending.
    pub fn run(self, once: bool) -> Result<Finished, DaemonError> {
        if once && self.config.coordinator.is_some() {
            return Err(DaemonError::OnceInFleet);
        }
        let _ = self
            .stats
            .rsa_backend
            .set((self.rsa.backend.name(), self.rsa.reason.clone()));
        // In a fleet: its configuration with a client of its etcd.
        let fleet = self
            .config
            .coordinator
            .clone()
            .map(|c| {
                crate::coordinator::Etcd::new(&c.endpoints, ETCD_TIMEOUT).map(|etcd| (c, etcd))
            })
            .transpose()
            .map_err(DaemonError::Coordinator)?;
        let live = self.audit()?;
        // A part that cannot start stops the ones already running before the error is returned.
        let (reloader, sender) = self
            .start_parts(&live)
            .inspect_err(|_| self.shutdown.request())?;
        let fetchers = self
            .spawn_fetchers(&live)
            .inspect_err(|_| self.shutdown.request())?;
        let names = self
            .spawn_names()
            .inspect_err(|_| self.shutdown.request())?;
        let summary = self.run_pipeline(live, once, fleet);
        if let Some(f) = fetchers {
            // Once: the fetchers finish what the archive brought, then stop (or at a signal).
            if !once || summary.is_err() {
                self.shutdown.request();
            }
            f.ingest_done
                .store(true, std::sync::atomic::Ordering::Release);
            let _ = f.handle.join();
        }
        let interrupted = self.shutdown.is_requested();
        self.shutdown.request();
        if let Some(r) = reloader {
            let _ = r.join();
        }
        if let Some(n) = names {
            let _ = n.join();
            if once && !interrupted && summary.is_ok() {
                self.name_what_was_stored();
            }
        }
        let alerts = match sender.map(JoinHandle::join) {
            Some(Ok(mut sender)) => {
                if once && !interrupted {
                    if let Err(e) = sender.drain(self.config.alerts.drain) {
                        tracing::warn!(error = %e, "alerts could not all be sent; they stay pending for the next run");
                    }
                }
                Some(sender.report)
            }
            Some(Err(_)) => return Err(DaemonError::SenderPanicked),
            None => None,
        };
        Ok(Finished {
            summary: summary?,
            stats: self.stats,
            store: self.store,
            alerts,
        })
    }

    /// Starts what runs beside the pipeline: the rules reloader (unless the rules are fixed), the
    /// signal handlers, the metrics endpoint and the alert sender.
    fn start_parts(&self, live: &Arc<LiveAudit>) -> Result<Beside, DaemonError> {
        let reloader = match &self.fixed_rules {
            Some(_) => None,
            None => Some(
                live.spawn_reloader(
                    self.store.clone(),
                    self.shutdown.clone(),
                    RULES_RELOAD_INTERVAL,
                )
                .map_err(|source| DaemonError::Start {
                    what: "rules reloader",
                    source,
                })?,
            ),
        };
        self.shutdown
            .install_signal_handlers()
            .map_err(|source| DaemonError::Start {
                what: "SIGINT/SIGTERM handlers",
                source,
            })?;
        if let Some(addr) = self.config.metrics_listen {
            let bound = metrics::serve(
                addr,
                self.stats.clone(),
                self.store.clone(),
                self.shutdown.clone(),
            )
            .map_err(|source| DaemonError::Metrics { addr, source })?;
            tracing::info!(url = %format!("http://{bound}/metrics"), "metrics");
        }
        Ok((reloader, self.spawn_sender()?))
    }

    /// The audit stage: the fixed rules, or the store's current ones.
    fn audit(&self) -> Result<Arc<LiveAudit>, DaemonError> {
        let auditor = match &self.fixed_rules {
            Some(rules) => Auditor::build(rules, 1)
                .map_err(|e| DaemonError::Rules(pipeline::ReloadError::Build(e)))?,
            None => LiveAudit::load(self.store.as_ref()).map_err(DaemonError::Rules)?,
        };
        crate::runtime::release_freed_memory();
        tracing::info!(
            rules_version = auditor.version,
            matcher_bytes = auditor.memory_usage(),
            "audit rules loaded"
        );
        Ok(LiveAudit::new(auditor))
    }

    /// Starts the alert sender on its own thread (unless alerts are disabled); it runs until the
    /// shutdown token, then hands itself back.
    fn spawn_sender(&self) -> Result<Option<JoinHandle<Sender>>, DaemonError> {
        if !self.config.alerts.enabled {
            tracing::info!("alerts are disabled ([alerts] enabled = false): hits stay pending");
            return Ok(None);
        }
        let mut settings = self.config.alerts.settings.clone();
        settings.apps = self.live.alert_apps.clone();
        let mut sender = Sender::new(self.store.clone(), settings).map_err(DaemonError::Sender)?;
        let (stop, stats) = (self.shutdown.clone(), self.stats.clone());
        let fleet = self.config.coordinator.is_some();
        let leadership = self.leadership.clone();
        std::thread::Builder::new()
            .name("alerts".into())
            .spawn(move || {
                if !fleet {
                    sender.run(&stop, Some(stats));
                    return sender;
                }
                // In a fleet: send during each term this daemon holds the alert-sender key.
                loop {
                    let Some(term) = leadership.term() else {
                        if stop.sleep(Duration::from_millis(200)) {
                            continue;
                        }
                        return sender;
                    };
                    sender.run(&term, Some(stats.clone()));
                }
            })
            .map(Some)
            .map_err(|source| DaemonError::Start {
                what: "alert sender",
                source,
            })
    }

    fn run_pipeline(
        &self,
        live: Arc<LiveAudit>,
        once: bool,
        fleet: Option<(CoordinatorConfig, crate::coordinator::Etcd)>,
    ) -> Result<RunSummary, pipeline::PipelineError> {
        let mut decryptor = self.lib.decryptor();
        if self.config.sdk.serialize_decrypt {
            decryptor = decryptor.serialized();
        }
        let corps: Vec<_> = self.corps.iter().map(CorpConfig::pull_source).collect();
        // Corps come and go while a daemon runs; a once run drains the corps it started with. In
        // a fleet the watcher tells the fleet thread, which hands the pipeline the corps it holds.
        let idle_at_start = fleet.is_some();
        // In a fleet the pullers call the SDK only while the lease surely lives.
        let fence = crate::runtime::PullFence::closed();
        let mut fleet_thread = None;
        let changes = if once {
            None
        } else {
            let (tx, rx) = crossbeam_channel::unbounded();
            let watch = corps::CorpWatch {
                config: self.config.clone(),
                store: self.store.clone(),
                current: self
                    .corps
                    .iter()
                    .map(|c| (c.corp_id.clone(), c.clone()))
                    .collect(),
                rows: std::collections::HashMap::new(),
                changes: tx,
                live: self.live.clone(),
                shutdown: self.shutdown.clone(),
            };
            std::thread::Builder::new()
                .name("corp-watch".into())
                .spawn(move || watch.run())
                .map_err(pipeline::PipelineError::Thread)?;
            match fleet {
                None => Some(rx),
                Some((config, etcd)) => {
                    let (thread, from_fleet) = self.spawn_fleet(config, etcd, rx, fence.clone())?;
                    fleet_thread = Some(thread);
                    Some(from_fleet)
                }
            }
        };
        let parts = Parts {
            lib: &self.lib,
            decryptor,
            rsa: self.rsa.backend.clone(),
            store: self.store.clone(),
            audit: live,
            stats: self.stats.clone(),
            shutdown: self.shutdown.clone(),
            changes,
            idle_at_start,
            fence: idle_at_start.then_some(fence),
        };
        let summary = pipeline::run(parts, &corps, &pipeline_settings(&self.config, once));
        if let Some(thread) = fleet_thread {
            // Nothing pulls any more: leave the fleet so the others take the corps at once.
            self.shutdown.request();
            if let Ok(left) = thread.join() {
                left.revoke();
            }
        }
        summary
    }

    /// Starts the fleet thread: it takes the corps the watcher says the fleet archives
    /// (`from_watch`) and hands the pipeline, through the receiver returned, those it holds.
    fn spawn_fleet(
        &self,
        config: CoordinatorConfig,
        etcd: crate::coordinator::Etcd,
        from_watch: crossbeam_channel::Receiver<pipeline::CorpChange>,
        fence: crate::runtime::PullFence,
    ) -> Result<
        (
            JoinHandle<fleet::Left>,
            crossbeam_channel::Receiver<pipeline::CorpChange>,
        ),
        pipeline::PipelineError,
    > {
        let (to_pipeline, from_fleet) = crossbeam_channel::unbounded();
        let fleet = fleet::Fleet {
            etcd,
            keys: crate::coordinator::Keys::new(&config.prefix),
            config,
            from_watch,
            to_pipeline,
            live: self.live.clone(),
            leadership: self.leadership.clone(),
            fence,
            shutdown: self.shutdown.clone(),
            wanted: self
                .corps
                .iter()
                .map(|c| (c.corp_id.clone(), c.pull_source()))
                .collect(),
        };
        let thread = std::thread::Builder::new()
            .name("fleet".into())
            .spawn(move || fleet.run())
            .map_err(pipeline::PipelineError::Thread)?;
        Ok((thread, from_fleet))
    }
}
