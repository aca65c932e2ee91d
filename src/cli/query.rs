//! `msgaudit messages` and `msgaudit dead-letters`: reading the store, as a table or JSON, and
//! re-driving dead letters.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};

use super::{RangeArgs, StoreArgs};
use crate::config::Config;
use crate::sdk::FinanceLibrary;
use crate::store::{DeadLetterQuery, MessageQuery};
use crate::timefmt::format_ms;

#[derive(Debug, Args)]
pub struct MessagesArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Only messages sent by this userid.
    #[arg(long)]
    pub from: Option<String>,
    /// Only messages in this room (roomid).
    #[arg(long)]
    pub room: Option<String>,
    /// Only messages whose visible text contains this.
    #[arg(long)]
    pub text: Option<String>,
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
        #[arg(long)]
        corp: Option<String>,
        /// Include resolved ones.
        #[arg(long)]
        all: bool,
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
    let store = crate::store::open(&args.store.url()?)?;
    let query = MessageQuery {
        from_id: args.from.clone(),
        room_id: args.room.clone(),
        text: args.text.clone(),
        limit: args.limit,
        ..args.range.messages()?
    };
    let found = store.messages(&query)?;
    if args.json {
        for m in &found {
            println!("{}", serde_json::to_string(m)?);
        }
        return Ok(());
    }
    println!(
        "{:<19}  {:<10} {:<18} {:<24} {:<10} text",
        "time", "corp", "from", "to / room", "type"
    );
    for m in &found {
        let r = &m.row;
        let to = if r.room_id.is_empty() {
            r.to_list.as_str()
        } else {
            r.room_id.as_str()
        };
        println!(
            "{:<19}  {:<10} {:<18} {:<24} {:<10} {}",
            format_ms(r.msg_time),
            cell(&r.corp_id, 10),
            cell(&r.from_id, 18),
            cell(to, 24),
            cell(&r.msg_type, 10),
            cell(&r.plain_text, 60)
        );
    }
    eprintln!("{} message(s)", found.len());
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
            let store = crate::store::open(&store.url()?)?;
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
                eprintln!("{} dead letter(s)", letters.len());
            }
            Ok(())
        }
        DeadLetterCommands::Retry { config, corp } => {
            let config = Config::load(&config)?;
            crate::timefmt::set_display_zone(config.display_zone.clone());
            let store = crate::store::open(&config.store_url)?;
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
