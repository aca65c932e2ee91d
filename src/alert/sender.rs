//! The sender: drains the alert outbox into posts.
//!
//! Each step reads the pending hits (`send_status` 0) — every corp's oldest first, so one corp's
//! backlog never crowds out another's fresh alert — with the posts that already carry them, works
//! out each hit's destinations (the robots that want it, and the auditor's app messages), and:
//! - resumes the open posts a destination has (pending: being retried) when they are due;
//! - otherwise claims the hits no post carries yet to that destination: one post per hit while
//!   they fit in half the robot's rate, else one digest of as many as a post can account for (at
//!   most one digest per `60 s / max_posts_per_minute`, so a burst cannot use up a minute's posts
//!   at once);
//! - settles a hit (`send_status` 1 sent, 2 failed) once every destination it has is done.
//!
//! A hit with no destination stays pending for a robot or app added later; its route (corp,
//! strategy, auditor or not) is remembered and left out of the next steps' pages while it has
//! none, so such hits never fill a page ahead of alerts that can go.
//!
//! A step stores all its claims in one write, sends, then stores all results in one write: hundreds
//! of corps' alerts cost two writes, not two each competing with ingestion for the store. New hits
//! are looked at within `poll` even while a destination waits for its digest slot.
//!
//! Exactly-once: a post and its claim on its hits are stored before it is sent, its result after,
//! and a restart resumes open posts with the same body and number, so no hit is claimed twice for
//! one destination. The one window left is a crash after WeCom accepted a step's posts and before
//! their results were stored: those posts are sent again on restart, recognisably (same alert
//! numbers).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::channel::{AppCredentials, Channels};
use super::compose::{self, Format, Post};
use super::limit::Window;
use super::outbox::PostQuery;
use crate::alert::{AlertPost, Destination, HitKey, PendingAlert, PostStatus, Robot, Route};
use crate::runtime::{Shutdown, Stats};
use crate::store::{HitRow, Store, StoreError};
use crate::timefmt::now_ms;
use crate::wecom::http::WeComHttp;

/// Pending hits read per step.
const PENDING_PAGE: u32 = 5_000;
/// Routes without a destination left out of the page at most (the rest only cost page room).
const MAX_SKIPPED_ROUTES: usize = 1_000;
/// A robot's rate window.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Without new hits or due posts, the outbox is still read this often (hits stored by another
/// process, robots added).
const RESCAN: Duration = Duration::from_secs(3);

/// How alerts are sent.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// Posts per minute per destination (WeCom allows a robot about 20).
    pub max_posts_per_minute: usize,
    /// Sends tried per post before it is marked failed.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled each time, up to `max_retry`.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
    /// How often the outbox is looked at while hits are coming in.
    pub poll: Duration,
    /// WeCom's API base URL (application messages and tokens).
    pub api_base: String,
    /// Alert apps by corp id (replaced as corps come and go).
    pub apps: crate::runtime::Shared<HashMap<String, AppCredentials>>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            max_posts_per_minute: 20,
            max_attempts: 20,
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            api_base: super::channel::DEFAULT_API_BASE.to_owned(),
            apps: Default::default(),
        }
    }
}

/// The sender could not start.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("cannot start the alert HTTP client: {0}")]
    Http(#[from] std::io::Error),
    #[error("alert outbox: {0}")]
    Store(#[from] StoreError),
}

/// What the sender has done since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderReport {
    pub posts_sent: u64,
    pub posts_failed: u64,
    /// Failed sends that will be tried again.
    pub retries: u64,
    /// Hits carried by sent posts.
    pub hits_sent: u64,
    /// Routes (corp, strategy, with or without an auditor) whose pending hits have no
    /// destination: no robot wants them, no app for their corp or auditor. Their hits stay pending
    /// and out of the sender's page until a robot or app takes them.
    pub unroutable: u64,
    /// Pending hits left after the last step (routable ones waiting for a slot or a retry).
    pub waiting: u64,
}

/// One pending hit's progress over its destinations in this step.
struct Progress {
    hit: HitRow,
    destinations: Vec<Destination>,
    done: HashMap<Destination, PostStatus>,
}

impl Progress {
    /// The hit's final `send_status` once every destination is done: 1 all sent, 2 any failed.
    fn settled(&self) -> Option<u8> {
        if self.destinations.iter().all(|d| self.done.contains_key(d)) {
            Some(if self.done.values().all(|s| *s == PostStatus::Sent) {
                1
            } else {
                2
            })
        } else {
            None
        }
    }
}

