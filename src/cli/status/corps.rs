//! The corps part of `msgaudit status`: each corp's stored progress (from the store) joined with its
//! live figures (from the running daemon's `/corps`) and, in a fleet, the daemon holding it (from
//! etcd), ordered worst first, and shown as blocks, as one table, or as JSON.

use std::collections::BTreeMap;

use crate::daemon::metrics::LiveCorp;
use crate::runtime::RETENTION_MS;
use crate::store::CorpProgress;
use crate::timefmt::format_ms;

use super::age;

/// One corp as `status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CorpRow {
    pub corp_id: String,
    /// `failing`, `behind`, `starting`, `caught_up`, `not_archived` (not by the daemon that
    /// answered), `unknown` (no daemon answered); in a fleet, when the daemon asked does not
    /// archive it: `elsewhere` (another daemon holds it) or `unclaimed` (no daemon holds it).
    pub state: String,
    /// The stored checkpoint.
    pub stored_seq: u64,
    /// `msgtime` of the newest stored message, epoch ms (0: none).
    pub newest_stored_ms: i64,
    /// Dead letters not yet re-driven, by reason.
    pub pending_dead: BTreeMap<String, u64>,
    /// The daemon's figures (None: no daemon answered, or it does not archive this corp now).
    pub live: Option<LiveCorp>,
    /// In a fleet: the daemon holding the corp (None: none does, or no fleet).
    pub held_by: Option<String>,
}

impl CorpRow {
    /// A corp known only by its id so far, in `state`.
    fn bare(corp_id: &str, state: &str) -> CorpRow {
        CorpRow {
            corp_id: corp_id.to_owned(),
            state: state.to_owned(),
            stored_seq: 0,
            newest_stored_ms: 0,
            pending_dead: BTreeMap::new(),
            live: None,
            held_by: None,
        }
    }

    fn rank(&self) -> u8 {
        match self.state.as_str() {
            "failing" => 0,
            "behind" => 1,
            "starting" => 2,
            "unknown" | "not_archived" | "unclaimed" | "elsewhere" => 3,
            _ => 4,
        }
    }

    fn lag_ms(&self) -> Option<i64> {
        self.live.as_ref().and_then(|l| l.oldest_unpulled_ms)
    }

    fn dead(&self) -> u64 {
        self.pending_dead.values().sum()
    }

    pub fn is_behind(&self) -> bool {
        matches!(self.state.as_str(), "failing" | "behind")
    }

    fn near_retention(&self) -> bool {
        self.live.as_ref().is_some_and(|l| l.near_retention)
    }
}

/// Joins the store's progress with the daemon's live figures and, in a fleet, each corp's holder
/// (`holders`: corp → daemon): every corp of any of them, worst first.
pub fn rows(
    progress: Vec<CorpProgress>,
    live: Option<Vec<LiveCorp>>,
    holders: Option<&BTreeMap<String, String>>,
) -> Vec<CorpRow> {
    let mut by_id: BTreeMap<String, CorpRow> = BTreeMap::new();
    let daemon_answered = live.is_some();
    for p in progress {
        by_id.insert(
            p.corp_id.clone(),
            CorpRow {
                corp_id: p.corp_id,
                state: "unknown".into(),
                stored_seq: p.checkpoint,
                newest_stored_ms: p.newest_msg_ms,
                pending_dead: p.pending_dead.into_iter().collect(),
                live: None,
                held_by: None,
            },
        );
    }
    for l in live.into_iter().flatten() {
        let row = by_id
            .entry(l.corp_id.clone())
            .or_insert_with(|| CorpRow::bare(&l.corp_id, ""));
        row.state = l.state.clone();
        row.stored_seq = row.stored_seq.max(l.stored_seq);
        row.newest_stored_ms = row.newest_stored_ms.max(l.newest_stored_ms);
        row.live = Some(l);
    }
    if daemon_answered {
        // Stored once, not archived by this daemon now (removed from the config, say).
        for row in by_id.values_mut().filter(|r| r.live.is_none()) {
            row.state = "not_archived".into();
        }
    }
    if let Some(holders) = holders {
        // A corp claimed that has stored nothing yet is still one of the fleet's.
        for corp in holders.keys() {
            by_id
                .entry(corp.clone())
                .or_insert_with(|| CorpRow::bare(corp, "unknown"));
        }
        for row in by_id.values_mut() {
            row.held_by = holders.get(&row.corp_id).cloned();
            if row.live.is_none() {
                row.state = if row.held_by.is_some() {
                    "elsewhere"
                } else {
                    "unclaimed"
                }
                .into();
            }
        }
    }
    let mut rows: Vec<CorpRow> = by_id.into_values().collect();
    rows.sort_by(|a, b| {
        a.rank()
            .cmp(&b.rank())
            .then(b.lag_ms().cmp(&a.lag_ms()))
            .then(b.dead().cmp(&a.dead()))
            .then(a.corp_id.cmp(&b.corp_id))
    });
    rows
}

