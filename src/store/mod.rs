//! Where messages, dead letters and checkpoints are kept: one trait per concern — [`IngestStore`],
//! [`RulesStore`], [`HitStore`], [`OutboxStore`], [`AccessStore`], [`MediaJobStore`], [`ArchiveStore`], [`DirectoryStore`],
//! [`ReviewStore`] — that both backends implement
//! (`sqlite/` and `clickhouse/`, file for file), and [`Store`], all of them together.
//!
//! The contract every backend keeps (and the shared store tests check):
//! - [`IngestStore::store_batch`] is idempotent on (corp_id, msg_id) for messages, (corp_id, seq) for
//!   dead letters and (corp_id, msg_id, item) for the media jobs of the messages' attachments, which
//!   it writes in the same step: replaying a batch changes nothing (a done job stays done). SQLite keys messages as (corp_id, msg_time,
//!   msg_id): a message's time never changes, and time order keeps inserts cheap;
//! - the checkpoint a batch carries becomes visible only once the batch's rows are durable, so a
//!   crash at any point leaves the checkpoint at or behind what is stored, never ahead;
//! - "durable" for SQLite means committed in WAL mode with `synchronous=FULL` (survives a process
//!   kill and, on honest hardware, power loss).
//!
//! The trait is synchronous and batch-shaped so that a remote, batch-oriented store (ClickHouse) fits
//! it without pretending to have transactions.

mod access;
pub mod archive;
pub mod clickhouse;
pub mod directory;
mod media;
pub mod review;
mod sqlite;
mod types;

pub use access::{Account, OperLog, Role};
pub use archive::{
    ArchiveStore, ConversationMessagesQuery, ConversationQuery, ConversationSummary, MessageCursor,
    Page, SearchQuery, TextMatch, Visible,
};
pub use directory::{
    Customer, DirectoryId, DirectoryStore, FoundName, Group, GroupMember, GroupSource, Names,
};
pub use media::{
    MediaDeadReason, MediaFile, MediaJob, MediaJobKey, MediaJobQuery, MediaJobStore, MediaOutcome,
    MediaStatus, MediaSummary, NO_COPY_NOTE, VOICE_KINDS,
};
pub use review::{HitKey, HitKind, Review, ReviewState, ReviewStore, StateCounts};
pub use sqlite::SqliteStore;
pub use sqlite::backup::{
    BackupError, BackupReport, RestoreReport, backup as backup_sqlite,
    partial_path as backup_partial_path, restore as restore_sqlite,
};
pub use types::split_list;
pub use types::{
    ActHitRow, BatchOutcome, ContextQuery, CorpAccount, CorpProgress, DailyCount, DeadLetter,
    DeadLetterQuery, HitCounts, HitCursor, HitQuery, HitRow, MessageQuery, Redrive, SeqCursor,
    StoreBatch, StoredDeadLetter, StoredHit, StoredMessage,
};

use std::path::PathBuf;

use crate::alert::outbox::{AlertPost, PendingAlert, PostQuery, Robot, Route};
use crate::timefmt::Zone;

/// A store URL fit for logs and messages: any password replaced by `***`.
pub use clickhouse::redact as redact_url;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL `{url}` is not understood: {reason}")]
    Url { url: String, reason: String },
    #[error(
        "there is no store at {}: check --store or the config's [store] url \
         (the daemon, `msgaudit migrate` and `msgaudit demo` create one)",
        .path.display()
    )]
    Missing { path: PathBuf },
    #[error("cannot open the SQLite store {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("SQLite store: {context}: {source}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("ClickHouse store at {server}: {context}{}: {source}", clickhouse_hint(.source))]
    ClickHouse {
        /// The server's address (never its credentials).
        server: String,
        context: &'static str,
        #[source]
        source: ::clickhouse::error::Error,
    },
    #[error(
        "ClickHouse migration {version} ({name}), statement {statement}, failed: {source}; \
         fix the cause and run `msgaudit migrate` again (its statements are safe to repeat)"
    )]
    ClickHouseMigration {
        version: u32,
        name: &'static str,
        statement: usize,
        #[source]
        source: ::clickhouse::error::Error,
    },
    #[error("no {what} {key} in the store")]
    NotFound { what: &'static str, key: String },
    #[error("ClickHouse cluster: {0}")]
    Cluster(String),
    #[error("cannot start the store's I/O runtime: {0}")]
    Runtime(String),
    #[error(
        "the store's schema is at version {found}, newer than this msgaudit knows ({known}); \
         upgrade msgaudit"
    )]
    SchemaTooNew { found: u32, known: u32 },
}

