//! The command line: argument definitions and one module per command group. This is the binary's
//! edge, so errors here are `anyhow` with context that tells the user what to do.

mod alerts;
mod audit;
mod backup;
mod bench;
mod check;
mod daemon;
mod demo;
mod media;
mod media_playable;
mod names;
mod progress;
mod query;
mod spool;
mod status;
mod workspace;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// msgaudit — pull, decrypt, store and audit WeCom chat archives (会话内容存档).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
    /// Time zone every time is shown and typed in (IANA name; default: the config's
    /// `[display] timezone`, else Asia/Shanghai). Stored times stay UTC.
    #[arg(long, global = true, env = "MSGAUDIT_TIMEZONE")]
    pub timezone: Option<String>,
    /// How log lines on stderr are written: `text` for people, `json` (one object a line) for log
    /// shippers such as Loki, Fluent Bit or journald's JSON export.
    #[arg(
        long,
        global = true,
        env = "MSGAUDIT_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line an event, coloured on a terminal.
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `message` and the event's fields.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Run the daemon: pull every configured corp's archive, decrypt, parse, store, forever.
    Run(daemon::RunArgs),
    /// Run the whole job on bundled parts (SDK emulator, test keys, generated archive, SQLite).
    Demo(demo::DemoArgs),
    /// List and search stored messages.
    Messages(query::MessagesArgs),
    /// Messages that could not be decrypted or parsed: list them, or re-drive them after a fix.
    DeadLetters {
        #[command(subcommand)]
        command: query::DeadLetterCommands,
    },
    /// Create or upgrade a store's schema (idempotent).
    Migrate(MigrateArgs),
    /// Audit rules: import, export, list, add or remove words.
    Rules {
        #[command(subcommand)]
        command: audit::RulesCommands,
    },
    /// Check plaintext message JSON lines (or, with --text, plain lines) against audit rules: a file, or the store's; one JSON line per hit.
    Scan(audit::ScanArgs),
    /// List stored hits (table, JSON lines or CSV), optionally with the conversation around each.
    Hits(audit::HitsArgs),
    /// Re-scan stored messages with the current rules (idempotent), e.g. after adding a strategy.
    Reaudit(audit::ReauditArgs),
    /// Measure end-to-end throughput against the machine's RSA ceiling (table or --json).
    Bench(bench::BenchArgs),
    /// Group robots that alerts are posted to: add, list, test, remove.
    Robots {
        #[command(subcommand)]
        command: alerts::RobotCommands,
    },
    /// The alert outbox: alerts waiting, and recent posts with their state; `test-app` sends a test message from each corp's alert app.
    Alerts(alerts::AlertsArgs),
    /// How far each corp is stored, what is stuck, and the running daemon's live figures.
    Status(status::StatusArgs),
    /// Try every part a configuration names once, changing nothing: store, SDK, keys against each corp's archive, spool, media, metrics, alerts, etcd.
    Check(check::CheckArgs),
    /// What the durable spool holds (pulled batches waiting for the store), every record checked.
    Spool(spool::SpoolArgs),
    /// A consistent copy of the SQLite store, safe beside the running daemon, checked before it takes its name.
    Backup(backup::BackupArgs),
    /// Put a copy `msgaudit backup` made in the SQLite store's place (the daemon stopped; the replaced store is kept).
    Restore(backup::RestoreArgs),
    /// Serve the auditors' workspace: the web page and its HTTP API.
    Serve(workspace::ServeArgs),
    /// The media archive: list media jobs, retry dead ones, get a stored file, make stored voice playable.
    Media {
        #[command(subcommand)]
        command: media::MediaCommands,
    },
    /// Find people and groups by name: their ids, for --from, --to and --room.
    Names(names::NamesArgs),
    /// Workspace accounts: add, list, disable.
    Users {
        #[command(subcommand)]
        command: workspace::UserCommands,
    },
}

