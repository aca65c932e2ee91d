//! The ClickHouse backend: a connection to one server (or a cluster's entry point) through the
//! official `clickhouse` crate over HTTP, with validation off (ClickHouse 18.16 knows neither
//! `RowBinaryWithNamesAndTypes` nor the settings validation needs) and lz4. The crate is async; the
//! store is synchronous like its trait, so each connection owns a small tokio runtime and blocks on
//! it.

mod access;
mod archive;
mod cluster;
mod directory;
mod filter;
mod hits;
mod ingest;
mod media;
mod migrate;
mod outbox;
mod review;
mod rows;
mod rules;
mod url;
mod window;

pub use url::{ClickHouseUrl, redact};

use std::collections::HashMap;
use std::sync::Mutex;

use clickhouse::{Client, RowOwned, RowRead, RowWrite};

use super::StoreError;

/// A blocking handle on a ClickHouse database.
pub struct Connection {
    runtime: tokio::runtime::Runtime,
    /// Bound to the database.
    client: Client,
    /// Bound to no database (to create it).
    server: Client,
    url: ClickHouseUrl,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .finish()
    }
}

impl Connection {
    fn failed(&self, context: &'static str) -> impl FnOnce(clickhouse::error::Error) -> StoreError {
        let server = self.url.endpoint.clone();
        move |source| StoreError::ClickHouse {
            server,
            context,
            source,
        }
    }