/// Drains the outbox.
pub struct Sender {
    store: Arc<dyn Store>,
    settings: AlertSettings,
    channels: Channels,
    windows: HashMap<Destination, Window>,
    last_digest: HashMap<Destination, Instant>,
    /// Open (pending) posts: normally at most one per destination, which takes no new claims
    /// until it is done.
    open: Vec<AlertPost>,
    robots: HashMap<i64, Robot>,
    names: HashMap<String, String>,
    names_version: Option<u64>,
    /// Routes found with nowhere to go: left out of the page while that stays so.
    unrouted: BTreeSet<Route>,
    /// Whether the last step left work that needs another soon.
    busy: bool,
    pub report: SenderReport,
}

/// A post's alert number as shown to people.
fn reference(id: i64) -> String {
    format!("#{id:016x}")
}

/// A fresh post id: random, so that several stores or shards never collide.
fn new_post_id() -> i64 {
    let mut bytes = [0u8; 8];
    if openssl::rand::rand_bytes(&mut bytes).is_err() {
        bytes = (now_ms() as u64 ^ u64::from(std::process::id()) << 40).to_le_bytes();
    }
    (u64::from_le_bytes(bytes) >> 1).max(1) as i64
}

impl Sender {
    /// Opens the outbox: resumes the open posts (writing their claims again, which completes a
    /// claim a crash interrupted) and rebuilds each destination's rate window from recent posts.
    pub fn new(store: Arc<dyn Store>, settings: AlertSettings) -> Result<Sender, SenderError> {
        let http = WeComHttp::new(settings.timeout)?;
        let channels = Channels::new(http, &settings.api_base, settings.apps.clone());
        let mut sender = Sender {
            store,
            settings,
            channels,
            windows: HashMap::new(),
            last_digest: HashMap::new(),
            open: Vec::new(),
            robots: HashMap::new(),
            names: HashMap::new(),
            names_version: None,
            unrouted: BTreeSet::new(),
            busy: true,
            report: SenderReport::default(),
        };
        let now = Instant::now();
        let now_ms = now_ms();
        let recent = sender.store.posts(&PostQuery {
            since_ms: Some(now_ms - RATE_WINDOW.as_millis() as i64),
            limit: 10_000,
            ..PostQuery::default()
        })?;
        for p in recent.iter().filter(|p| p.send_time_ms > 0) {
            let age = Duration::from_millis((now_ms - p.send_time_ms).max(0) as u64);
            if let Some(at) = now.checked_sub(age) {
                sender.window(&p.destination).take(at);
            }
        }
        let open = sender.store.posts(&PostQuery {
            status: Some(PostStatus::Pending),
            limit: 100_000,
            ..PostQuery::default()
        })?;
        for post in open {
            sender.store.record_post(&post, &[])?;
            sender.open.push(post);
        }
        if !sender.open.is_empty() {
            tracing::info!(posts = sender.open.len(), "resuming open alert posts");
        }
        Ok(sender)
    }

    fn window(&mut self, d: &Destination) -> &mut Window {
        let max = self.settings.max_posts_per_minute;
        self.windows
            .entry(d.clone())
            .or_insert_with(|| Window::new(max, RATE_WINDOW))
    }

    /// Whether the hits of `route` have any destination.
    fn routable(&self, route: &Route) -> bool {
        self.robots
            .values()
            .any(|r| r.wants_from(&route.corp_id, route.strategy_id))
            || (route.has_auditor && self.channels.has_app(&route.corp_id))
    }

    /// Where a hit's alert goes.
    fn destinations(&self, h: &HitRow) -> Vec<Destination> {
        let mut out: Vec<Destination> = self
            .robots
            .values()
            .filter(|r| r.wants(h))
            .map(|r| Destination::Robot(r.id))
            .collect();
        out.sort();
        if !h.audit_user_id.is_empty() && self.channels.has_app(&h.corp_id) {
            out.push(Destination::App {
                corp_id: h.corp_id.clone(),
                user_id: h.audit_user_id.clone(),
            });
        }
        out
    }

    fn refresh(&mut self) -> Result<(), StoreError> {
        self.robots = self
            .store
            .robots()?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let version = self.store.rules_version()?;
        if self.names_version != Some(version) {
            let rules = self.store.load_rules()?;
            self.names = rules
                .members
                .into_iter()
                .map(|m| (m.userid, m.name))
                .collect();
            self.names_version = Some(version);
        }
        Ok(())
    }