/// What to do about a ClickHouse failure, where that is clear from the error.
fn clickhouse_hint(e: &::clickhouse::error::Error) -> &'static str {
    use ::clickhouse::error::Error;
    match e {
        Error::Network(_) | Error::TimedOut => {
            " (is the server up, and are the URL's host and port its HTTP interface, 8123 by default?)"
        }
        Error::BadResponse(text)
            if ["Code: 192,", "Code: 193,", "Code: 516,"]
                .iter()
                .any(|c| text.contains(c)) =>
        {
            " (check the user and password in the store URL)"
        }
        _ => "",
    }
}

impl StoreError {
    /// Whether the same operation may succeed if retried later (a locked or busy database, I/O).
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode::*;
        let source = match self {
            StoreError::Sqlite { source, .. } | StoreError::Open { source, .. } => source,
            StoreError::ClickHouse { source, .. } => {
                return matches!(
                    source,
                    ::clickhouse::error::Error::Network(_) | ::clickhouse::error::Error::TimedOut
                );
            }
            _ => return false,
        };
        matches!(
            source.sqlite_error_code(),
            Some(DatabaseBusy | DatabaseLocked | SystemIoFailure | DiskFull | CannotOpen)
        )
    }
}

/// Ingestion and checkpoints: what the pipeline's writer, the re-drive and `status` need.
pub trait IngestStore: Send + Sync {
    /// Stores a batch's messages and dead letters and moves the corp's checkpoint to the batch's,
    /// as one durable step (see the module docs for what that means per backend).
    fn store_batch(&self, batch: &StoreBatch) -> Result<BatchOutcome, StoreError>;

    /// The last seq stored for a corp, if any.
    fn checkpoint(&self, corp_id: &str) -> Result<Option<u64>, StoreError>;

    /// The checkpoints of several corps at once (a corp without one is absent): what a fleet's
    /// daemon reads when it takes over many corps, or any daemon at start.
    fn checkpoints(
        &self,
        corp_ids: &[String],
    ) -> Result<std::collections::HashMap<String, u64>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for id in corp_ids {
            if let Some(seq) = self.checkpoint(id)? {
                found.insert(id.clone(), seq);
            }
        }
        Ok(found)
    }

    /// The corp is (again) pulled by this process after another may have written it: anything
    /// this process remembers of how far the corp is stored no longer holds, and the next batch
    /// must be checked against what is stored. A store that always checks has nothing to forget.
    fn forget_progress(&self, _corp_id: &str) {}

    /// Every corp with a checkpoint: how far it is stored, and its pending dead letters.
    fn corp_progress(&self) -> Result<Vec<CorpProgress>, StoreError>;

    /// Messages matching a query, oldest first.
    fn messages(&self, query: &MessageQuery) -> Result<Vec<StoredMessage>, StoreError>;

    /// Number of messages stored (for one corp, or all).
    fn count_messages(&self, corp_id: Option<&str>) -> Result<u64, StoreError>;

    /// Dead letters matching a query, by corp and seq.
    fn dead_letters(&self, query: &DeadLetterQuery) -> Result<Vec<StoredDeadLetter>, StoreError>;

    /// Records the outcome of re-driving dead letters: resolved ones are stored as messages
    /// (idempotently) and marked resolved; the others get their new reason and one more attempt.
    fn record_redrive(&self, outcomes: &[Redrive]) -> Result<(), StoreError>;

    /// Corps configured in `we_corp_account` (not deleted).
    fn corp_accounts(&self) -> Result<Vec<CorpAccount>, StoreError>;
}

/// The audit rules: what the live audit's reloader, the CLI and the workspace's editor need.
pub trait RulesStore: Send + Sync {
    /// The rules version, bumped by every rules change.
    fn rules_version(&self) -> Result<u64, StoreError>;

    /// The current rule set (strategies, scopes, organisation, behaviour switches).
    fn load_rules(&self) -> Result<crate::audit::RuleSet, StoreError>;

    /// Replaces the whole rule set and bumps the rules version, in one step; returns the new version.
    /// Strategies left out are kept as deleted (SQLite's `del_flag`, ClickHouse's older versions).
    fn save_rules(&self, rules: &crate::audit::RuleSet) -> Result<u64, StoreError>;

    /// The largest strategy id ever saved, deleted ones included (0: none), so that a new
    /// strategy never takes a deleted one's id and its hits.
    fn last_strategy_id(&self) -> Result<i64, StoreError>;
}

/// Hits and their queries: what the re-audit, the CLI and the workspace need.
pub trait HitStore: Send + Sync {
    /// Stores hits found by a re-audit (idempotent, like a batch's).
    fn store_hits(&self, hits: &[HitRow], act_hits: &[ActHitRow])
    -> Result<(u64, u64), StoreError>;

