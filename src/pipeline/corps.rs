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

    pub fn remove(&mut self, corp_id: &str) -> bool {
        match self.owner.remove(corp_id) {
            Some(i) => {
                let _ = self.inboxes[i].send(PullerCommand::Remove(corp_id.to_owned()));
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

impl Router {
    /// Where an added corp resumes: after what is stored, or what this run pulled, if more.
    /// Returns the stored checkpoint and where pulling resumes.
    fn pull_from(&self, corp_id: &str) -> Result<(u64, u64), crate::store::StoreError> {
        let stored = self.store.checkpoint(corp_id)?.unwrap_or(0);
        let pulled = self.registry.get(corp_id).map_or(0, |c| c.pulled_seq());
        Ok((stored, stored.max(pulled)))
    }

    /// Starts pulling `corp`; hands it back when its checkpoint cannot be read (the store is away).
    fn add(&self, corp: Corp, pullers: &mut Pullers) -> Option<Corp> {
        let (stored, from) = match self.pull_from(&corp.corp_id) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(corp = %corp.corp_id, error = %e, retry_in_s = RETRY_ADD.as_secs(),
                    "cannot read the checkpoint of an added corp; it starts once the store answers");
                return Some(corp);
            }
        };
        let context = self.registry.context(&corp, from);
        tracing::info!(corp = %corp.corp_id, from_seq = from, "corp added: pulling starts");
        self.stats.corp(&corp.corp_id, |s| {
            s.removed = false;
            s.stored_seq = s.stored_seq.max(stored);
            s.pulled_seq = s.pulled_seq.max(from);
        });
        pullers.add(CorpCursor::new(context, corp.secret, from));
        None
    }

    /// Applies changes until the daemon hangs up or shutdown.
    pub fn run(self, changes: Receiver<CorpChange>, mut pullers: Pullers) {
        // Added corps waiting for the store, by id (a later change for the id replaces the wait).
        let mut waiting: HashMap<String, Corp> = HashMap::new();
        let mut retry_at = Instant::now() + RETRY_ADD;
        while !self.shutdown.is_requested() {
            if !waiting.is_empty() && Instant::now() >= retry_at {
                retry_at = Instant::now() + RETRY_ADD;
                for (id, corp) in std::mem::take(&mut waiting) {
                    if let Some(corp) = self.add(corp, &mut pullers) {
                        waiting.insert(id, corp);
                    }
                }
            }
            let change = match changes.recv_timeout(Duration::from_millis(200)) {
                Ok(c) => c,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            match change {
                CorpChange::Add(corp) => {
                    waiting.remove(&corp.corp_id);
                    if let Some(corp) = self.add(corp, &mut pullers) {
                        waiting.insert(corp.corp_id.clone(), corp);
                    }
                }
                CorpChange::Remove(corp_id) => {
                    waiting.remove(&corp_id);
                    if pullers.remove(&corp_id) {
                        tracing::info!(corp = %corp_id,
                            "corp removed: pulling stops; what was pulled is still stored");
                        self.stats.corp(&corp_id, |s| s.removed = true);
                    }
                }
            }
        }
    }
}
