//! The corps a running pipeline archives, which may change while it runs.
//!
//! - The [`Registry`] holds every corp's [`CorpContext`] by id, shared by the router and the spool
//!   reader. A removed corp's context stays, so its batches still in flight are stored.
//! - A [`CorpChange`] adds a corp or removes one. The router thread takes changes from the
//!   daemon, gives an added corp to the puller with the fewest corps, and sends a removal to the
//!   puller that owns the corp. That puller drops the corp's cursor, and its session with it,
//!   between two calls; what it pulled before goes on to the store.
//! - An added corp resumes after the larger of its stored checkpoint and what this run already
//!   pulled of it. While that checkpoint cannot be read (the store is away) the corp waits and is
//!   tried again every few seconds.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::puller::{CorpCursor, PullerCommand};
use super::{Corp, CorpContext};
use crate::runtime::{Shutdown, Stats};
use crate::store::Store;

/// A change to the corps being archived.
#[derive(Debug)]
pub enum CorpChange {
    /// Start archiving this corp (or, if archived already, take its new secret and keys).
    Add(Corp),
    /// Stop pulling this corp; what was pulled is still stored.
    Remove(String),
    /// Stop pulling this corp and say so on the channel once no call for it is in progress (a
    /// coordinator then waits for what was pulled to be stored before another daemon may pull it).
    Release(String, Sender<Released>),
}

/// A corp no puller pulls any more.
#[derive(Debug)]
pub struct Released {
    pub corp_id: String,
    /// Its context (None if it was never pulled in this run): its batches still in flight.
    pub context: Option<Arc<CorpContext>>,
}

/// Every corp's context by id.
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<RwLock<HashMap<String, Arc<CorpContext>>>>);

impl Registry {
    pub fn get(&self, corp_id: &str) -> Option<Arc<CorpContext>> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(corp_id)
            .cloned()
    }

    /// The corp's context: the one registered (its keys replaced by `corp`'s), or a new one whose
    /// batches count as in flight from `pull_from` on.
    pub fn context(&self, corp: &Corp, pull_from: u64) -> Arc<CorpContext> {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&corp.corp_id) {
            c.set_keys(corp.keys.clone());
            return c.clone();
        }
        let c = Arc::new(CorpContext::new(
            &corp.corp_id,
            corp.keys.clone(),
            pull_from,
        ));
        map.insert(corp.corp_id.clone(), c.clone());
        c
    }
}

/// The pullers as the router sees them: each one's inbox and the corps it owns.
pub(super) struct Pullers {
    pub inboxes: Vec<Sender<PullerCommand>>,
    pub owner: HashMap<String, usize>,
}

impl Pullers {
    /// Hands a cursor to the puller with the fewest corps.
    pub fn add(&mut self, cursor: CorpCursor) {
        let corp_id = cursor.corp.corp_id.clone();
        if let Some(&i) = self.owner.get(&corp_id) {
            // Archived already: the new cursor (new secret or keys) replaces the old one.
            let _ = self.inboxes[i].send(PullerCommand::Add(cursor));
            return;
        }
        let mut load = vec![0usize; self.inboxes.len()];
        for &i in self.owner.values() {
            load[i] += 1;
        }
        let Some((i, _)) = load.iter().enumerate().min_by_key(|(_, n)| **n) else {
            return;
        };
        if self.inboxes[i].send(PullerCommand::Add(cursor)).is_ok() {
            self.owner.insert(corp_id, i);
        }
    }

    /// Tells the puller of `corp_id` to drop it (and say so on `released`); whether one had it.
    pub fn remove(&mut self, corp_id: &str, released: Option<Sender<Released>>) -> bool {
        match self.owner.remove(corp_id) {
            Some(i) => {
                let command = match released {
                    Some(tx) => PullerCommand::Release(corp_id.to_owned(), tx),
                    None => PullerCommand::Remove(corp_id.to_owned()),
                };
                let _ = self.inboxes[i].send(command);
                true
            }
            None => false,
        }
    }
}

/// What the router needs besides the pullers.
pub(super) struct Router {
    pub registry: Registry,
    pub store: Arc<dyn Store>,
    pub stats: Arc<Stats>,
    pub shutdown: Shutdown,
}

/// How long an added corp whose checkpoint could not be read waits before the next try.
const RETRY_ADD: Duration = Duration::from_secs(5);