    /// Of `hits` and `act_hits`, those not stored yet (by their keys), so that a re-audit that
    /// finds only known hits need not write at all. A store without a cheap check keeps them all
    /// (storing is idempotent either way).
    fn unstored_hits(
        &self,
        hits: Vec<HitRow>,
        act_hits: Vec<ActHitRow>,
    ) -> Result<(Vec<HitRow>, Vec<ActHitRow>), StoreError> {
        Ok((hits, act_hits))
    }

    /// Strategy hits matching a query, newest first (then by msgid descending, then strategy).
    fn hits(&self, query: &HitQuery) -> Result<Vec<StoredHit>, StoreError>;

    /// Behaviour hits, newest first (then by msgid descending, then behaviour).
    fn act_hits(&self, query: &HitQuery) -> Result<Vec<ActHitRow>, StoreError>;

    /// Hits per strategy and per behaviour (for one corp, or all).
    fn hit_counts(&self, corp_id: Option<&str>) -> Result<HitCounts, StoreError>;

    /// Hits per calendar day in `zone`, per strategy (under the query's strategy filters) and per
    /// behaviour (under its behaviour filters), oldest day first.
    fn daily_counts(&self, query: &HitQuery, zone: &Zone) -> Result<Vec<DailyCount>, StoreError>;

    /// A message and up to `around` messages before and after it in the same conversation (room, or
    /// the same pair of people), oldest first.
    fn context(&self, query: &ContextQuery) -> Result<Vec<StoredMessage>, StoreError>;

    /// The visible text of messages of one corp, each named by (time, msgid), as (msgid, text);
    /// messages not stored are left out. For exports that carry a hit's whole message.
    fn message_texts(
        &self,
        corp_id: &str,
        keys: &[(i64, String)],
    ) -> Result<Vec<(String, String)>, StoreError>;
}

/// The alert outbox: what the alert sender and the `alerts` commands need.
pub trait OutboxStore: Send + Sync {
    /// Group robots (not removed), by id.
    fn robots(&self) -> Result<Vec<Robot>, StoreError>;

    /// Adds a group robot; returns its id.
    fn add_robot(&self, robot: &Robot) -> Result<i64, StoreError>;

    /// Removes a group robot (its posts stay).
    fn remove_robot(&self, id: i64) -> Result<(), StoreError>;

    /// Hits whose alert is not settled (`send_status` 0), each with the posts that already carry
    /// it: every corp's oldest first, then every corp's second oldest, and so on, so a corp with a
    /// backlog of alerts never keeps the other corps' fresh ones out of the page. Hits of the
    /// `skip` routes (which have nowhere to go) are left out, so they never fill the page either.
    fn pending_alerts(&self, limit: u32, skip: &[Route]) -> Result<Vec<PendingAlert>, StoreError>;

    /// How many hits' alerts are not settled.
    fn alert_backlog(&self) -> Result<u64, StoreError>;

    /// Alert posts, newest first.
    fn posts(&self, query: &PostQuery) -> Result<Vec<AlertPost>, StoreError>;

    /// Records posts' states — the first time, with the hits each carries (its claim on them for
    /// its destination) — and settles the hits they finished (`send_status` 1 sent or 2 failed), as
    /// one durable step on SQLite; on ClickHouse the posts go in first, so a crash in between leaves
    /// hits the sender settles again. The sender records a whole step's posts at once: one write
    /// for hundreds of corps' alerts, not two per post competing with ingestion for the store.
    fn record_posts(&self, posts: &[AlertPost], settled: &[(HitRow, u8)])
    -> Result<(), StoreError>;

    /// [`OutboxStore::record_posts`] of one post.
    fn record_post(&self, post: &AlertPost, settled: &[(HitRow, u8)]) -> Result<(), StoreError> {
        self.record_posts(std::slice::from_ref(post), settled)
    }

    /// Settles hits whose every destination is done (after a crash between a post's result and
    /// its hits, or when a hit's destinations changed).
    fn settle_alerts(&self, settled: &[(HitRow, u8)]) -> Result<(), StoreError>;
}

/// Workspace accounts and the operation log (`sys_user`, `sys_oper_log`).
pub trait AccessStore: Send + Sync {
    /// Workspace accounts, by user name.
    fn accounts(&self) -> Result<Vec<Account>, StoreError>;

    /// Adds or replaces an account (by user name).
    fn save_account(&self, account: &Account) -> Result<(), StoreError>;

    /// Records an operation in `sys_oper_log`.
    fn log_operation(&self, op: &OperLog) -> Result<(), StoreError>;

    /// The operation log, newest first.
    fn operations(&self, limit: u32) -> Result<Vec<OperLog>, StoreError>;
}