    /// One pass over the outbox; returns how long to wait before the next.
    pub fn step(&mut self) -> Result<Duration, StoreError> {
        let began = Instant::now();
        self.refresh()?;
        // Routes that got a robot or an app since are read again.
        let unrouted = std::mem::take(&mut self.unrouted);
        self.unrouted = unrouted.into_iter().filter(|r| !self.routable(r)).collect();
        let skip: Vec<Route> = self
            .unrouted
            .iter()
            .take(MAX_SKIPPED_ROUTES)
            .cloned()
            .collect();
        let pending = self.store.pending_alerts(PENDING_PAGE, &skip)?;
        let read_ms = began.elapsed().as_millis();
        let mut progress: HashMap<HitKey, Progress> = HashMap::new();
        let mut queues: BTreeMap<Destination, Vec<HitRow>> = BTreeMap::new();
        let mut settled = Vec::new();
        let mut new_unrouted: BTreeSet<Route> = BTreeSet::new();
        // A full page may hide more pending hits behind it: once this page's hits are claimed or
        // settled, the next step reads them.
        let page_full = pending.len() >= PENDING_PAGE as usize;
        for PendingAlert { hit, links } in pending {
            let destinations = self.destinations(&hit);
            if destinations.is_empty() {
                let route = Route::of(&hit);
                if !self.unrouted.contains(&route) {
                    new_unrouted.insert(route);
                }
                continue;
            }
            let mut done = HashMap::new();
            for d in &destinations {
                let mine: Vec<PostStatus> = links
                    .iter()
                    .filter(|l| &l.destination == d)
                    .map(|l| l.status)
                    .collect();
                if mine.is_empty() {
                    queues.entry(d.clone()).or_default().push(hit.clone());
                } else if mine.contains(&PostStatus::Sent) {
                    done.insert(d.clone(), PostStatus::Sent);
                } else if mine.iter().all(|s| *s == PostStatus::Failed) {
                    done.insert(d.clone(), PostStatus::Failed);
                }
            }
            let p = Progress {
                hit,
                destinations,
                done,
            };
            match p.settled() {
                Some(status) => settled.push((p.hit, status)),
                None => {
                    progress.insert(HitKey::of(&p.hit), p);
                }
            }
        }
        let settled_now = !settled.is_empty();
        if settled_now {
            self.store.settle_alerts(&settled)?;
        }
        if !new_unrouted.is_empty() {
            let some: Vec<String> = new_unrouted.iter().take(5).map(Route::to_string).collect();
            tracing::warn!(
                routes = new_unrouted.len(),
                first = %some.join("; "),
                "alerts have nowhere to go and stay pending: add a robot (`msgaudit robots add`) \
                 or an alert app ([corps.alert_app]) for their corp"
            );
            self.unrouted.extend(new_unrouted);
        }
        self.report.unroutable = self.unrouted.len() as u64;

        let now = Instant::now();
        let mut wake = self.settings.poll.max(Duration::from_millis(50)) * 20;
        // What this step sends, in order: open posts that are due, then new claims. Their claims
        // are stored together before anything is sent, and their results together after.
        let mut sends: Vec<AlertPost> = Vec::new();
        let mut claimed: Vec<AlertPost> = Vec::new();
        // Open posts first: a destination with one takes no new claims until it is done.
        let (due, later): (Vec<AlertPost>, Vec<AlertPost>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|p| p.next_attempt_ms <= now_ms());
        self.open = later;
        let mut unrecorded = Vec::new();
        for post in due {
            if post.status != PostStatus::Pending {
                // Sent or failed, but its result could not be stored last time: store it now.
                unrecorded.push(post);
                continue;
            }
            if self.window(&post.destination).take(now) {
                sends.push(post);
            } else {
                wake = wake.min(self.window(&post.destination).next_slot(now) - now);
                self.open.push(post);
            }
        }
        let busy_destinations: std::collections::HashSet<Destination> = self
            .open
            .iter()
            .chain(&sends)
            .map(|p| p.destination.clone())
            .collect();
        let per_minute = u32::try_from(self.settings.max_posts_per_minute).unwrap_or(u32::MAX);
        let spacing = RATE_WINDOW / per_minute.max(1);
        let mut waiting = 0u64;
        for (d, hits) in queues {
            if busy_destinations.contains(&d) {
                waiting += hits.len() as u64;
                continue;
            }
            let available = self.window(&d).available(now);
            // One post per hit while they fit in half the window; the other half is kept for
            // digests, so a stream of hits looked at every poll never spends a robot's minute
            // on single posts and leaves the rest of a burst waiting.
            let reserve = self.settings.max_posts_per_minute / 2;
            if hits.len() + reserve <= available {
                for hit in &hits {
                    self.window(&d).take(now);
                    claimed.push(self.compose(&d, std::slice::from_ref(hit), false)?);
                }
                continue;
            }
            let since_digest = self
                .last_digest
                .get(&d)
                .map_or(spacing, |t| now.saturating_duration_since(*t));
            if available == 0 || since_digest < spacing {
                waiting += hits.len() as u64;
                let slot = self
                    .window(&d)
                    .next_slot(now)
                    .max(now + (spacing - since_digest.min(spacing)));
                wake = wake.min(slot - now);
                continue;
            }
            self.window(&d).take(now);
            self.last_digest.insert(d.clone(), now);
            let post = self.compose(&d, &hits, true)?;
            waiting += (hits.len() - post.hits.len()) as u64;
            claimed.push(post);
            wake = wake.min(spacing);
        }
        let composed_ms = began.elapsed().as_millis();
        // The claims are durable before any of them is sent. If they cannot be stored, nothing is
        // sent this step: the due posts stay open, and every post gives its slot back.
        if !claimed.is_empty()
            && let Err(e) = self.store.record_posts(&claimed, &[])
        {
            let taken: Vec<Destination> = claimed
                .iter()
                .chain(&sends)
                .map(|p| p.destination.clone())
                .collect();
            for d in &taken {
                self.window(d).give_back();
            }
            self.open.extend(sends);
            self.open.extend(unrecorded);
            return Err(e);
        }
        let claimed_ms = began.elapsed().as_millis();
        let n_sends = sends.len() + claimed.len();
        sends.extend(claimed);
        let mut results = unrecorded;
        // A destination whose post failed in this step sends no more of this step's posts: they
        // stay open (claimed) and go with its retry.
        let mut failing: std::collections::HashSet<Destination> = Default::default();
        for post in sends {
            if failing.contains(&post.destination) {
                self.window(&post.destination).give_back();
                self.open.push(post);
                continue;
            }
            let post = self.attempt(post);
            if post.status == PostStatus::Pending {
                failing.insert(post.destination.clone());
            }
            results.push(post);
        }
        let sent_ms = began.elapsed().as_millis();
        self.record(results, &mut progress)?;
        tracing::debug!(
            read_ms,
            composed_ms,
            claimed_ms,
            sent_ms,
            posts = n_sends,
            recorded_ms = began.elapsed().as_millis() as u64,
            "alert step (ms since it began)"
        );
        for p in &self.open {
            let due_in = (p.next_attempt_ms - now_ms()).max(0) as u64;
            wake = wake.min(Duration::from_millis(due_in));
        }
        self.report.waiting = waiting;
        let progressed = n_sends > 0 || settled_now;
        self.busy = waiting > 0 || !self.open.is_empty() || (page_full && progressed);
        Ok(wake)
    }

