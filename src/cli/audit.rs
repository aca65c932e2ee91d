//! `msgaudit rules`, `scan`, `hits` and `reaudit`: managing the audit rules, checking messages against
//! a rules file, reading hits, and re-scanning stored messages with the current rules.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

use super::{RangeArgs, StoreArgs};
use crate::audit::rows::ActHitRow;
use crate::audit::{Auditor, RuleSet};
use crate::message::{ChatMessage, MessageRow};
use crate::reprocess::ReauditOptions;
use crate::store::{ContextQuery, HitKey, HitQuery, ReviewState, Store, StoredHit};
use crate::timefmt::format_ms;
use crate::web::export::csv_cell;

#[derive(Debug, Subcommand)]
pub enum RulesCommands {
    /// Replace the store's rules with a JSON file (strategies, organisation, behaviour switches).
    Import {
        /// The rules as JSON, in the shape `rules export` prints (docs/auditing.md): strategies,
        /// departments, members, behaviour switches, `url_allow`
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the store's rules as JSON (the import format).
    Export {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the strategies and behaviour switches.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Add words to a strategy (separators , ， 、 ; and newlines accepted).
    AddWord {
        /// The strategy's id (`msgaudit rules list` shows them).
        #[arg(long)]
        strategy: i64,
        #[arg(required = true)]
        words: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove words from a strategy.
    RemoveWord {
        /// The strategy's id (`msgaudit rules list` shows them).
        #[arg(long)]
        strategy: i64,
        #[arg(required = true)]
        words: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Rules JSON file (the `rules import` format); without it, the store's rules (`--config` or
    /// `--store`), as the daemon audits with them now.
    #[arg(long, conflicts_with_all = ["config", "store"])]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Plaintext message JSON lines (DecryptData output); standard input if absent or `-`.
    pub input: Option<PathBuf>,
    /// Each input line is the text of one message instead (to try words and evasions out), sent
    /// by `--from` to `--to`.
    #[arg(long)]
    pub text: bool,
    /// With `--text`: the sender's userid (scopes follow it).
    #[arg(long, default_value = "zhangsan", requires = "text")]
    pub from: String,
    /// With `--text`: the receiver's id (an external contact's `wm…`/`wo…` id makes the message
    /// external, which the behaviours need; a room id with `--room`).
    #[arg(long, default_value = "wmscan", requires = "text")]
    pub to: String,
    /// With `--text`: the messages are sent to this room instead.
    #[arg(long, requires = "text")]
    pub room: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlertStatus {
    Pending,
    Sent,
    Failed,
    None,
}

/// `--review`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReviewArg {
    Pending,
    Confirmed,
    FalsePositive,
    Escalated,
}

impl ReviewArg {
    fn state(self) -> crate::store::ReviewState {
        match self {
            ReviewArg::Pending => crate::store::ReviewState::Pending,
            ReviewArg::Confirmed => crate::store::ReviewState::Confirmed,
            ReviewArg::FalsePositive => crate::store::ReviewState::FalsePositive,
            ReviewArg::Escalated => crate::store::ReviewState::Escalated,
        }
    }
}

#[derive(Debug, Args)]
pub struct HitsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Only this strategy id.
    #[arg(long)]
    pub strategy: Option<i64>,
    /// Only hits on this word (as configured).
    #[arg(long)]
    pub word: Option<String>,
    /// Only hits on messages from this userid (`msgaudit names` finds ids by name).
    #[arg(long)]
    pub from: Option<String>,
    /// Only hits on messages to this id, one of the receivers (strategy hits only).
    #[arg(long, conflicts_with = "behaviours")]
    pub to: Option<String>,
    /// Only hits on messages in this group chat (roomid; `msgaudit names` finds it by name).
    #[arg(long)]
    pub room: Option<String>,
    /// Only hits whose alert is in this state.
    #[arg(long, value_enum)]
    pub status: Option<AlertStatus>,
    /// Only hits in this review state (as auditors set it in the workspace; never reviewed =
    /// pending).
    #[arg(long, value_enum)]
    pub review: Option<ReviewArg>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also show N messages before and after each hit in the same conversation.
    #[arg(long, default_value_t = 0)]
    pub context: u32,
    /// Show behaviour hits instead of strategy hits.
    #[arg(long)]
    pub behaviours: bool,
}

#[derive(Debug, Args)]
pub struct ReauditArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Only this strategy (e.g. one just added).
    #[arg(long)]
    pub strategy: Option<i64>,
}

fn open(store: &StoreArgs) -> anyhow::Result<Box<dyn Store>> {
    let url = store.url()?;
    crate::store::open(&url)
        .with_context(|| format!("opening the store {}", crate::store::redact_url(&url)))
}

fn edit_words(store: &dyn Store, strategy: i64, words: &[String], add: bool) -> anyhow::Result<()> {
    let mut rules = store.load_rules()?;
    let Some(s) = rules.strategies.iter_mut().find(|s| s.id == strategy) else {
        bail!("no strategy {strategy}; `msgaudit rules list` shows the ids");
    };
    let given = crate::audit::rules::split_words(words.iter().map(String::as_str));
    if add {
        s.words.extend(given);
    } else {
        let before = s.words.len();
        s.words.retain(|w| !given.contains(w));
        if s.words.len() == before {
            bail!("strategy {strategy} has none of those words");
        }
    }
    rules.validate()?;
    let version = store.save_rules(&rules)?;
    println!(
        "strategy {strategy} saved; rules version {version} (a running daemon picks it up within seconds)"
    );
    Ok(())
}

pub fn rules(command: RulesCommands) -> anyhow::Result<()> {
    match command {
        RulesCommands::Import { file, store } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let rules =
                RuleSet::from_json(&text).with_context(|| format!("in {}", file.display()))?;
            // Building the matcher checks the rules, and tells what every daemon will hold.
            let started = std::time::Instant::now();
            let matcher_bytes = Auditor::build(&rules, 0)?.memory_usage();
            let built = started.elapsed();
            let version = open(&store)?.save_rules(&rules)?;
            println!(
                "imported {} strategies, {} departments, {} members; rules version {version} \
                 (word matcher: {:.1} MiB, built in {:.2} s)",
                rules.strategies.len(),
                rules.departments.len(),
                rules.members.len(),
                matcher_bytes as f64 / 1_048_576.0,
                built.as_secs_f64()
            );
            Ok(())
        }
        RulesCommands::Export { store } => {
            println!("{}", open(&store)?.load_rules()?.to_json());
            Ok(())
        }
        RulesCommands::List { store } => {
            let store = open(&store)?;
            let rules = store.load_rules()?;
            println!("rules version {}", store.rules_version()?);
            println!(
                "{:>5}  {:<16} {:<8} {:<6} {:<9} {:<6} {:<6} {:<8} {:>5}  {:<12} scope",
                "id",
                "name",
                "enabled",
                "alert",
                "normalize",
                "pinyin",
                "sounds",
                "received",
                "words",
                "auditor"
            );
            for s in &rules.strategies {
                let scope = if s.scope.is_empty() {
                    "all members".to_owned()
                } else {
                    s.scope
                        .iter()
                        .map(|r| format!("{}:{}", if r.kind == 1 { "dept" } else { "user" }, r.id))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                // Names are Chinese: padded by display width, as the other tables are.
                println!(
                    "{:>5}  {} {:<8} {:<6} {:<9} {:<6} {:<6} {:<8} {:>5}  {:<12} {scope}",
                    s.id,
                    super::column(&s.name, 16),
                    s.enabled,
                    s.alert,
                    s.normalize,
                    s.pinyin,
                    s.sound_alike,
                    s.audit_received,
                    s.words.len(),
                    s.audit_user_id
                );
            }
            println!("behaviours:");
            for a in &rules.acts {
                println!(
                    "{:>5}  {} {}",
                    a.id,
                    super::column(&a.name, 16),
                    if a.enabled { "on" } else { "off" }
                );
            }
            Ok(())
        }
        RulesCommands::AddWord {
            strategy,
            words,
            store,
        } => edit_words(open(&store)?.as_ref(), strategy, &words, true),
        RulesCommands::RemoveWord {
            strategy,
            words,
            store,
        } => edit_words(open(&store)?.as_ref(), strategy, &words, false),
    }
}

pub fn scan(args: ScanArgs) -> anyhow::Result<()> {
    let rules = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            RuleSet::from_json(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => {
            let url = args.store.url()?;
            crate::store::open_existing(&url)
                .with_context(|| {
                    format!(
                        "opening the store {} for its rules (or give --rules FILE)",
                        crate::store::redact_url(&url)
                    )
                })?
                .load_rules()?
        }
    };
    let auditor = Auditor::build(&rules, 0)?;
    let input: Box<dyn BufRead> = match args.input.as_ref().filter(|p| p.as_os_str() != "-") {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut lines, mut bad, mut found) = (0u64, 0u64, 0u64);
    for (i, line) in input.split(b'\n').enumerate() {
        let line = line.context("reading input")?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines += 1;
        let row = if args.text {
            typed_row(&args, i + 1, &line)
        } else {
            match ChatMessage::parse(&line) {
                Ok(m) => MessageRow::from_message("", 0, 0, &m),
                Err(e) => {
                    bad += 1;
                    eprintln!("line {}: skipped, not a message: {e}", i + 1);
                    continue;
                }
            }
        };
        for h in auditor.word_hits(&row) {
            found += 1;
            let v = serde_json::json!({
                "kind": "word", "msgid": row.msg_id, "strategy_id": h.strategy_id, "strategy": h.strategy_name,
                "words": h.words, "spans": h.spans, "matched": h.matched(&row.plain_text),
                "direction": h.direction,
            });
            writeln!(out, "{v}")?;
        }
        for a in auditor.act_hits(&row) {
            found += 1;
            let v = serde_json::json!({
                "kind": "act", "msgid": row.msg_id, "act": a.act.name(), "act_id": a.act.id(),
                "operator_id": a.operator_id, "target_id": a.target_id, "detail": a.detail,
            });
            writeln!(out, "{v}")?;
        }
    }
    out.flush()?;
    eprintln!("scanned {lines} message(s): {found} hit(s), {bad} unreadable line(s)");
    Ok(())
}

/// `--text`: line `n` of the input as the text of a message `--from` sends to `--to` or `--room`.
fn typed_row(args: &ScanArgs, n: usize, line: &[u8]) -> MessageRow {
    let text = String::from_utf8_lossy(line);
    let (to, room) = match &args.room {
        Some(room) => (Vec::new(), room.as_str()),
        None => (vec![args.to.as_str()], ""),
    };
    MessageRow::typed_text(
        &format!("line-{n}"),
        &args.from,
        &to,
        room,
        text.trim_end_matches('\r'),
    )
}

/// `row` as a JSON object with its review state (`review`).
fn with_review(row: &impl serde::Serialize, review: ReviewState) -> serde_json::Result<String> {
    let mut value = serde_json::to_value(row)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("review".into(), review.as_str().into());
    }
    serde_json::to_string(&value)
}

fn print_hit(
    out: &mut impl Write,
    h: &StoredHit,
    review: ReviewState,
    format: Format,
    names: &super::Namer,
) -> std::io::Result<()> {
    let r = &h.hit;
    match format {
        Format::Json => writeln!(out, "{}", with_review(h, review).unwrap_or_default()),
        Format::Csv => csv_record(
            out,
            &[
                format_ms(r.msg_time),
                r.corp_id.clone(),
                r.strategy_id.to_string(),
                r.strategy_name.clone(),
                r.words.join("、"),
                names.label(&r.corp_id, &r.from_id),
                if r.room_id.is_empty() {
                    names.labels(&r.corp_id, &r.to_list)
                } else {
                    names.label(&r.corp_id, &r.room_id)
                },
                r.direction.clone(),
                r.send_status_name().to_owned(),
                review.as_str().to_owned(),
                r.content.clone(),
                r.msg_id.clone(),
            ],
        ),
        Format::Table => writeln!(
            out,
            "{:<19}  {} {} {} {:<8} {} {}",
            format_ms(r.msg_time),
            super::column(&r.strategy_name, 10),
            super::column(&r.words.join("、"), 14),
            super::column(&names.label(&r.corp_id, &r.from_id), 24),
            r.send_status_name(),
            super::column(review.label(), 6),
            r.content.replace('\n', " ")
        ),
    }
}

/// One CSV record: each field a defused, quoted-when-needed cell; CRLF at the end.
fn csv_record(out: &mut impl Write, fields: &[String]) -> std::io::Result<()> {
    let cells: Vec<String> = fields.iter().map(|f| csv_cell(f)).collect();
    write!(out, "{}\r\n", cells.join(","))
}

/// The header of the behaviour hits' table or CSV (none for JSON lines).
fn print_behaviours_header(out: &mut impl Write, format: Format) -> std::io::Result<()> {
    match format {
        // A BOM so that Excel opens the Chinese text as UTF-8.
        Format::Csv => write!(
            out,
            "\u{FEFF}time,corp_id,act_id,act,operator,target,review,detail,msg_id\r\n"
        ),
        Format::Table => writeln!(
            out,
            "{:<19}  {} {} {} {} detail",
            "time",
            super::column("behaviour", 12),
            super::column("operator", 24),
            super::column("target (person or group)", 32),
            super::column("review", 6),
        ),
        Format::Json => Ok(()),
    }
}

/// One behaviour hit as a table row, CSV record or JSON line.
fn print_behaviour(
    out: &mut impl Write,
    a: &ActHitRow,
    review: ReviewState,
    format: Format,
    names: &super::Namer,
) -> std::io::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", with_review(a, review).unwrap_or_default()),
        Format::Csv => csv_record(
            out,
            &[
                format_ms(a.msg_time),
                a.corp_id.clone(),
                a.sensitive_act_id.to_string(),
                a.sensitive_act.clone(),
                names.label(&a.corp_id, &a.operator_id),
                names.label(&a.corp_id, &a.operate_target_id),
                review.as_str().to_owned(),
                a.detail.clone(),
                a.msg_id.clone(),
            ],
        ),
        Format::Table => writeln!(
            out,
            "{:<19}  {} {} {} {} {}",
            format_ms(a.msg_time),
            super::column(&a.sensitive_act, 12),
            super::column(&names.label(&a.corp_id, &a.operator_id), 24),
            super::column(&names.label(&a.corp_id, &a.operate_target_id), 32),
            super::column(review.label(), 6),
            a.detail.replace('\n', " ")
        ),
    }
}