/// Changes taken together at most.
const MAX_CHANGES: usize = 5_000;

impl Router {
    /// Starts pulling `corps`, each after the larger of its stored checkpoint (read for all of
    /// them in one query) and what this run already pulled of it; hands them back when the
    /// checkpoints cannot be read (the store is away).
    fn add(&self, corps: Vec<Corp>, pullers: &mut Pullers) -> Vec<Corp> {
        if corps.is_empty() {
            return corps;
        }
        let ids: Vec<String> = corps.iter().map(|c| c.corp_id.clone()).collect();
        // Another daemon may have pulled these corps since this one did (a coordinator moved them).
        for id in &ids {
            self.store.forget_progress(id);
        }
        let stored = match self.store.checkpoints(&ids) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(corps = ids.len(), error = %e, retry_in_s = RETRY_ADD.as_secs(),
                    "cannot read the checkpoints of added corps; they start once the store answers");
                return corps;
            }
        };
        for corp in corps {
            let stored = stored.get(&corp.corp_id).copied().unwrap_or(0);
            let pulled = self
                .registry
                .get(&corp.corp_id)
                .map_or(0, |c| c.pulled_seq());
            let from = stored.max(pulled);
            let context = self.registry.context(&corp, from);
            tracing::info!(corp = %corp.corp_id, from_seq = from, "corp added: pulling starts");
            self.stats.corp(&corp.corp_id, |s| {
                s.removed = false;
                s.stored_seq = s.stored_seq.max(stored);
                s.pulled_seq = s.pulled_seq.max(from);
            });
            pullers.add(CorpCursor::new(context, corp.secret, from));
        }
        Vec::new()
    }

    /// Applies changes until the daemon hangs up or shutdown. Changes waiting together are taken
    /// together, so corps added by the hundred (a coordinator taking a dead daemon's share) cost
    /// one checkpoint query.
    pub fn run(self, changes: Receiver<CorpChange>, mut pullers: Pullers) {
        // Added corps waiting for the store, by id (a later change for the id replaces the wait).
        let mut waiting: HashMap<String, Corp> = HashMap::new();
        let mut retry_at = Instant::now() + RETRY_ADD;
        while !self.shutdown.is_requested() {
            if !waiting.is_empty() && Instant::now() >= retry_at {
                retry_at = Instant::now() + RETRY_ADD;
                let corps = std::mem::take(&mut waiting).into_values().collect();
                for corp in self.add(corps, &mut pullers) {
                    waiting.insert(corp.corp_id.clone(), corp);
                }
            }
            let first = match changes.recv_timeout(Duration::from_millis(200)) {
                Ok(c) => c,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            let mut added: Vec<Corp> = Vec::new();
            for change in std::iter::once(first).chain(changes.try_iter().take(MAX_CHANGES)) {
                match change {
                    CorpChange::Add(corp) => {
                        waiting.remove(&corp.corp_id);
                        added.retain(|c| c.corp_id != corp.corp_id);
                        added.push(corp);
                    }
                    CorpChange::Remove(corp_id) => {
                        // Changes apply in order: adds before this removal go first.
                        self.flush(&mut added, &mut waiting, &mut pullers);
                        waiting.remove(&corp_id);
                        if pullers.remove(&corp_id, None) {
                            tracing::info!(corp = %corp_id,
                                "corp removed: pulling stops; what was pulled is still stored");
                            self.stats.corp(&corp_id, |s| s.removed = true);
                        }
                    }
                    CorpChange::Release(corp_id, released) => {
                        self.flush(&mut added, &mut waiting, &mut pullers);
                        waiting.remove(&corp_id);
                        self.stats.corp(&corp_id, |s| s.removed = true);
                        if !pullers.remove(&corp_id, Some(released.clone())) {
                            // No puller has it: nothing is in progress.
                            let _ = released.send(Released {
                                context: self.registry.get(&corp_id),
                                corp_id,
                            });
                        }
                    }
                }
            }
            self.flush(&mut added, &mut waiting, &mut pullers);
        }
    }

    /// Adds the corps collected so far; those whose checkpoint cannot be read wait.
    fn flush(
        &self,
        added: &mut Vec<Corp>,
        waiting: &mut HashMap<String, Corp>,
        pullers: &mut Pullers,
    ) {
        for corp in self.add(std::mem::take(added), pullers) {
            waiting.insert(corp.corp_id.clone(), corp);
        }
    }
}