    /// Composes a post of `hits` (a digest takes as many as fit) for `d`: its claim on them, which
    /// the step stores before anything is sent.
    fn compose(
        &mut self,
        d: &Destination,
        hits: &[HitRow],
        digest: bool,
    ) -> Result<AlertPost, StoreError> {
        let id = new_post_id();
        let number = reference(id);
        // Members by the organisation; customers and groups by the directory, where known.
        let directory = directory_names(self.store.as_ref(), hits, |i| self.names.contains_key(i))?;
        let names = |u: &str| self.names.get(u).or_else(|| directory.get(u)).cloned();
        let (post, used, title): (Post, Vec<usize>, &str) = if digest {
            let (post, used) = compose::digest_fitting(&names, hits, &number, self.format(d));
            (post, used, "敏感词告警汇总")
        } else {
            (
                compose::single(&names, &hits[0], &number),
                vec![0],
                "敏感词告警",
            )
        };
        let (msg_type, body) = self.body(d, &post);
        let now = now_ms();
        let post = AlertPost {
            id,
            destination: d.clone(),
            title: title.to_owned(),
            msg_type,
            content: body.to_string(),
            hits: used.iter().map(|&i| HitKey::of(&hits[i])).collect(),
            status: PostStatus::Pending,
            attempts: 0,
            next_attempt_ms: now,
            last_error: String::new(),
            send_time_ms: 0,
            create_time_ms: now,
        };
        Ok(post)
    }

