//! Corps coming and going while the daemon runs: a watcher thread reads `we_corp_account` again
//! every `corps_reload_secs` (with `corps_from_store`) and the config file's `[[corps]]` on SIGHUP,
//! and tells the pipeline which corps to add (new ones, and ones whose secret or keys changed) and
//! which to remove (gone from both, or `del_flag` set); the media and names fetchers and the
//! alert sender follow ([`LiveCorps`]). A corp that cannot be read (a missing
//! secret variable, an unreadable key) is reported once and left out until it can; the others go
//! on. Nothing restarts and nothing pauses for the rest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::alert::AppCredentials;
use crate::config::{Config, CorpConfig};
use crate::names::CorpCredentials;
use crate::pipeline::CorpChange;
use crate::runtime::{Shared, Shutdown};
use crate::secret::Secret;
use crate::store::Store;

/// How often the watcher looks for a SIGHUP.
const TICK: Duration = Duration::from_millis(200);

/// What the parts beside the pipeline read of the corps archived now (the media fetchers their
/// archive secrets, the names fetcher their credentials, the alert sender their apps), replaced
/// as corps come and go. In a fleet the media and names fetchers follow only the corps this daemon
/// holds ([`LiveCorps::set_held`]); the alert sender, which sends for the whole fleet, all of them.
#[derive(Clone)]
pub(super) struct LiveCorps {
    pub media: Shared<HashMap<String, Secret>>,
    pub names: Shared<Vec<CorpCredentials>>,
    /// The alert apps, for the alert sender.
    pub alert_apps: Shared<HashMap<String, AppCredentials>>,
    state: Arc<Mutex<Archived>>,
}

/// The corps archived, and (in a fleet) the ids of those this daemon holds.
#[derive(Default)]
struct Archived {
    corps: Vec<CorpConfig>,
    held: Option<HashSet<String>>,
}

impl LiveCorps {
    /// `corps`, all held unless `fleet` (then none until [`LiveCorps::set_held`]).
    pub fn new(corps: &[CorpConfig], fleet: bool) -> LiveCorps {
        let live = LiveCorps {
            media: Shared::default(),
            names: Shared::default(),
            alert_apps: Shared::default(),
            state: Arc::new(Mutex::new(Archived {
                corps: Vec::new(),
                held: fleet.then(HashSet::new),
            })),
        };
        live.set(corps);
        live
    }

    /// Puts `corps` in force.
    pub fn set(&self, corps: &[CorpConfig]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.corps = corps.to_vec();
        self.alert_apps.set(crate::config::alert_apps(corps));
        self.publish(&state);
    }

    /// In a fleet: the corps this daemon holds now.
    pub fn set_held(&self, held: HashSet<String>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.held = Some(held);
        self.publish(&state);
    }

    fn publish(&self, Archived { corps, held }: &Archived) {
        let mine = corps
            .iter()
            .filter(|c| held.as_ref().is_none_or(|h| h.contains(&c.corp_id)));
        self.media.set(
            mine.clone()
                .map(|c| (c.corp_id.clone(), c.secret.clone()))
                .collect(),
        );
        self.names.set(mine.map(credentials).collect());
    }
}

/// A corp's secrets for the names fetcher: its contact secret, else its archive secret.
fn credentials(c: &CorpConfig) -> CorpCredentials {
    CorpCredentials {
        corp_id: c.corp_id.clone(),
        contact_secret: c.contact_secret.clone().unwrap_or_else(|| c.secret.clone()),
        archive_secret: c.secret.clone(),
    }
}

/// The corps as the watcher last told the pipeline.
pub(super) struct CorpWatch {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub current: BTreeMap<String, CorpConfig>,
    /// The `we_corp_account` rows behind `current`, as last read: an unchanged row is not read
    /// again (its secret and key files) until a SIGHUP.
    pub rows: HashMap<String, crate::store::CorpAccount>,
    pub changes: Sender<CorpChange>,
    /// What the media and names fetchers read of the corps archived now.
    pub live: LiveCorps,
    pub shutdown: Shutdown,
}

fn same(a: &CorpConfig, b: &CorpConfig) -> bool {
    a.secret.expose() == b.secret.expose() && a.keys.same_keys(&b.keys)
}