/// Columns a character takes in a terminal: two for CJK and other wide characters.
pub(crate) fn char_width(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// The closing line of a listing of `n` `things` read with `--limit limit`: when the page is full,
/// it says that more may match and how to see them.
pub(crate) fn listed(n: usize, limit: u32, things: &str, order: &str) -> String {
    if n > 0 && n as u64 >= u64::from(limit) {
        format!("{n} {things}, {order}: the first {n} of perhaps more; --limit N shows more")
    } else {
        format!("{n} {things}, {order}")
    }
}

/// A size as a person reads it: `812 bytes`, `3.3 KiB`, `1.2 MiB`, `1.5 GiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A table cell exactly `width` columns wide: one line, cut with `…` or padded with spaces.
pub(crate) fn column(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    let one_line = text.chars().map(|c| if c.is_control() { ' ' } else { c });
    let total: usize = text.chars().map(char_width).sum();
    for c in one_line {
        let w = char_width(c);
        if total > width && used + w > width.saturating_sub(1) {
            out.push('…');
            used += 1;
            break;
        }
        out.push(c);
        used += w;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// `name (id)` for the ids the organisation (the rules) or the names directory can name, else the
/// id, for the CLI's tables and CSV: the store's [`crate::store::Names`], one per corp.
pub(crate) struct Namer {
    by_corp: std::collections::HashMap<String, crate::store::Names>,
}

impl Namer {
    /// Names for these (corp, id) pairs (a store that cannot answer names nobody).
    pub(crate) fn new(
        store: &dyn crate::store::Store,
        ids: impl IntoIterator<Item = (String, String)>,
    ) -> Namer {
        let members = store.load_rules().map(|r| r.members).unwrap_or_default();
        let mut ids_of: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (corp, id) in ids {
            ids_of.entry(corp).or_default().push(id);
        }
        let by_corp = ids_of
            .into_iter()
            .map(|(corp, ids)| {
                let names =
                    crate::store::Names::lookup(&members, store, &corp, ids).unwrap_or_default();
                (corp, names)
            })
            .collect();
        Namer { by_corp }
    }

    /// `name (id)`, or the id.
    pub(crate) fn label(&self, corp: &str, id: &str) -> String {
        self.by_corp
            .get(corp)
            .map_or_else(|| id.to_owned(), |n| n.label(id))
    }

    /// Several ids of a comma-separated list, labelled and joined with `、`.
    pub(crate) fn labels(&self, corp: &str, list: &str) -> String {
        self.by_corp
            .get(corp)
            .map_or_else(|| list.replace(',', "、"), |n| n.labels(list))
    }
}

/// Which store to read: a config file's, or a URL.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Config file whose `[store]` to use.
    #[arg(long, short = 'c', conflicts_with = "store")]
    pub config: Option<PathBuf>,
    /// Store URL, e.g. sqlite://./msgaudit-data/msgaudit.db (default: the config's, or that one).
    #[arg(long)]
    pub store: Option<String>,
}

impl StoreArgs {
    /// The store URL these arguments name.
    pub fn url(&self) -> anyhow::Result<String> {
        use anyhow::Context;
        Ok(match (&self.store, &self.config) {
            (Some(url), _) => url.clone(),
            (None, Some(path)) => {
                store_url_of(path).with_context(|| format!("reading {}", path.display()))?
            }
            (None, None) => "sqlite://./msgaudit-data/msgaudit.db".to_owned(),
        })
    }

    /// The store these arguments name, which must already exist: what reading commands open.
    pub fn open_existing(&self) -> anyhow::Result<Box<dyn crate::store::Store>> {
        use anyhow::Context;
        let url = self.url()?;
        crate::store::open_existing(&url)
            .with_context(|| format!("opening the store {}", crate::store::redact_url(&url)))
    }
}

/// The store URL of a config file, without validating the rest (reading commands need no secrets).
fn store_url_of(path: &std::path::Path) -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct OnlyStore {
        #[serde(default)]
        store: Option<toml::Value>,
        #[serde(default)]
        display: Option<toml::Value>,
    }
    let text = std::fs::read_to_string(path)?;
    let parsed: OnlyStore = toml::from_str(&text)?;
    if let Some(zone) = parsed
        .display
        .as_ref()
        .and_then(|d| d.get("timezone"))
        .and_then(|z| z.as_str())
    {
        set_zone(zone).map_err(|e| anyhow::anyhow!("[display] timezone: {e}"))?;
    }
    let url = parsed
        .store
        .and_then(|s| s.get("url").and_then(|u| u.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "sqlite://./msgaudit-data/msgaudit.db".to_owned());
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    Ok(crate::config::resolve_store_url(&url, base))
}

/// The corp and time range a reading command covers.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// Only this corp.
    #[arg(long)]
    pub corp: Option<String>,
    /// From this time on (display time zone, see --timezone; 2025-11-20, "2025-11-20 08:00", or
    /// epoch ms).
    #[arg(long)]
    pub since: Option<String>,
    /// Before this time (same formats).
    #[arg(long)]
    pub until: Option<String>,
}

impl RangeArgs {
    /// The messages of this corp and time range (no other filter, no limit yet).
    pub fn messages(&self) -> anyhow::Result<crate::store::MessageQuery> {
        let (since_ms, until_ms) = self.bounds()?;
        Ok(crate::store::MessageQuery {
            corp_id: self.corp.clone(),
            since_ms,
            until_ms,
            ..Default::default()
        })
    }

    /// `(since, until)` in epoch milliseconds.
    pub fn bounds(&self) -> anyhow::Result<(Option<i64>, Option<i64>)> {
        Ok((
            time_arg("since", &self.since)?,
            time_arg("until", &self.until)?,
        ))
    }
}

/// Parses a `--since`/`--until` style argument.
fn time_arg(name: &str, value: &Option<String>) -> anyhow::Result<Option<i64>> {
    use anyhow::Context;
    value
        .as_deref()
        .map(|v| {
            crate::timefmt::parse_ms(v).with_context(|| {
                format!(
                    "--{name} {v:?}: use 2025-11-20, \"2025-11-20 08:00\" or epoch milliseconds"
                )
            })
        })
        .transpose()
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// ClickHouse only: create local tables on every shard of this cluster (from the server's
    /// remote_servers) and Distributed tables over them. Uses ON CLUSTER and replicated tables when
    /// the cluster has a ZooKeeper/Keeper coordinator; otherwise give every shard with --shard.
    #[arg(long)]
    pub cluster: Option<String>,
    /// With --cluster and no coordinator: one shard's clickhouse:// URL (repeat for each shard).
    #[arg(long = "shard", requires = "cluster")]
    pub shards: Vec<String>,
}

/// An error and its causes on one line, as the CLI prints it: each cause after `: `, except those
/// whose text the line already holds (our errors name their cause in their own message, so `{:#}`
/// would print it twice).
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The line that says why a command failed, for stderr: `error: …`, or with JSON logs one more
/// JSON line (whatever `RUST_LOG` filters), so that a log shipper reads it like the others.
pub fn failure_line(e: &anyhow::Error, format: LogFormat) -> String {
    let text = error_text(e);
    match format {
        LogFormat::Text => format!("error: {text}"),
        LogFormat::Json => serde_json::json!({
            "timestamp": jiff::Timestamp::now().to_string(),
            "level": "ERROR",
            "message": "msgaudit stopped with an error",
            "error": text,
            "target": "msgaudit",
        })
        .to_string(),
    }
}

/// Sets up `tracing` output to stderr, filtered by `RUST_LOG` (default `info` for the daemon and
/// tools, `warn` for `demo` and `bench`, whose own summaries say what happened).
pub fn init_logging(cli: &Cli) {
    let default = match cli.command {
        Commands::Demo(_) | Commands::Bench(_) => "warn",
        // The checklist says everything; the parts it tries would log it twice.
        Commands::Check(_) => "error",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        // Colours only for a terminal: a log file or journald gets plain text.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// Sets the display zone: `--timezone` first (the first zone set wins), then a config's.
fn set_zone(name: &str) -> anyhow::Result<()> {
    crate::timefmt::set_display_zone(crate::timefmt::Zone::named(name)?);
    Ok(())
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(name) = &cli.timezone {
        set_zone(name)?;
    }
    match cli.command {
        Commands::Run(args) => daemon::run(args),
        Commands::Demo(args) => demo::run(args),
        Commands::Messages(args) => query::messages(args),
        Commands::DeadLetters { command } => query::dead_letters(command),
        Commands::Rules { command } => audit::rules(command),
        Commands::Scan(args) => audit::scan(args),
        Commands::Hits(args) => audit::hits(args),
        Commands::Reaudit(args) => audit::reaudit(args),
        Commands::Bench(args) => bench::run(args),
        Commands::Robots { command } => alerts::robots(command),
        Commands::Alerts(args) => alerts::alerts(args),
        Commands::Serve(args) => workspace::serve(args),
        Commands::Status(args) => status::run(args),
        Commands::Check(args) => check::run(args),
        Commands::Spool(args) => spool::run(args),
        Commands::Backup(args) => backup::run(args),
        Commands::Restore(args) => backup::restore(args),
        Commands::Users { command } => workspace::users(command),
        Commands::Names(args) => names::run(args),
        Commands::Media { command } => media::run(command),
        Commands::Migrate(args) => {
            let url = args.store.url()?;
            let shown = crate::store::redact_url(&url);
            if let Some(cluster) = &args.cluster {
                if !url.starts_with("clickhouse://") {
                    anyhow::bail!("--cluster applies to clickhouse:// stores only");
                }
                let (applied, keeper) =
                    crate::store::clickhouse::migrate_cluster(&url, cluster, &args.shards)?;
                let how = if keeper {
                    "ON CLUSTER, replicated tables"
                } else {
                    "shard by shard, no coordinator"
                };
                println!(
                    "cluster {cluster} via {shown}: {applied} migration(s) applied ({how}); at the current schema"
                );
            } else if url.starts_with("clickhouse://") {
                let applied = crate::store::clickhouse::migrate(&url)?;
                println!("store {shown}: {applied} migration(s) applied; at the current schema");
            } else {
                let applied = crate::store::migrate_sqlite(&url)?;
                println!("store {shown}: {applied} migration(s) applied; at the current schema");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap finds conflicting or malformed argument definitions only at run time: check them all here.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn a_full_page_says_more_may_match_and_sizes_read_as_people_read_them() {
        assert_eq!(
            super::listed(3, 50, "hit(s)", "newest first"),
            "3 hit(s), newest first"
        );
        assert_eq!(
            super::listed(50, 50, "hit(s)", "newest first"),
            "50 hit(s), newest first: the first 50 of perhaps more; --limit N shows more"
        );
        assert_eq!(
            super::listed(0, 0, "hit(s)", "newest first"),
            "0 hit(s), newest first"
        );
        assert_eq!(super::size(812), "812 bytes");
        assert_eq!(super::size(3340), "3.3 KiB");
        assert_eq!(super::size(5 << 20), "5.0 MiB");
        assert_eq!(super::size(3 << 29), "1.5 GiB");
        assert_eq!(super::size(5 << 40), "5120.0 GiB");
    }

    #[test]
    fn an_error_names_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        // A typed error whose message already holds its source, under a context of the CLI's.
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read config file /tmp/x.toml: {source}")]
        struct Read {
            #[source]
            source: std::io::Error,
        }
        let e = anyhow::Error::new(Read { source: io }).context("starting the daemon");
        assert_eq!(
            super::error_text(&e),
            "starting the daemon: cannot read config file /tmp/x.toml: No such file or directory"
        );
        // A cause that adds something is kept.
        let e = anyhow::anyhow!("tcp connect error").context("network error");
        assert_eq!(super::error_text(&e), "network error: tcp connect error");
    }
}