/// A whole store: every concern, as both backends provide it. Parts that need one concern take
/// that trait; `Arc<dyn Store>` upcasts to any of them.
pub trait Store:
    IngestStore
    + RulesStore
    + HitStore
    + OutboxStore
    + AccessStore
    + MediaJobStore
    + ArchiveStore
    + DirectoryStore
    + ReviewStore
{
}

impl<
    T: IngestStore
        + RulesStore
        + HitStore
        + OutboxStore
        + AccessStore
        + MediaJobStore
        + ArchiveStore
        + DirectoryStore
        + ReviewStore,
> Store for T
{
}

/// Every store trait, for callers that use several concerns through `dyn Store`.
pub mod prelude {
    pub use super::{
        AccessStore, ArchiveStore, DirectoryStore, HitStore, IngestStore, MediaJobStore,
        OutboxStore, ReviewStore, RulesStore, Store,
    };
}

/// Opens the store at `url` to read it: as [`open`], but a SQLite file that does not exist is an
/// error rather than a new empty store, so a mistyped path does not answer "nothing found".
pub fn open_existing(url: &str) -> Result<Box<dyn Store>, StoreError> {
    if let Some(path) = sqlite_path(url)
        && !path.is_empty()
        && !std::path::Path::new(path).exists()
    {
        return Err(StoreError::Missing { path: path.into() });
    }
    open(url)
}

/// The suffix of a SQLite URL that stores without the archive index (measuring only).
const NO_ARCHIVE_INDEX: &str = "?archive_index=off";

/// The file path of a SQLite store URL (`sqlite://PATH`, `sqlite:PATH` or a bare path, without
/// [`NO_ARCHIVE_INDEX`]); None for other backends.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let path = match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some(rest) => rest,
        None if url.contains("://") => return None,
        None => url,
    };
    Some(path.strip_suffix(NO_ARCHIVE_INDEX).unwrap_or(path))
}

/// How far a store's schema is, read without changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// The newest migration the store records; None when there is no store, or no schema in it,
    /// yet (the daemon and `msgaudit migrate` create it).
    pub applied: Option<u32>,
    /// The newest migration this build knows.
    pub latest: u32,
}

/// How far the schema of the store at `url` is, without creating or migrating anything (a
/// SQLite file is opened read-only; on ClickHouse only the migrations table is read).
pub fn schema_state(url: &str) -> Result<SchemaState, StoreError> {
    if url.starts_with("clickhouse://") {
        let (applied, latest) = clickhouse::schema_versions(url)?;
        return Ok(SchemaState { applied, latest });
    }
    match sqlite_path(url) {
        Some(path) if !path.is_empty() => Ok(SchemaState {
            applied: sqlite::applied_version(std::path::Path::new(path))?,
            latest: sqlite::LATEST_SCHEMA,
        }),
        // `open` says what is wrong with such a URL (it never opens one).
        _ => open(url).map(|_| SchemaState {
            applied: None,
            latest: 0,
        }),
    }
}

/// Brings the SQLite store a URL names to the current schema (creating it if missing); returns how
/// many migrations that applied. Any other URL is opened as [`open`] does, which says what is
/// wrong with one it cannot read (ClickHouse has its own `clickhouse::migrate`).
pub fn migrate_sqlite(url: &str) -> Result<usize, StoreError> {
    match sqlite_path(url) {
        Some(path) if !path.is_empty() => Ok(SqliteStore::open(path)?.migrations_applied()),
        _ => open(url).map(|_| 0),
    }
}

/// Opens the store a URL names: `sqlite://PATH`, `sqlite:PATH`, a plain path ending in `.db`,
/// `.sqlite` or `.sqlite3`, or `clickhouse://user:password@host:port/database`. The schema is
/// migrated to the current version.
pub fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    if url.starts_with("clickhouse://") {
        return Ok(Box::new(clickhouse::ClickHouseStore::open(url)?));
    }
    let Some(path) = sqlite_path(url) else {
        let scheme = url.split("://").next().unwrap_or_default();
        return Err(StoreError::Url {
            url: clickhouse::redact(url),
            reason: format!(
                "no `{scheme}` backend; use sqlite://PATH or clickhouse://user:password@host:port/database"
            ),
        });
    };
    // Measuring only: what the writer's archive index costs (see `SqliteStore::archive_index`).
    let archive_index = !url.ends_with(NO_ARCHIVE_INDEX);
    if path.is_empty() {
        return Err(StoreError::Url {
            url: url.to_owned(),
            reason: "no file path; use sqlite://./msgaudit-data/msgaudit.db".into(),
        });
    }
    let store = SqliteStore::open(path)?;
    Ok(Box::new(if archive_index {
        store
    } else {
        store.without_archive_index()
    }))
}
