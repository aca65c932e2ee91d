//! `msgaudit messages` and `msgaudit dead-letters`: reading the store, as a table or JSON, and
//! re-driving dead letters.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};

use super::{RangeArgs, StoreArgs, column};
use crate::config::Config;
use crate::sdk::FinanceLibrary;
use crate::store::DeadLetterQuery;
use crate::timefmt::format_ms;

#[derive(Debug, Args)]
pub struct MessagesArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Only messages sent by this id.
    #[arg(long)]
    pub from: Option<String>,
    /// Only messages to this id (one of the receivers).
    #[arg(long)]
    pub to: Option<String>,
    /// Only messages in this room (roomid).
    #[arg(long)]
    pub room: Option<String>,
    /// Only these msgtypes (comma-separated: text,image,…).
    #[arg(long = "type", value_delimiter = ',')]
    pub msg_types: Vec<String>,
    /// Only messages whose visible text contains this (the workspace's search).
    #[arg(long)]
    pub text: Option<String>,
    /// Match --text through the audit normaliser (私下轉賬 finds 私 下 转 账).
    #[arg(long)]
    pub normalised: bool,
    /// At most this many messages.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeadLetterCommands {
    /// List dead letters (pending ones unless --all).
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this corp.
        #[arg(long)]
        corp: Option<String>,
        /// Include resolved ones.
        #[arg(long)]
        all: bool,
        /// At most this many (by corp, then seq).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Decode pending dead letters again with the configured keys (after fixing the cause).
    Retry {
        /// The configuration (its corps' keys are used).
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Only this corp.
        #[arg(long)]
        corp: Option<String>,
    },
}

/// Shortens text for a table cell: one line, at most `max` characters.
fn cell(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        one_line
            .chars()
            .take(max.saturating_sub(1))
            .chain(['…'])
            .collect()
    }
}

pub fn messages(args: MessagesArgs) -> anyhow::Result<()> {
    use crate::store::{MessageCursor, SearchQuery, TextMatch};
    let store = args.store.open_existing()?;
    let (since_ms, until_ms) = args.range.bounds()?;
    let mut query = SearchQuery {
        corp_id: args.range.corp.clone(),
        text: args.text.clone().filter(|t| !t.is_empty()),
        text_match: if args.normalised {
            TextMatch::Normalised
        } else {
            TextMatch::Plain
        },
        from_id: args.from.clone(),
        to_id: args.to.clone(),
        room_id: args.room.clone(),
        msg_types: args.msg_types.clone(),
        since_ms,
        until_ms,
        limit: args.limit.min(1000),
        ..SearchQuery::default()
    };
    // Newest first, in pages, up to --limit.
    let mut found = Vec::new();
    while (found.len() as u32) < args.limit {
        query.limit = (args.limit - found.len() as u32).min(1000);
        let page = store.search(&query)?;
        let full = page.len() as u32 == query.limit;
        query.before = page.last().map(|m| MessageCursor {
            msg_time: m.row.msg_time,
            msg_id: m.row.msg_id.clone(),
        });
        found.extend(page);
        if !full {
            break;
        }
    }
    if args.json {
        for m in &found {
            println!("{}", serde_json::to_string(m)?);
        }
        return Ok(());
    }
    let names = super::Namer::new(
        store.as_ref(),
        found.iter().flat_map(|m| {
            let r = &m.row;
            [r.from_id.clone(), r.room_id.clone()]
                .into_iter()
                .chain(crate::store::split_list(&r.to_list))
                .map(|id| (r.corp_id.clone(), id))
        }),
    );
    println!(
        "{:<19}  {} {} {} {} text",
        "time",
        column("corp", 10),
        column("from", 24),
        column("to / room", 28),
        column("type", 8)
    );
    for m in &found {
        let r = &m.row;
        let to = if r.room_id.is_empty() {
            crate::store::split_list(&r.to_list)
                .iter()
                .map(|t| names.label(&r.corp_id, t))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            format!("群 {}", names.label(&r.corp_id, &r.room_id))
        };
        println!(
            "{:<19}  {} {} {} {} {}",
            format_ms(r.msg_time),
            column(&r.corp_id, 10),
            column(&names.label(&r.corp_id, &r.from_id), 24),
            column(&to, 28),
            column(crate::message::type_label(&r.msg_type), 8),
            cell(&r.plain_text, 60)
        );
    }
    eprintln!(
        "{}",
        super::listed(found.len(), args.limit, "message(s)", "newest first")
    );
    Ok(())
}

pub fn dead_letters(command: DeadLetterCommands) -> anyhow::Result<()> {
    match command {
        DeadLetterCommands::List {
            store,
            corp,
            all,
            limit,
            json,
        } => {
            let store = store.open_existing()?;
            if !json {
                println!(
                    "{:<10} {:<12} {:<20} {:<8} detail",
                    "corp", "seq", "reason", "state"
                );
            }
            let letters = store.dead_letters(&DeadLetterQuery {
                corp_id: corp,
                pending_only: !all,
                after: Default::default(),
                limit,
            })?;
            for d in &letters {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "corp_id": d.letter.corp_id, "seq": d.letter.seq, "msg_id": d.letter.msg_id,
                            "publickey_ver": d.letter.publickey_ver, "reason": d.letter.reason.as_str(),
                            "detail": d.letter.detail, "resolved": d.resolved, "attempts": d.attempts,
                        })
                    );
                } else {
                    println!(
                        "{:<10} seq {:<8} {:<20} {:<8} {}",
                        cell(&d.letter.corp_id, 10),
                        d.letter.seq,
                        d.letter.reason.as_str(),
                        if d.resolved { "resolved" } else { "pending" },
                        cell(&d.letter.detail, 80)
                    );
                }
            }
            if !json {
                let which = if all {
                    "by corp and seq"
                } else {
                    "pending, by corp and seq"
                };
                eprintln!(
                    "{}",
                    super::listed(letters.len(), limit, "dead letter(s)", which)
                );
                if !all && !letters.is_empty() {
                    eprintln!(
                        "`msgaudit status` counts them by reason; `msgaudit dead-letters retry --config FILE` re-drives them once the cause is fixed"
                    );
                }
            }
            Ok(())
        }
        DeadLetterCommands::Retry { config, corp } => {
            let config = Config::load(&config)?;
            crate::timefmt::set_display_zone(config.display_zone.clone());
            let store = crate::store::open_existing(&config.store_url)?;
            let corps = config.with_store_corps(&store.corp_accounts()?)?;
            if let Some(c) = &corp
                && !corps.iter().any(|x| &x.corp_id == c)
            {
                bail!("corp {c} is not in the configuration; its keys are needed to retry");
            }
            let lib = FinanceLibrary::load(&config.sdk.library)?;
            let corps: Vec<_> = corps.iter().map(|c| c.pull_source()).collect();
            let report = crate::reprocess::redrive(
                store.as_ref(),
                &lib.decryptor(),
                &corps,
                corp.as_deref(),
            )?;
            println!(
                "re-drove dead letters: {} stored, {} still dead, {} of unconfigured corps skipped",
                report.resolved, report.still_dead, report.skipped
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod column_tests {
    use super::super::column;

    #[test]
    fn columns_are_as_wide_as_asked_in_a_terminal() {
        assert_eq!(column("abc", 5), "abc  ");
        assert_eq!(column("张三 (zhangsan)", 10), "张三 (zha…");
        assert_eq!(column("张三", 6), "张三  ");
        assert_eq!(column("abcdefgh", 5), "abcd…");
    }
}
