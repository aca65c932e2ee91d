//! The daemon's part in a fleet (`[coordinator]`): a thread that keeps this daemon's lease on etcd
//! alive, claims and gives back corps by [`share::plan`], hands the pipeline only the corps it
//! holds, and holds the alert-sender key while it can.
//!
//! - **Claiming** a corp creates `corps/ID` on etcd attached to this daemon's lease (only if nobody
//!   holds it; up to [`MAX_CREATES`] corps in one request), then adds the corp to the pipeline. It
//!   resumes after the stored checkpoint. Between two such requests the lease is renewed when due,
//!   so taking hundreds of corps never starves it.
//! - **Giving back** a corp (to make room for a daemon that joined, or because it is no longer
//!   archived) stops its puller first, waits until every batch it pulled is stored (its spool
//!   drained), and only then deletes the key, so the next holder starts after this one's last
//!   stored batch and two daemons never pull one corp at once.
//! - **Dying**: the lease is not renewed, etcd deletes this daemon's keys when it expires, and the
//!   others claim its corps at their next look (every [`TICK`]). They resume at the stored
//!   checkpoint; what the dead daemon stored past it is read back and not stored twice.
//! - **The fence**: every renewal opens the pullers' [`PullFence`] until [`margin`] before the lease
//!   could expire. No SDK call starts past it, even if this thread is stalled (a starved machine,
//!   etcd slow to answer), and a call that starts is given at most the time the lease surely has
//!   left (whole seconds, as the SDK takes them), so a corp is never pulled here once another daemon
//!   may hold it.
//! - **Losing the lease while alive** (etcd unreachable until the lease may have expired, or etcd
//!   says it has): every corp is dropped at once, the alert sender stops, and the daemon joins
//!   again with a new lease.
//! - **The alert sender** runs while this daemon holds `alert-sender` ([`Leadership`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::corps::LiveCorps;
use crate::config::CoordinatorConfig;
use crate::coordinator::etcd::MAX_CREATES;
use crate::coordinator::share::{self, View};
use crate::coordinator::{Etcd, EtcdError, Keys, LeaseId};
use crate::pipeline::{Corp, CorpChange, Released};
use crate::runtime::{PullFence, Shutdown};

/// How often the fleet is looked at: a dead daemon's corps are claimed at most this long after its
/// lease expired.
pub const TICK: Duration = Duration::from_millis(500);

/// After joining, how long a daemon waits before claiming, so daemons starting together all count.
const SETTLE: Duration = Duration::from_secs(2);

/// How long before its lease could expire a daemon stops pulling: a quarter of the TTL, at least a
/// second. A call started just before then has that long to end before another daemon can take the
/// corp.
fn margin(ttl: Duration) -> Duration {
    (ttl / 4).max(Duration::from_secs(1))
}

/// Lets the pullers call the SDK until [`margin`] before `alive_until`.
fn open_fence(fence: &PullFence, alive_until: Instant, ttl: Duration) {
    match alive_until.checked_sub(margin(ttl)) {
        Some(until) => fence.open_until(until, alive_until),
        None => fence.close(),
    }
}

/// Whether this daemon sends the fleet's alerts now: the term of its hold on `alert-sender`, a token
/// requested when the hold ends.
#[derive(Clone, Default)]
pub(super) struct Leadership(Arc<Mutex<Option<Shutdown>>>);

impl Leadership {
    fn gain(&self) {
        let mut term = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if term.is_none() {
            tracing::info!("this daemon now sends the fleet's alerts");
            *term = Some(Shutdown::new());
        }
    }