pub fn hits(args: HitsArgs) -> anyhow::Result<()> {
    let store = args.store.open_existing()?;
    let (since_ms, until_ms) = args.range.bounds()?;
    let query = HitQuery {
        corp_id: args.range.corp.clone(),
        since_ms,
        until_ms,
        strategy_id: args.strategy,
        word: args.word.clone(),
        from_id: args.from.clone(),
        to_id: args.to.clone(),
        room_id: args.room.clone(),
        send_status: args.status.map(|s| match s {
            AlertStatus::Pending => 0,
            AlertStatus::Sent => 1,
            AlertStatus::Failed => 2,
            AlertStatus::None => 3,
        }),
        review_state: args.review.map(ReviewArg::state),
        limit: args.limit,
        ..HitQuery::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.behaviours {
        let found = store.act_hits(&query)?;
        let keys: Vec<HitKey> = found.iter().map(HitKey::of_act_hit).collect();
        let reviews = store.review_states(&keys)?;
        let names = super::Namer::new(
            store.as_ref(),
            found.iter().flat_map(|a| {
                [a.operator_id.clone(), a.operate_target_id.clone()]
                    .into_iter()
                    .map(|id| (a.corp_id.clone(), id))
            }),
        );
        print_behaviours_header(&mut out, args.format)?;
        for (a, key) in found.iter().zip(&keys) {
            let review = reviews.get(key).copied().unwrap_or_default();
            print_behaviour(&mut out, a, review, args.format, &names)?;
        }
        out.flush()?;
        if matches!(args.format, Format::Table) {
            eprintln!(
                "{}",
                super::listed(found.len(), args.limit, "behaviour hit(s)", "newest first")
            );
        }
        return Ok(());
    }
    let found = store.hits(&query)?;
    let keys: Vec<HitKey> = found.iter().map(|h| HitKey::of_hit(&h.hit)).collect();
    let reviews = store.review_states(&keys)?;
    let names = super::Namer::new(
        store.as_ref(),
        found.iter().flat_map(|h| {
            let r = &h.hit;
            [r.from_id.clone(), r.room_id.clone()]
                .into_iter()
                .chain(crate::store::split_list(&r.to_list))
                .map(|id| (r.corp_id.clone(), id))
        }),
    );
    match args.format {
        Format::Csv => {
            // A BOM so that Excel opens the Chinese text as UTF-8.
            write!(
                out,
                "\u{FEFF}time,corp_id,strategy_id,strategy,words,from,to_or_room,direction,alert,review,snippet,msg_id\r\n"
            )?;
        }
        Format::Table => writeln!(
            out,
            "{:<19}  {} {} {} {:<8} {} snippet",
            "time",
            super::column("strategy", 10),
            super::column("words", 14),
            super::column("from", 24),
            "alert",
            super::column("review", 6),
        )?,
        Format::Json => {}
    }
    for (h, key) in found.iter().zip(&keys) {
        let review = reviews.get(key).copied().unwrap_or_default();
        print_hit(&mut out, h, review, args.format, &names)?;
        if args.context > 0 {
            let around = store.context(&ContextQuery {
                corp_id: h.hit.corp_id.clone(),
                msg_id: h.hit.msg_id.clone(),
                msg_time: h.hit.msg_time,
                around: args.context,
            })?;
            for m in around {
                let mark = if m.row.msg_id == h.hit.msg_id {
                    "▶"
                } else {
                    " "
                };
                // A message with no text (voice, image, a recall) shows its type instead.
                let text = if m.row.plain_text.trim().is_empty() {
                    format!("[{}]", crate::message::type_label(&m.row.msg_type))
                } else {
                    m.row.plain_text.replace('\n', " ")
                };
                writeln!(
                    out,
                    "    {mark} {} {} {text}",
                    format_ms(m.row.msg_time),
                    super::column(&names.label(&m.row.corp_id, &m.row.from_id), 24),
                )?;
            }
        }
    }
    out.flush()?;
    if matches!(args.format, Format::Table) {
        eprintln!(
            "{}",
            super::listed(found.len(), args.limit, "hit(s)", "newest first")
        );
    }
    if let Some(id) = args.strategy.filter(|_| found.is_empty())
        && !store.load_rules()?.strategies.iter().any(|s| s.id == id)
    {
        // A deleted strategy's hits stay, so only an empty answer says the id may be wrong.
        eprintln!("no strategy {id} in the rules: `msgaudit rules list` shows the ids");
    }
    Ok(())
}

pub fn reaudit(args: ReauditArgs) -> anyhow::Result<()> {
    let store = args.store.open_existing()?;
    let options = ReauditOptions {
        messages: args.range.messages()?,
        strategy: args.strategy,
    };
    let done = crate::reprocess::reaudit(store.as_ref(), &options, |p| {
        eprint!(
            "\rre-audited {}/{} messages · {} new hits · {} new behaviour hits · {:.0} msg/s   ",
            p.scanned,
            p.total,
            p.new_hits,
            p.new_act_hits,
            p.per_second()
        );
    })?;
    eprintln!();
    println!(
        "re-audit done: {} messages in {:.2} s ({:.0} msg/s), {} new hits, {} new behaviour hits (existing ones kept); \
         auditing {:.2} s, storing hits {:.2} s, the rest waiting for rows",
        done.scanned,
        done.seconds,
        done.per_second(),
        done.new_hits,
        done.new_act_hits,
        done.audit_seconds,
        done.store_seconds
    );
    Ok(())
}