impl CorpWatch {
    /// Runs until shutdown.
    pub fn run(mut self) {
        let mut hangups = match signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP]) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch for SIGHUP; the config's corps are read at start only");
                None
            }
        };
        let mut warned = HashSet::new();
        let mut next_read = Instant::now() + self.config.corps_reload;
        while self.shutdown.sleep(TICK) {
            let hangup = hangups
                .as_mut()
                .is_some_and(|s| s.pending().next().is_some());
            if hangup {
                self.reload_config();
            } else if !(self.config.corps_from_store && Instant::now() >= next_read) {
                continue;
            }
            next_read = Instant::now() + self.config.corps_reload;
            if let Some(wanted) = self.wanted(&mut warned, hangup) {
                self.apply(wanted);
            }
        }
    }

    /// Reads the config file again (SIGHUP); a config that does not load keeps the old one.
    fn reload_config(&mut self) {
        let Some(path) = self.config.source.clone() else {
            return;
        };
        match Config::load(&path) {
            Ok(c) => {
                tracing::info!(config = %path.display(), corps = c.corps.len(), "SIGHUP: config read again for its corps");
                self.config.corps = c.corps;
                self.config.corps_from_store = c.corps_from_store;
                self.config.corps_reload = c.corps_reload;
            }
            Err(e) => tracing::error!(config = %path.display(), error = %e,
                "SIGHUP: the config does not load; the corps stay as they are (fix it and send SIGHUP again)"),
        }
    }

    /// The corps to archive now: the config's, and `we_corp_account`'s not configured. A row
    /// unchanged since the last read keeps the corp as it is, unless `full` (SIGHUP: every
    /// secret and key file is read again). None when the store cannot be read (nothing changes).
    fn wanted(
        &mut self,
        warned: &mut HashSet<String>,
        full: bool,
    ) -> Option<BTreeMap<String, CorpConfig>> {
        let mut wanted: BTreeMap<String, CorpConfig> = self
            .config
            .corps
            .iter()
            .map(|c| (c.corp_id.clone(), c.clone()))
            .collect();
        if !self.config.corps_from_store {
            return Some(wanted);
        }
        let accounts = match self.store.corp_accounts() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read we_corp_account; the corps stay as they are");
                return None;
            }
        };
        for a in accounts {
            if wanted.contains_key(&a.corp_id) {
                continue;
            }
            let unchanged = !full && self.rows.get(&a.corp_id) == Some(&a);
            if let Some(c) = self.current.get(&a.corp_id).filter(|_| unchanged) {
                wanted.insert(a.corp_id.clone(), c.clone());
                continue;
            }
            match crate::config::corp_from_account(&a) {
                Ok(c) => {
                    warned.remove(&a.corp_id);
                    self.rows.insert(a.corp_id.clone(), a.clone());
                    wanted.insert(a.corp_id.clone(), c);
                }
                Err(e) => {
                    if warned.insert(a.corp_id.clone()) {
                        tracing::error!(corp = %a.corp_id, error = %e,
                            "a we_corp_account row cannot be read; the corp is left out until it can");
                    }
                    // A corp archived already keeps going with what it had.
                    if let Some(c) = self.current.get(&a.corp_id) {
                        wanted.insert(a.corp_id.clone(), c.clone());
                    }
                }
            }
        }
        Some(wanted)
    }

    /// Tells the pipeline (and the media fetchers) what changed.
    fn apply(&mut self, wanted: BTreeMap<String, CorpConfig>) {
        if self.tell_pipeline(wanted) {
            let corps: Vec<CorpConfig> = self.current.values().cloned().collect();
            self.live.set(&corps);
        }
    }

    /// Sends the changes; whether there were any.
    fn tell_pipeline(&mut self, wanted: BTreeMap<String, CorpConfig>) -> bool {
        let mut changed = false;
        let removed: Vec<String> = self
            .current
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in removed {
            self.current.remove(&id);
            self.rows.remove(&id);
            changed = true;
            if self.changes.send(CorpChange::Remove(id)).is_err() {
                return changed;
            }
        }
        for (id, c) in wanted {
            if self.current.get(&id).is_some_and(|old| same(old, &c)) {
                continue;
            }
            changed = true;
            if self.changes.send(CorpChange::Add(c.pull_source())).is_err() {
                return changed;
            }
            self.current.insert(id, c);
        }
        changed
    }
}