    fn lose(&self) {
        if let Some(term) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            term.request();
        }
    }

    fn is_leading(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// The current term, if this daemon sends alerts now.
    pub fn term(&self) -> Option<Shutdown> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A corp being given back: held on etcd until what was pulled is stored.
struct Giving {
    /// The pipeline said its puller dropped it (with its context, if it was pulled).
    released: Option<Released>,
}

/// This daemon's lease.
struct Lease {
    id: LeaseId,
    /// The lease is surely alive until then (from the last renewal's answer).
    alive_until: Instant,
    next_renewal: Instant,
    joined: Instant,
}

/// The fleet thread's state.
pub(super) struct Fleet {
    pub etcd: Etcd,
    pub keys: Keys,
    pub config: CoordinatorConfig,
    /// The corps the fleet archives, as the corp watcher says.
    pub from_watch: Receiver<CorpChange>,
    /// The corps this daemon holds, to the pipeline.
    pub to_pipeline: Sender<CorpChange>,
    pub live: LiveCorps,
    pub leadership: Leadership,
    /// Until when the pullers may call the SDK: moved on every renewal, closed when the lease is
    /// lost.
    pub fence: PullFence,
    pub shutdown: Shutdown,
    /// The corps archived, by id.
    pub wanted: BTreeMap<String, Corp>,
}

/// What the daemon needs once the fleet thread is done: the lease to end after the pipeline stops.
pub(super) struct Left {
    pub etcd: Etcd,
    pub lease: Option<LeaseId>,
}

impl Left {
    /// Ends the lease (the pipeline has stopped pulling): the other daemons take the corps at once
    /// instead of after the lease's time to live.
    pub fn revoke(self) {
        if let Some(id) = self.lease {
            match self.etcd.revoke(id) {
                Ok(()) => tracing::info!("left the fleet: the corps move to the other daemons now"),
                Err(e) => tracing::warn!(error = %e,
                    "cannot end the lease; the corps move when it expires"),
            }
        }
    }
}

struct Run {
    fleet: Fleet,
    lease: Option<Lease>,
    /// Corps held and handed to the pipeline.
    held: BTreeSet<String>,
    giving: BTreeMap<String, Giving>,
    released_tx: Sender<Released>,
    released_rx: Receiver<Released>,
    /// When etcd could last not be reached was reported (reported every 30 s at most).
    complained: Option<Instant>,
    /// The held corps the media and names fetchers were last given.
    published: BTreeSet<String>,
}

impl Fleet {
    /// Runs until shutdown; hands back what is needed to leave the fleet.
    pub fn run(self) -> Left {
        let (released_tx, released_rx) = crossbeam_channel::unbounded();
        let mut run = Run {
            fleet: self,
            lease: None,
            held: BTreeSet::new(),
            giving: BTreeMap::new(),
            released_tx,
            released_rx,
            complained: None,
            published: BTreeSet::new(),
        };
        while !run.fleet.shutdown.is_requested() {
            run.tick();
            run.fleet.shutdown.sleep(TICK);
        }
        run.fleet.leadership.lose();
        Left {
            lease: run.lease.map(|l| l.id),
            etcd: run.fleet.etcd,
        }
    }
}

impl Run {
    fn tick(&mut self) {
        self.read_watch();
        while let Ok(r) = self.released_rx.try_recv() {
            if let Some(g) = self.giving.get_mut(&r.corp_id) {
                g.released = Some(r);
            }
        }
        if (self.lease.is_some() || self.join())
            && self.renew()
            && let Err(e) = self.share()
        {
            self.complain(&e);
        }
        // The media and names fetchers follow the corps held, rebuilt only when they change.
        if self.held != self.published {
            self.published = self.held.clone();
            self.fleet
                .live
                .set_held(self.held.iter().cloned().collect());
        }
    }

    /// Applies what the corp watcher said: the fleet's corps; a held corp's new secret or keys go
    /// to the pipeline.
    fn read_watch(&mut self) {
        while let Ok(change) = self.fleet.from_watch.try_recv() {
            match change {
                CorpChange::Add(corp) => {
                    if self.held.contains(&corp.corp_id) {
                        let _ = self.fleet.to_pipeline.send(CorpChange::Add(corp.clone()));
                    }
                    self.fleet.wanted.insert(corp.corp_id.clone(), corp);
                }
                CorpChange::Remove(id) | CorpChange::Release(id, _) => {
                    self.fleet.wanted.remove(&id);
                }
            }
        }
    }

    fn complain(&mut self, e: &EtcdError) {
        if self
            .complained
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
        {
            tracing::warn!(error = %e, "coordinator: etcd cannot be used; trying again");
            self.complained = Some(Instant::now());
        }
    }

    /// Takes a lease and announces this daemon; whether it worked.
    fn join(&mut self) -> bool {
        let (etcd, keys, config) = (&self.fleet.etcd, &self.fleet.keys, &self.fleet.config);
        let asked = Instant::now();
        let joined = etcd.grant(config.lease_ttl).and_then(|id| {
            if etcd.create(&keys.member(&config.name), &config.name, id)? {
                Ok(Some(id))
            } else {
                // Another live daemon has this name.
                let _ = etcd.revoke(id);
                Ok(None)
            }
        });
        match joined {
            Ok(Some(id)) => {
                tracing::info!(name = %config.name, lease_ttl_s = config.lease_ttl.as_secs(),
                    "joined the fleet");
                let alive_until = asked + config.lease_ttl;
                open_fence(&self.fleet.fence, alive_until, config.lease_ttl);
                self.lease = Some(Lease {
                    id,
                    alive_until,
                    next_renewal: asked + config.lease_ttl / 3,
                    joined: Instant::now(),
                });
                true
            }
            Ok(None) => {
                tracing::error!(name = %config.name,
                    "another live daemon of the fleet has this name ([coordinator] name); waiting for it to go");
                false
            }
            Err(e) => {
                self.complain(&e);
                false
            }
        }
    }

    /// Renews the lease when due; false (everything dropped) once it may have expired.
    fn renew(&mut self) -> bool {
        let Some(lease) = &mut self.lease else {
            return false;
        };
        let now = Instant::now();
        if now < lease.next_renewal {
            return true;
        }
        let ttl = self.fleet.config.lease_ttl;
        match self.fleet.etcd.keep_alive(lease.id) {
            Ok(Some(left)) => {
                // `now` is before etcd counted `left`: the lease lives at least that long.
                lease.alive_until = now + left;
                lease.next_renewal = now + ttl / 3;
                open_fence(&self.fleet.fence, lease.alive_until, ttl);
                true
            }
            Ok(None) => {
                self.lost("etcd says the lease has expired");
                false
            }
            Err(e) => {
                // The call may have taken long: judge by the time now.
                let now = Instant::now();
                lease.next_renewal = now + Duration::from_millis(500);
                // Stop before the lease can have expired, so no other daemon pulls a corp while
                // this one still does (the pullers stopped at the fence already).
                if now + margin(ttl) >= lease.alive_until {
                    self.lost(&format!("etcd unreachable while the lease runs out: {e}"));
                    return false;
                }
                self.complain(&e);
                true
            }
        }
    }

    /// The lease is gone (or may be): stop pulling everything now and join again later.
    fn lost(&mut self, why: &str) {
        tracing::error!(
            why,
            corps = self.held.len(),
            "coordinator: lease lost; every corp is dropped (the other daemons take them) and this daemon joins again"
        );
        for id in std::mem::take(&mut self.held) {
            let _ = self.fleet.to_pipeline.send(CorpChange::Remove(id));
        }
        self.fleet.fence.close();
        self.giving.clear();
        self.lease = None;
        self.fleet.leadership.lose();
    }

    /// One look at the fleet: finish giving back, claim or give back by the plan, hold the alert
    /// sender key.
    fn share(&mut self) -> Result<(), EtcdError> {
        let Some(lease) = &self.lease else {
            return Ok(());
        };
        let (lease_id, joined) = (lease.id, lease.joined);
        let (etcd, keys, me) = (
            &self.fleet.etcd,
            &self.fleet.keys,
            self.fleet.config.name.clone(),
        );
        let members: BTreeSet<String> = etcd
            .range(&keys.members())?
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        let corps_prefix = keys.corps();
        let holders: BTreeMap<String, String> = etcd
            .range(&corps_prefix)?
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&corps_prefix)?.to_owned(), v)))
            .collect();
        // A corp this daemon thinks it holds but etcd does not (should not happen while the lease
        // lives): stop pulling it at once.
        let lost: Vec<String> = self
            .held
            .iter()
            .filter(|c| holders.get(*c) != Some(&me))
            .cloned()
            .collect();
        for id in lost {
            tracing::warn!(corp = %id, "coordinator: etcd no longer shows this daemon holding the corp; pulling stops");
            self.held.remove(&id);
            let _ = self.fleet.to_pipeline.send(CorpChange::Remove(id));
        }
        self.finish_giving(&me)?;
        if joined.elapsed() >= SETTLE {
            let wanted: BTreeSet<String> = self.fleet.wanted.keys().cloned().collect();
            let releasing: BTreeSet<String> = self.giving.keys().cloned().collect();
            let plan = share::plan(&View {
                me: &me,
                members: &members,
                holders: &holders,
                wanted: &wanted,
                releasing: &releasing,
            });
            for id in plan.release {
                self.give_back(id);
            }
            for ids in plan.claim.chunks(MAX_CREATES) {
                // Taking hundreds of corps at once must not starve the lease.
                if !self.renew() {
                    return Ok(());
                }
                self.claim(ids, &me, lease_id)?;
            }
        }
        self.hold_alert_sender(&me, lease_id)?;
        Ok(())
    }

    /// Claims the corps `ids` (one request to etcd) and hands those taken to the pipeline.
    fn claim(&mut self, ids: &[String], me: &str, lease: LeaseId) -> Result<(), EtcdError> {
        let ids: Vec<&String> = ids
            .iter()
            .filter(|id| self.fleet.wanted.contains_key(*id))
            .collect();
        let keys: Vec<String> = ids.iter().map(|id| self.fleet.keys.corp(id)).collect();
        let taken = self.fleet.etcd.create_each(&keys, me, lease)?;
        for (id, taken) in ids.into_iter().zip(taken) {
            let Some(corp) = self.fleet.wanted.get(id).filter(|_| taken) else {
                continue;
            };
            tracing::info!(corp = %id, "coordinator: corp claimed");
            self.held.insert(id.clone());
            let _ = self.fleet.to_pipeline.send(CorpChange::Add(corp.clone()));
        }
        Ok(())
    }

    fn give_back(&mut self, id: String) {
        tracing::info!(corp = %id, "coordinator: giving the corp back once what was pulled is stored");
        self.held.remove(&id);
        let _ = self
            .fleet
            .to_pipeline
            .send(CorpChange::Release(id.clone(), self.released_tx.clone()));
        self.giving.insert(id, Giving { released: None });
    }

    /// Deletes the keys of corps given back whose puller stopped and whose batches are stored.
    fn finish_giving(&mut self, me: &str) -> Result<(), EtcdError> {
        let done: Vec<String> = self
            .giving
            .iter()
            .filter(|(_, g)| {
                g.released
                    .as_ref()
                    .is_some_and(|r| r.context.as_ref().is_none_or(|c| c.in_flight() == 0))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in done {
            if !self.renew() {
                return Ok(());
            }
            self.fleet.etcd.delete_if(&self.fleet.keys.corp(&id), me)?;
            self.giving.remove(&id);
            tracing::info!(corp = %id, "coordinator: corp given back");
        }
        Ok(())
    }

    fn hold_alert_sender(&mut self, me: &str, lease: LeaseId) -> Result<(), EtcdError> {
        let key = self.fleet.keys.alert_sender();
        if self.fleet.leadership.is_leading() {
            let holder = self
                .fleet
                .etcd
                .range(&key)?
                .into_iter()
                .find(|(k, _)| *k == key);
            if holder.is_none_or(|(_, v)| v != me) {
                tracing::warn!(
                    "coordinator: the alert-sender key is no longer this daemon's; sending stops"
                );
                self.fleet.leadership.lose();
            }
        } else if self.fleet.etcd.create(&key, me, lease)? {
            self.fleet.leadership.gain();
        }
        Ok(())
    }
}
