//! `msgaudit names TEXT`: people and groups found by name, with the ids that `hits`, `messages`
//! and the workspace's filters take (members from the organisation the rules hold, customers and
//! groups from the names directory).

use clap::Args;

use super::{StoreArgs, column};
use crate::store::{DirectoryId, FoundName};

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Part of a name (any case) or of an id: `王`, `华东`, `zhang`, `wrOg`.
    pub text: String,
    /// Only customers and groups of this corp (members belong to every corp).
    #[arg(long)]
    pub corp: Option<String>,
    /// At most this many of each kind (members, customers, groups).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// One JSON object a line (`kind`, `id`, `name`, `corp_id`) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One row found: its kind (`member`, `customer`, `group`), id, name and corp ("" for members).
struct Found {
    kind: &'static str,
    id: String,
    name: String,
    corp_id: String,
}

impl From<FoundName> for Found {
    fn from(f: FoundName) -> Found {
        let (kind, id) = match f.id {
            DirectoryId::Customer(id) => ("customer", id),
            DirectoryId::Group(id) => ("group", id),
        };
        Found {
            kind,
            id,
            name: f.name,
            corp_id: f.corp_id,
        }
    }
}

pub fn run(args: NamesArgs) -> anyhow::Result<()> {
    let text = args.text.trim();
    if text.is_empty() {
        anyhow::bail!("give part of a name or an id to look for, e.g. `msgaudit names 华东`");
    }
    let store = args.store.open_existing()?;
    let limit = args.limit.max(1);
    let lower = text.to_lowercase();
    let mut found: Vec<Found> = store
        .load_rules()?
        .members
        .into_iter()
        .filter(|m| m.userid.contains(text) || m.name.to_lowercase().contains(&lower))
        .take(limit as usize)
        .map(|m| Found {
            kind: "member",
            id: m.userid,
            name: m.name,
            corp_id: String::new(),
        })
        .collect();
    found.extend(
        store
            .find_names(args.corp.as_deref(), text, limit)?
            .into_iter()
            .map(Found::from),
    );
    if args.json {
        for f in &found {
            println!(
                "{}",
                serde_json::json!({"kind": f.kind, "id": f.id, "name": f.name, "corp_id": f.corp_id})
            );
        }
        return Ok(());
    }
    if found.is_empty() {
        println!(
            "nobody and no group named like `{text}`: members come from the rules \
             (`msgaudit rules import`), customers' and groups' names from WeCom once the daemon \
             has fetched them ([names])"
        );
        return Ok(());
    }
    println!(
        "{}  {}  {}  corp",
        column("kind", 8),
        column("id", 34),
        column("name", 24)
    );
    for f in &found {
        println!(
            "{}  {}  {}  {}",
            column(f.kind, 8),
            column(&f.id, 34),
            column(&f.name, 24),
            f.corp_id
        );
    }
    println!(
        "{} found; an id goes in `msgaudit hits --from ID` or `--room ID`, `messages --from`, \
         `--to` or `--room`, and the workspace's filters",
        found.len()
    );
    Ok(())
}