    /// A connection to the server `url` names (nothing is sent yet).
    pub fn new(url: ClickHouseUrl) -> Result<Connection, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Runtime(e.to_string()))?;
        let server = Client::default()
            .with_url(&url.endpoint)
            .with_user(&url.user)
            .with_password(&url.password)
            .with_compression(clickhouse::Compression::Lz4)
            .with_validation(false)
            // Through a Distributed table, an INSERT returns only once the shards have the rows, so
            // the writer's read-back and its checkpoint see them.
            .with_setting("insert_distributed_sync", "1");
        let client = server.clone().with_database(&url.database);
        Ok(Connection {
            runtime,
            client,
            server,
            url,
        })
    }

    /// Runs a future on the connection's runtime. Called from a worker of a multi-threaded runtime
    /// (the workspace's handlers), the worker first hands its other tasks on, so blocking here is
    /// allowed there too.
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.runtime.block_on(f))
            }
            _ => self.runtime.block_on(f),
        }
    }

    /// The database this connection works in.
    pub fn database(&self) -> &str {
        &self.url.database
    }

    /// The URL, password redacted.
    pub fn redacted_url(&self) -> String {
        self.url.redacted()
    }

    /// Runs a statement in the database.
    pub fn execute(&self, context: &'static str, sql: &str) -> Result<(), StoreError> {
        self.execute_raw(sql).map_err(self.failed(context))
    }

    /// Runs a statement in the database, returning the crate's error.
    pub(crate) fn execute_raw(&self, sql: &str) -> Result<(), clickhouse::error::Error> {
        self.block_on(self.client.query(sql).execute())
    }

    /// Runs a statement outside any database.
    pub fn execute_on_server(&self, context: &'static str, sql: &str) -> Result<(), StoreError> {
        self.block_on(self.server.query(sql).execute())
            .map_err(self.failed(context))
    }

    /// A query outside any database, to bind values to.
    pub(crate) fn server_query(&self, sql: &str) -> clickhouse::query::Query {
        self.server.query(sql)
    }

    /// Fetches the one row of a bound query made by [`Connection::server_query`].
    pub(crate) fn fetch_on_server<T>(
        &self,
        context: &'static str,
        query: clickhouse::query::Query,
    ) -> Result<T, StoreError>
    where
        T: RowOwned + RowRead,
    {
        self.block_on(query.fetch_one::<T>())
            .map_err(self.failed(context))
    }

    /// Fetches the one row a query returns.
    pub fn fetch_one<T>(&self, context: &'static str, sql: &str) -> Result<T, StoreError>
    where
        T: RowOwned + RowRead,
    {
        self.block_on(self.client.query(sql).fetch_one::<T>())
            .map_err(self.failed(context))
    }

    /// Fetches every row a query returns.
    pub fn fetch_all<T>(&self, context: &'static str, sql: &str) -> Result<Vec<T>, StoreError>
    where
        T: RowOwned + RowRead,
    {
        self.block_on(self.client.query(sql).fetch_all::<T>())
            .map_err(self.failed(context))
    }

    /// A query to bind values to (`?` placeholders, `?fields` for a row type's columns).
    pub(crate) fn query(&self, sql: &str) -> clickhouse::query::Query {
        self.client.query(sql)
    }

    /// Fetches every row of a bound query.
    pub(crate) fn fetch<T>(
        &self,
        context: &'static str,
        query: clickhouse::query::Query,
    ) -> Result<Vec<T>, StoreError>
    where
        T: RowOwned + RowRead,
    {
        self.block_on(query.fetch_all::<T>())
            .map_err(self.failed(context))
    }

    /// Fetches every row of a bound query as a borrowed `T` (straight from the response buffer) and
    /// keeps what `map` makes of each.
    pub(crate) fn fetch_map<T, U>(
        &self,
        context: &'static str,
        query: clickhouse::query::Query,
        mut map: impl FnMut(&T::Value<'_>) -> U,
    ) -> Result<Vec<U>, StoreError>
    where
        T: RowRead,
    {
        self.block_on(async {
            let mut cursor = query.fetch::<T>()?;
            let mut out = Vec::new();
            while let Some(row) = cursor.next().await? {
                out.push(map(&row));
            }
            Ok(out)
        })
        .map_err(self.failed(context))
    }

    /// Inserts borrowed rows (`T` is the row type, any lifetime) into `table` in one INSERT.
    pub(crate) fn insert_borrowed<T>(
        &self,
        context: &'static str,
        table: &str,
        rows: &[T::Value<'_>],
    ) -> Result<(), StoreError>
    where
        T: RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        self.block_on(async {
            let mut insert = self.client.insert::<T>(table).await?;
            for row in rows {
                insert.write(row).await?;
            }
            insert.end().await
        })
        .map_err(self.failed(context))
    }

    /// Inserts rows into `table` in one INSERT.
    pub fn insert<T>(
        &self,
        context: &'static str,
        table: &str,
        rows: &[T],
    ) -> Result<(), StoreError>
    where
        T: RowOwned + RowWrite,
    {
        self.insert_borrowed::<T>(context, table, rows)
    }
}

/// The newest migration the ClickHouse database `url` names has recorded (None: none yet), and
/// the newest this build knows; nothing is changed.
pub fn schema_versions(url: &str) -> Result<(Option<u32>, u32), StoreError> {
    let conn = Connection::new(ClickHouseUrl::parse(url)?)?;
    let latest = migrate::CLICKHOUSE.last().map_or(0, |m| m.0);
    Ok((migrate::applied_version(&conn)?, latest))
}

/// Creates or upgrades the schema of the ClickHouse database `url` names; returns how many
/// migrations ran.
pub fn migrate(url: &str) -> Result<usize, StoreError> {
    let conn = Connection::new(ClickHouseUrl::parse(url)?)?;
    migrate::migrate(&conn)
}

/// Creates or upgrades the schema across the cluster `cluster` the server at `url` knows: with
/// `ON CLUSTER` and replicated tables when the cluster has a coordinator, else on each of `shards`
/// (one URL per shard; their database is the entry's). Returns how many migrations ran and
/// whether a coordinator was used.
pub fn migrate_cluster(
    url: &str,
    cluster: &str,
    shards: &[String],
) -> Result<(usize, bool), StoreError> {
    let entry_url = ClickHouseUrl::parse(url)?;
    let entry = Connection::new(entry_url.clone())?;
    // The entry's own database first: the cluster checks run in it.
    entry.execute_on_server(
        "creating the database",
        &format!("CREATE DATABASE IF NOT EXISTS {}", entry.database()),
    )?;
    if cluster::has_keeper(&entry) {
        return Ok((
            cluster::migrate(&entry, cluster, cluster::Reach::Coordinated)?,
            true,
        ));
    }
    let conns = shards
        .iter()
        .map(|s| {
            let mut u = ClickHouseUrl::parse(s)?;
            u.database = entry_url.database.clone();
            Connection::new(u)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        cluster::migrate(&entry, cluster, cluster::Reach::PerShard(&conns))?,
        false,
    ))
}

/// The ClickHouse store.
#[derive(Debug)]
pub struct ClickHouseStore {
    conn: Connection,
    /// Per corp, the seq up to which this process stored every batch successfully: a batch wholly
    /// past it cannot be stored yet (one writer per corp), so its read-back is skipped.
    frontier: Mutex<HashMap<String, u64>>,
}

pub(super) fn now() -> u64 {
    crate::timefmt::now_ms().max(0) as u64
}

/// A row version after every one this process handed out before: the clock in ms, or one more
/// than the last version when the clock has not moved on (a post's states can follow each other
/// within a millisecond).
pub(super) fn next_version() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now().max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

impl ClickHouseStore {
    /// Connects to the database `url` names and brings its schema up to date.
    pub fn open(url: &str) -> Result<ClickHouseStore, StoreError> {
        let conn = Connection::new(ClickHouseUrl::parse(url)?)?;
        migrate::migrate(&conn)?;
        Ok(ClickHouseStore {
            conn,
            frontier: Mutex::new(HashMap::new()),
        })
    }

    /// Drops the whole database (for tests on a shared server).
    pub fn drop_database(&self) -> Result<(), StoreError> {
        self.conn.execute_on_server(
            "dropping the database",
            &format!("DROP DATABASE IF EXISTS {}", self.conn.database()),
        )
    }
}

/// `items` grouped by corp, in first-seen order.
pub(super) fn by_corp<'a, T>(
    items: &'a [T],
    corp: impl Fn(&T) -> &String,
) -> Vec<(&'a str, Vec<&'a T>)> {
    let mut groups: Vec<(&'a str, Vec<&'a T>)> = Vec::new();
    for item in items {
        let c = corp(item).as_str();
        match groups.iter_mut().find(|g| g.0 == c) {
            Some(g) => g.1.push(item),
            None => groups.push((c, vec![item])),
        }
    }
    groups
}