    /// The form of post `d` receives.
    fn format(&self, d: &Destination) -> Format {
        match d {
            Destination::Robot(id) if self.robots.get(id).is_none_or(|r| r.msg_type != "text") => {
                Format::Markdown
            }
            _ => Format::Text,
        }
    }

    /// The JSON WeCom expects for `d`.
    fn body(&self, d: &Destination, post: &Post) -> (String, serde_json::Value) {
        match d {
            Destination::Robot(_) => {
                if self.format(d) == Format::Markdown {
                    (
                        "markdown".into(),
                        serde_json::json!({"msgtype": "markdown", "markdown": {"content": post.markdown}}),
                    )
                } else {
                    (
                        "text".into(),
                        serde_json::json!({"msgtype": "text", "text": {
                            "content": post.text, "mentioned_list": post.mention}}),
                    )
                }
            }
            Destination::App { corp_id, user_id } => (
                "text".into(),
                super::channel::app_message(
                    self.channels.agent_id(corp_id).unwrap_or_default(),
                    user_id,
                    &post.text,
                ),
            ),
        }
    }

    /// Sends a post once; the post with its result (recorded by the caller).
    fn attempt(&mut self, mut post: AlertPost) -> AlertPost {
        let result = self.channels.deliver(&post, &self.robots);
        post.attempts += 1;
        if result.as_ref().is_err_and(|e| e.never_reached()) {
            self.window(&post.destination).give_back();
        }
        match result {
            Ok(()) => {
                post.status = PostStatus::Sent;
                post.send_time_ms = now_ms();
                post.last_error.clear();
                self.report.posts_sent += 1;
                self.report.hits_sent += post.hits.len() as u64;
            }
            Err(e) => {
                post.last_error = e.to_string();
                if e.is_retryable() && post.attempts < self.settings.max_attempts {
                    let wait = self.backoff(post.attempts);
                    post.next_attempt_ms = now_ms() + wait.as_millis() as i64;
                    self.report.retries += 1;
                    tracing::warn!(post = %reference(post.id), destination = %post.destination,
                        attempt = post.attempts, retry_in_ms = wait.as_millis() as u64, error = %e,
                        "alert post failed; will retry");
                } else {
                    post.status = PostStatus::Failed;
                    self.report.posts_failed += 1;
                    tracing::error!(post = %reference(post.id), destination = %post.destination,
                        attempts = post.attempts, hits = post.hits.len(), error = %e,
                        "alert post failed for good; its hits are marked failed (send_status 2)");
                }
            }
        }
        post
    }

    /// Stores the posts' states and settles the hits they finish, in one write; keeps a post open
    /// while it is pending or while its result is not stored.
    fn record(
        &mut self,
        posts: Vec<AlertPost>,
        progress: &mut HashMap<HitKey, Progress>,
    ) -> Result<(), StoreError> {
        if posts.is_empty() {
            return Ok(());
        }
        let mut settled = Vec::new();
        for post in posts.iter().filter(|p| p.status != PostStatus::Pending) {
            for k in &post.hits {
                if let Some(p) = progress.get_mut(k) {
                    p.done.insert(post.destination.clone(), post.status);
                    if let Some(status) = p.settled() {
                        settled.push((p.hit.clone(), status));
                    }
                }
            }
        }
        let recorded = self.store.record_posts(&posts, &settled);
        for post in posts {
            if post.status == PostStatus::Pending || recorded.is_err() {
                // Not finished, or its result is not stored yet: keep it open (recorded again later).
                self.open.push(post);
            }
        }
        recorded
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let doubled = self
            .settings
            .first_retry
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        doubled.min(self.settings.max_retry)
    }

    /// Whether alerts are still in flight or waiting for a slot.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// Steps until nothing is in flight or waiting, or `timeout` passes (for `run --once` and the
    /// demo, once the process's shutdown has stopped everything else: a signal now exits at once,
    /// leaving what is unsent in the outbox). Store errors end it early.
    pub fn drain(&mut self, timeout: Duration) -> Result<(), StoreError> {
        let deadline = Instant::now() + timeout;
        loop {
            let wait = self.step()?;
            let now = Instant::now();
            if !self.busy || now >= deadline {
                tracing::debug!(
                    busy = self.busy,
                    waiting = self.report.waiting,
                    open = self.open.len(),
                    "alert drain ends"
                );
                return Ok(());
            }
            std::thread::sleep(wait.min(deadline - now));
        }
    }