fn state_words(state: &str) -> &'static str {
    match state {
        "failing" => "FAILING",
        "behind" => "behind",
        "starting" => "starting",
        "caught_up" => "caught up",
        "not_archived" => "not archived",
        "elsewhere" => "held elsewhere",
        "unclaimed" => "held by no daemon",
        _ => "unknown",
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The lag in a few words: "none", "≈12,000 msgs · 3.2 h", "unknown".
fn lag_words(row: &CorpRow) -> String {
    let Some(l) = &row.live else {
        return "unknown".into();
    };
    match (row.state.as_str(), l.oldest_unpulled_ms) {
        ("caught_up", _) => "none".into(),
        (_, Some(ms)) => match l.lag_messages {
            Some(n) => format!("≈{} msgs · {}", thousands(n), age(ms)),
            None => format!("{} of messages", age(ms)),
        },
        _ => "unknown".into(),
    }
}

/// A line per state: "5,000 corps: 4,990 caught up, 8 behind, 2 failing".
pub fn summary(rows: &[CorpRow]) -> String {
    let mut counts: BTreeMap<(u8, &str), usize> = BTreeMap::new();
    for r in rows {
        *counts.entry((r.rank(), state_words(&r.state))).or_insert(0) += 1;
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|((_, words), n)| format!("{} {words}", thousands(*n as u64)))
        .collect();
    format!(
        "{} corp{}: {}",
        thousands(rows.len() as u64),
        if rows.len() == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

/// The corps as one table, worst first, at most `limit` rows (0: all).
pub fn print_table(rows: &[CorpRow], limit: usize, now: i64) {
    let shown = if limit == 0 {
        rows.len()
    } else {
        limit.min(rows.len())
    };
    let width = rows[..shown]
        .iter()
        .map(|r| r.corp_id.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:<12}  {:<24}  {:>10}  {:>10}  {:<22}  {:>5}  NOTE",
        "CORP", "STATE", "LAG", "STORED SEQ", "PULLED SEQ", "NEWEST STORED", "DEAD"
    );
    for r in &rows[..shown] {
        let pulled = r
            .live
            .as_ref()
            .map_or("-".to_owned(), |l| l.pulled_seq.to_string());
        let newest = if r.newest_stored_ms > 0 {
            format!("{} ago", age(now - r.newest_stored_ms))
        } else {
            "nothing yet".into()
        };
        println!(
            "{:<width$}  {:<12}  {:<24}  {:>10}  {:>10}  {:<22}  {:>5}  {}",
            r.corp_id,
            state_words(&r.state),
            lag_words(r),
            r.stored_seq,
            pulled,
            newest,
            r.dead(),
            note(r)
        );
    }
    if shown < rows.len() {
        println!(
            "… {} more, all no worse than the last shown (--limit 0 lists every corp; --corp ID shows one)",
            thousands((rows.len() - shown) as u64)
        );
    }
}

/// What to do about a corp, if anything.
fn note(r: &CorpRow) -> String {
    if r.near_retention() {
        return "close to WeCom's 5-day retention: catch up now or lose messages".into();
    }
    match r.state.as_str() {
        "failing" => {
            let codes = r.live.as_ref().map_or(String::new(), |l| {
                l.sdk_errors
                    .keys()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            format!("SDK errors ({codes}): check the secret, IP allow-list and keys")
        }
        _ if r.dead() > 0 => "dead letters pending: `msgaudit dead-letters`".into(),
        "elsewhere" => format!(
            "held by {}: its own status shows the live figures",
            r.held_by.as_deref().unwrap_or("another daemon")
        ),
        _ => String::new(),
    }
}

/// One corp in full.
pub fn print_block(r: &CorpRow, now: i64) {
    println!("\ncorp {}", r.corp_id);
    let live = r.live.as_ref();
    let state = match (r.state.as_str(), live) {
        ("caught_up", Some(l)) => format!(
            "caught up (the last pull, {} ago, reached the archive's head)",
            age(now - l.last_pull_ms)
        ),
        ("behind", Some(_)) => "behind: pulling a backlog (the last pull came back full)".into(),
        ("failing", Some(l)) => format!(
            "FAILING: the last {} GetChatData calls failed",
            l.failing_calls
        ),
        ("starting", _) => "starting: not pulled yet".into(),
        ("not_archived", _) => "not archived by the running daemon".into(),
        ("elsewhere", _) => format!(
            "held by daemon {} of the fleet (its own `msgaudit status` shows the live figures)",
            r.held_by.as_deref().unwrap_or("?")
        ),
        ("unclaimed", _) => {
            "held by no daemon of the fleet (archived by none now, or not claimed yet)".into()
        }
        _ => "unknown: no daemon answered (give --config with [metrics] listen)".into(),
    };
    println!("  state               {state}");
    if let (Some(holder), Some(_)) = (&r.held_by, live) {
        println!("  held by             {holder}");
    }
    println!("  stored up to seq    {}", r.stored_seq);
    if let Some(l) = live {
        println!(
            "  pulled up to seq    {} ({} in flight)",
            l.pulled_seq, l.in_flight
        );
        let lag = match (r.state.as_str(), l.oldest_unpulled_ms) {
            ("caught_up", Some(ms)) => {
                format!(
                    "none (whatever arrived since the last pull, at most {} old)",
                    age(ms)
                )
            }
            (_, Some(ms)) => format!(
                "{}the oldest unpulled message is {} old, {} of WeCom's retention left{}",
                l.lag_messages
                    .map_or(String::new(), |n| format!("≈{} messages; ", thousands(n))),
                age(ms),
                age(RETENTION_MS - ms),
                if l.near_retention {
                    " — catch up now or lose messages"
                } else {
                    ""
                }
            ),
            _ => "not known yet".into(),
        };
        println!("  lag                 {lag}");
    }
    if r.newest_stored_ms > 0 {
        println!(
            "  newest message      {} ({} ago)",
            format_ms(r.newest_stored_ms),
            age(now - r.newest_stored_ms)
        );
    }
    if let Some(l) = live.filter(|l| !l.sdk_errors.is_empty()) {
        let errors: Vec<String> = l
            .sdk_errors
            .iter()
            .map(|(code, n)| format!("{n}× {code}"))
            .collect();
        println!("  SDK errors          {}", errors.join(", "));
    }
    if r.pending_dead.is_empty() {
        println!("  dead letters        none pending");
    }
    for (reason, n) in &r.pending_dead {
        let advice = crate::message::DeadReason::parse(reason).map_or("", |r| r.advice());
        println!("  dead letters        {n} {reason} → {advice}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(corp: &str, state: &str, lag_ms: Option<i64>) -> LiveCorp {
        LiveCorp {
            corp_id: corp.into(),
            state: state.into(),
            pulled_seq: 10,
            stored_seq: 10,
            in_flight: 0,
            lag_messages: lag_ms.map(|ms| (ms / 1000) as u64),
            oldest_unpulled_ms: lag_ms,
            near_retention: lag_ms.is_some_and(crate::runtime::near_retention),
            newest_stored_ms: 1,
            last_pull_ms: 1,
            head_seen_ms: 1,
            failing_calls: 0,
            sdk_errors: BTreeMap::new(),
        }
    }

    #[test]
    fn rows_come_worst_first_and_an_idle_corp_is_not_flagged() {
        let progress = vec![CorpProgress {
            corp_id: "wwgone".into(),
            checkpoint: 5,
            newest_msg_ms: 1,
            pending_dead: vec![("broken_json".into(), 2)],
        }];
        let rows = rows(
            progress,
            Some(vec![
                live("wwidle", "caught_up", Some(1_000)),
                live("wwlittle", "behind", Some(60_000)),
                live("wwfar", "behind", Some(RETENTION_MS * 9 / 10)),
                live("wwbroken", "failing", Some(1_000)),
                live("wwnew", "starting", None),
            ]),
            None,
        );
        let order: Vec<&str> = rows.iter().map(|r| r.corp_id.as_str()).collect();
        assert_eq!(
            order,
            ["wwbroken", "wwfar", "wwlittle", "wwnew", "wwgone", "wwidle"]
        );
        assert_eq!(rows[4].state, "not_archived");
        assert!(note(&rows[1]).contains("retention"));
        assert_eq!(note(&rows[5]), "", "an idle corp needs nothing");
        assert_eq!(lag_words(&rows[5]), "none");
        assert_eq!(lag_words(&rows[2]), "≈60 msgs · 60 s");
        assert_eq!(
            summary(&rows),
            "6 corps: 1 FAILING, 2 behind, 1 starting, 1 not archived, 1 caught up"
        );
    }

    #[test]
    fn without_a_daemon_every_stored_corp_is_unknown() {
        let progress = vec![CorpProgress {
            corp_id: "ww1".into(),
            checkpoint: 5,
            newest_msg_ms: 1,
            pending_dead: Vec::new(),
        }];
        let rows = rows(progress, None, None);
        assert_eq!(rows[0].state, "unknown");
        assert_eq!(lag_words(&rows[0]), "unknown");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn in_a_fleet_another_daemons_corps_read_as_held_there() {
        let stored = |corp: &str| CorpProgress {
            corp_id: corp.into(),
            checkpoint: 5,
            newest_msg_ms: 1,
            pending_dead: Vec::new(),
        };
        let holders: BTreeMap<String, String> =
            [("wwmine", "d1"), ("wwtheirs", "d2"), ("wwclaimed", "d2")]
                .map(|(c, d)| (c.to_owned(), d.to_owned()))
                .into();
        let rows = rows(
            vec![stored("wwmine"), stored("wwtheirs"), stored("wwdropped")],
            Some(vec![live("wwmine", "caught_up", Some(1_000))]),
            Some(&holders),
        );
        let by_id = |id: &str| rows.iter().find(|r| r.corp_id == id).expect("row");
        assert_eq!(by_id("wwmine").state, "caught_up");
        assert_eq!(by_id("wwmine").held_by.as_deref(), Some("d1"));
        assert_eq!(by_id("wwtheirs").state, "elsewhere");
        assert_eq!(
            note(by_id("wwtheirs")),
            "held by d2: its own status shows the live figures"
        );
        assert_eq!(
            by_id("wwclaimed").state,
            "elsewhere",
            "claimed, nothing stored yet"
        );
        assert_eq!(by_id("wwdropped").state, "unclaimed");
        assert_eq!(
            summary(&rows),
            "4 corps: 1 held by no daemon, 2 held elsewhere, 1 caught up"
        );
    }
}