    /// Runs until `shutdown`: steps when hits were stored (`stats.hits` moved), when a post is due,
    /// or every few seconds regardless.
    pub fn run(&mut self, shutdown: &Shutdown, stats: Option<Arc<Stats>>) {
        let mut failures = 0u32;
        let mut seen_hits = u64::MAX;
        let mut next_step = Instant::now();
        let mut last_scan = Instant::now();
        while !shutdown.is_requested() {
            let hits_now = stats.as_ref().map_or(0, |s| Stats::get(&s.hits));
            let now = Instant::now();
            let moved = hits_now != seen_hits;
            // New hits are looked at within a poll, even while another destination waits for its
            // digest slot: one corp's backlog never delays another corp's alert.
            let due = (now >= next_step && (self.busy || moved || now - last_scan >= RESCAN))
                || (moved && now - last_scan >= self.settings.poll);
            if due {
                seen_hits = hits_now;
                last_scan = now;
                match self.step() {
                    Ok(wait) => {
                        failures = 0;
                        next_step = Instant::now() + wait.min(RESCAN);
                        if self.busy {
                            next_step = next_step.min(Instant::now() + self.settings.poll * 4);
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        let wait = Duration::from_secs(1 << failures.min(6));
                        tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "alert outbox unavailable");
                        next_step = Instant::now() + wait;
                    }
                }
            }
            let nap = next_step
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(20), self.settings.poll);
            shutdown.sleep(nap);
        }
    }
}

/// Names the directory knows for the people and groups of `hits` that `known` does not already
/// name (customers and groups; members come from the organisation): one lookup per corp.
pub fn directory_names(
    store: &dyn Store,
    hits: &[HitRow],
    known: impl Fn(&str) -> bool,
) -> Result<HashMap<String, String>, StoreError> {
    let mut by_corp: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for h in hits {
        let ids = by_corp.entry(h.corp_id.as_str()).or_default();
        let mut add = |id: &str| {
            if !id.is_empty() && !known(id) && !ids.contains(id) {
                ids.insert(id.to_owned());
            }
        };
        add(&h.from_id);
        add(&h.room_id);
        h.to_list.split(',').map(str::trim).for_each(&mut add);
    }
    let mut names = HashMap::new();
    for (corp_id, ids) in by_corp {
        if !ids.is_empty() {
            let ids: Vec<String> = ids.into_iter().collect();
            names.extend(store.names(corp_id, &ids)?);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AlertSettings {
        AlertSettings {
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(60),
            ..AlertSettings::default()
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> =
            Arc::new(crate::store::SqliteStore::open(dir.path().join("store.db")).expect("store"));
        let sender = Sender::new(store, settings()).expect("sender");
        let waits: Vec<u64> = (1..=8).map(|a| sender.backoff(a).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn post_numbers_are_unique_and_positive() {
        let ids: std::collections::HashSet<i64> = (0..1000).map(|_| new_post_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|&i| i > 0));
        assert_eq!(reference(255), "#00000000000000ff");
    }

    #[test]
    fn directory_names_name_customers_of_every_corp_and_leave_out_the_known() {
        use crate::store::DirectoryStore;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = crate::store::SqliteStore::open(dir.path().join("store.db")).expect("store");
        let customer = |corp: &str, id: &str, name: &str| crate::store::Customer {
            corp_id: corp.into(),
            external_userid: id.into(),
            customer_name: name.into(),
            ..Default::default()
        };
        store
            .save_customers(&[
                customer("corp-a", "wmA", "王女士"),
                customer("corp-b", "wmB", "李先生"),
                customer("corp-b", "wmA", "别的王女士"),
            ])
            .expect("saved");
        let hit = |corp: &str, from: &str, to: &str| HitRow {
            corp_id: corp.into(),
            msg_id: format!("{corp}-{from}"),
            strategy_id: 1,
            strategy_name: "s".into(),
            words: vec![],
            spans: vec![],
            content: String::new(),
            from_id: from.into(),
            to_list: to.into(),
            room_id: String::new(),
            msg_time: 0,
            direction: String::new(),
            audit_user_id: String::new(),
            send_status: 0,
            rules_version: 1,
        };
        let hits = [
            hit("corp-a", "zhangsan", "wmA"),
            hit("corp-b", "wmB", "zhangsan"),
        ];
        let names = directory_names(&store, &hits, |id| id == "zhangsan").expect("names");
        let want: HashMap<String, String> = [("wmA", "王女士"), ("wmB", "李先生")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        assert_eq!(
            names, want,
            "each corp's own customers, the known member left out"
        );
    }
}
