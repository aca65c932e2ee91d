//! The archive browser on SQLite: the conversation tables and the full-text index the writer keeps
//! in each batch's transaction ([`index_messages`]), and the queries over them.
//!
//! Search uses the FTS5 trigram index over folded text when the folded keyword has three or more
//! characters (a plain search then checks the original text too); shorter keywords — most
//! two-character Chinese words — scan the messages newest first, which stops at the first page of
//! matches.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, Transaction, params};

use super::filter::Where;
use super::rows::{MESSAGE_COLUMNS, message_from};
use super::{SqliteStore, select, sql};
use crate::audit::normalize::fold;
use crate::message::{Conversation, MessageRow};
use crate::store::archive::{
    ArchiveStore, ConversationMessagesQuery, ConversationQuery, ConversationSummary, Page,
    SearchQuery, TextMatch, Visible,
};
use crate::store::{StoreError, StoredMessage};

/// The SQL function the search index is built with: a text's search terms.
pub(super) const TERMS_FUNCTION: &str = "msgaudit_search_terms";

/// What closes the last character's term (a private-use character: never in folded text).
const END: char = '\u{E000}';

/// The search terms of a text: its folded form as overlapping two-character terms, the last
/// character paired with [`END`] (`私下转账` → `私下 下转 转账 账\u{E000}`).
pub fn search_terms(text: &str) -> String {
    let chars: Vec<char> = fold(text).chars().collect();
    let mut out = String::with_capacity(chars.len() * 7);
    for (i, c) in chars.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(*c);
        out.push(chars.get(i + 1).copied().unwrap_or(END));
    }
    out
}

/// The FTS5 query for a keyword: the phrase of its terms (one character: a prefix query); None
/// when nothing is left after folding.
pub fn terms_query(keyword: &str) -> Option<String> {
    let chars: Vec<char> = fold(keyword).chars().collect();
    match chars.len() {
        0 => None,
        1 => Some(format!("\"{}\"*", chars[0])),
        _ => {
            let terms: Vec<String> = chars
                .windows(2)
                .map(|w| w.iter().collect::<String>())
                .collect();
            Some(format!("\"{}\"", terms.join(" ")))
        }
    }
}

/// Registers [`TERMS_FUNCTION`] on a connection (before migrating: the migration uses it).
pub(super) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        TERMS_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text = ctx.get_raw(0).as_str().unwrap_or_default();
            Ok(search_terms(text))
        },
    )
}

/// What one batch adds to one conversation.
struct Added<'a> {
    row: &'a MessageRow,
    count: i64,
    first: i64,
    last: i64,
}

/// Who-took-part lists already recorded by this process (hashes of corp, conversation and the
/// sender or receiver list), so a busy conversation costs no statement per batch. Cleared when
/// large; forgetting only costs an `INSERT OR IGNORE` again.
#[derive(Default)]
pub(super) struct KnownLists(std::sync::Mutex<std::collections::HashSet<u64>>);

impl KnownLists {
    const MAX: usize = 200_000;

    fn key(corp: &str, conversation: &str, list: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (corp, conversation, list).hash(&mut h);
        h.finish()
    }

    /// Keeps the lists not known yet, and marks them known (one lock for a whole batch).
    fn retain_new<'a>(
        &self,
        lists: impl IntoIterator<Item = &'a (&'a str, String, &'a str)>,
    ) -> Vec<&'a (&'a str, String, &'a str)> {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= Self::MAX {
            known.clear();
        }
        lists
            .into_iter()
            .filter(|(corp, key, list)| known.insert(Self::key(corp, key, list)))
            .collect()
    }

    /// Forgets everything (after a rolled-back transaction).
    pub(super) fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Keeps the conversation tables and the search index for messages just inserted (`inserted`:
/// each row with its new rowid), in the caller's transaction.
pub(super) fn index_messages(
    tx: &Transaction<'_>,
    inserted: &[(i64, &MessageRow)],
    known: &KnownLists,
) -> Result<(), StoreError> {
    if inserted.is_empty() {
        return Ok(());
    }
    let mut search = tx
        .prepare_cached("INSERT INTO we_chat_msg_search (rowid, terms) VALUES (?1, ?2)")
        .map_err(sql("preparing the search index insert"))?;
    let mut conversations: BTreeMap<(&str, String), Added<'_>> = BTreeMap::new();
    let mut lists: BTreeSet<(&str, String, &str)> = BTreeSet::new();
    for &(id, r) in inserted {
        if !r.plain_text.is_empty() {
            search
                .execute(params![id, search_terms(&r.plain_text)])
                .map_err(sql("indexing a message for search"))?;
        }
        let Some(key) = r.conversation().map(|c| c.key()) else {
            continue;
        };
        lists.insert((&r.corp_id, key.clone(), &r.from_id));
        lists.insert((&r.corp_id, key.clone(), &r.to_list));
        let added = conversations.entry((&r.corp_id, key)).or_insert(Added {
            row: r,
            count: 0,
            first: r.msg_time,
            last: r.msg_time,
        });
        added.count += 1;
        added.first = added.first.min(r.msg_time);
        added.last = added.last.max(r.msg_time);
    }
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO we_chat_conversation
             (corp_id, conversation, room_id, peer_a, peer_b, msg_count, first_msg_time, last_msg_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (corp_id, conversation) DO UPDATE SET
                 msg_count = msg_count + excluded.msg_count,
                 first_msg_time = MIN(first_msg_time, excluded.first_msg_time),
                 last_msg_time = MAX(last_msg_time, excluded.last_msg_time)",
        )
        .map_err(sql("preparing the conversation upsert"))?;
    for ((corp, key), a) in &conversations {
        let (room, peer_a, peer_b) = match a.row.conversation() {
            Some(Conversation::Room(room)) => (room, String::new(), String::new()),
            Some(Conversation::Pair(x, y)) => (String::new(), x, y),
            None => continue,
        };
        upsert
            .execute(params![
                corp, key, room, peer_a, peer_b, a.count, a.first, a.last
            ])
            .map_err(sql("counting a conversation's messages"))?;
    }
    let mut member = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO we_chat_conversation_member (corp_id, member_id, conversation)
             VALUES (?1, ?2, ?3)",
        )
        .map_err(sql("preparing the conversation member insert"))?;
    let people: BTreeSet<(&str, &str, &str)> = known
        .retain_new(&lists)
        .into_iter()
        .flat_map(|(corp, key, list)| {
            list.split(',')
                .filter(|id| !id.is_empty())
                .map(move |id| (*corp, id, key.as_str()))
        })
        .collect();
    for (corp, id, key) in people {
        member
            .execute(params![corp, id, key])
            .map_err(sql("recording who took part in a conversation"))?;
    }
    Ok(())
}

/// The conversation columns, in the order [`summary_from`] reads them.
const CONVERSATION_COLUMNS: &str =
    "c.corp_id, c.conversation, c.msg_count, c.first_msg_time, c.last_msg_time";

fn summary_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<ConversationSummary>> {
    let key: String = row.get(1)?;
    Ok(
        Conversation::parse(&key).map(|conversation| ConversationSummary {
            corp_id: row.get(0).unwrap_or_default(),
            conversation,
            msg_count: row.get::<_, i64>(2).unwrap_or(0).max(0) as u64,
            first_msg_time: row.get(3).unwrap_or(0),
            last_msg_time: row.get(4).unwrap_or(0),
        }),
    )
}

/// The visible ids as one JSON array parameter.
fn visible_json(ids: &[String]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

/// ` AND` the conversation `{conv}` (an SQL expression) of corp `{corp}` has one of the visible
/// members, when visibility is limited.
fn and_visible(w: &mut Where, visible: &Visible, corp: &str, conv: &str, from: Option<&str>) {
    if let Some(ids) = visible {
        let by_sender = from
            .map(|f| format!("{f} IN (SELECT value FROM json_each(?)) OR "))
            .unwrap_or_default();
        let json = visible_json(ids);
        let mut values = vec![];
        if from.is_some() {
            values.push(json.clone().into());
        }
        values.push(json.into());
        w.and_all(
            &format!(
                "({by_sender}EXISTS (SELECT 1 FROM we_chat_conversation_member v
                   WHERE v.member_id IN (SELECT value FROM json_each(?))
                     AND v.corp_id = {corp} AND v.conversation = {conv}))"
            ),
            values,
        );
    }
}

impl ArchiveStore for SqliteStore {
    fn conversations(&self, q: &ConversationQuery) -> Result<Vec<ConversationSummary>, StoreError> {
        let mut w = conversation_where(q, CONVERSATION_COLUMNS);
        if let Some((last, corp, key)) = &q.after {
            w.and_all(
                "(c.last_msg_time, c.corp_id, c.conversation) < (?, ?, ?)",
                vec![(*last).into(), corp.clone().into(), key.clone().into()],
            );
        }
        w.sql.push_str(&format!(
            " ORDER BY c.last_msg_time DESC, c.corp_id DESC, c.conversation DESC LIMIT {}",
            q.limit.max(1)
        ));
        let conn = self.conn();
        Ok(w.fetch(&conn, "listing conversations", summary_from)?
            .into_iter()
            .flatten()
            .collect())
    }

    fn count_conversations(&self, q: &ConversationQuery, cap: u64) -> Result<u64, StoreError> {
        let mut w = conversation_where(q, "1");
        w.sql.push_str(&format!(" LIMIT {cap}"));
        w.sql = format!("SELECT COUNT(*) FROM ({})", w.sql);
        count(&self.conn(), w, "counting conversations")
    }

    fn count_search(&self, q: &SearchQuery, cap: u64) -> Result<u64, StoreError> {
        let conn = self.conn();
        let keyword = q.text.as_deref().unwrap_or_default();
        let q = SearchQuery {
            before: None,
            ..q.clone()
        };
        let mut w = search_where(&q, keyword, "1");
        if let Some(fts) = terms_query(keyword) {
            w.and_opt(
                "m.id IN (SELECT rowid FROM we_chat_msg_search WHERE we_chat_msg_search MATCH ?)",
                Some(fts),
            );
        }
        w.sql.push_str(&format!(" LIMIT {cap}"));
        w.sql = format!("SELECT COUNT(*) FROM ({})", w.sql);
        count(&conn, w, "counting search results")
    }

    fn conversation(
        &self,
        corp_id: &str,
        conversation: &Conversation,
        visible: &Visible,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let mut w = Where::new(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM we_chat_conversation c WHERE 1"
        ));
        w.and_opt("c.corp_id = ?", Some(corp_id.to_owned()));
        w.and_opt("c.conversation = ?", Some(conversation.key()));
        and_visible(&mut w, visible, "c.corp_id", "c.conversation", None);
        let conn = self.conn();
        Ok(w.fetch(&conn, "reading a conversation", summary_from)?
            .into_iter()
            .flatten()
            .next())
    }

    fn conversation_messages(
        &self,
        q: &ConversationMessagesQuery,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        // A group through the room index; two people through the sender index, each way, merged.
        let sides: Vec<(&str, String, String)> = match &q.conversation {
            Conversation::Room(room) => vec![("room_id = ?", room.clone(), String::new())],
            Conversation::Pair(a, b) => vec![
                (
                    "room_id = '' AND from_id = ? AND to_list = ?",
                    a.clone(),
                    b.clone(),
                ),
                (
                    "room_id = '' AND from_id = ? AND to_list = ?",
                    b.clone(),
                    a.clone(),
                ),
            ],
        };
        let (op, ascending, cursor) = match &q.page {
            Page::Newest => ("", false, None),
            Page::Before(c) => ("<", false, Some(c)),
            Page::AtOrBefore(c) => ("<=", false, Some(c)),
            Page::After(c) => (">", true, Some(c)),
        };
        let order = if ascending { "ASC" } else { "DESC" };
        let conn = self.conn();
        let mut rows = Vec::new();
        for (clause, x, y) in sides {
            let mut w = Where::new(format!(
                "SELECT {MESSAGE_COLUMNS} FROM we_chat_contact_msg WHERE del_flg = 0"
            ));
            w.and_opt("corp_id = ?", Some(q.corp_id.clone()));
            let mut values: Vec<rusqlite::types::Value> = vec![x.into()];
            if clause.matches('?').count() == 2 {
                values.push(y.into());
            }
            w.and_all(clause, values);
            if let Some(c) = cursor {
                w.and_all(
                    &format!("(msg_time, msg_id) {op} (?, ?)"),
                    vec![c.msg_time.into(), c.msg_id.clone().into()],
                );
            }
            w.sql.push_str(&format!(
                " ORDER BY msg_time {order}, msg_id {order} LIMIT {}",
                q.limit.max(1)
            ));
            rows.extend(w.fetch(&conn, "reading a conversation", message_from)?);
        }
        rows.sort_by(|a, b| (a.row.msg_time, &a.row.msg_id).cmp(&(b.row.msg_time, &b.row.msg_id)));
        let n = q.limit.max(1) as usize;
        if ascending {
            rows.truncate(n);
        } else {
            let extra = rows.len().saturating_sub(n);
            rows.drain(..extra);
        }
        Ok(rows)
    }

    fn message(
        &self,
        corp_id: &str,
        msg_id: &str,
        visible: &Visible,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let mut w = Where::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM we_chat_contact_msg m WHERE del_flg = 0"
        ));
        w.and_opt("m.corp_id = ?", Some(corp_id.to_owned()));
        w.and_opt("m.msg_id = ?", Some(msg_id.to_owned()));
        and_visible(
            &mut w,
            visible,
            "m.corp_id",
            "m.conversation",
            Some("m.from_id"),
        );
        let conn = self.conn();
        Ok(w.fetch(&conn, "reading a message", message_from)?
            .into_iter()
            .next())
    }

    fn search(&self, q: &SearchQuery) -> Result<Vec<StoredMessage>, StoreError> {
        let conn = self.conn();
        let keyword = q.text.as_deref().filter(|t| !t.is_empty());
        let Some(keyword) = keyword else {
            return by_time(&conn, q, None);
        };
        let Some(fts) = terms_query(keyword) else {
            // Nothing left after folding (punctuation only): a plain scan, newest first.
            return by_time(&conn, q, None);
        };
        // Few matches: read them all and sort. Many: walk the messages newest first and stop at
        // a page of matches (the index tells which rows match).
        let ids: Vec<i64> = select(
            &conn,
            &format!(
                "SELECT rowid FROM we_chat_msg_search WHERE we_chat_msg_search MATCH ?1 LIMIT {}",
                FEW + 1
            ),
            [&fts],
            "searching the index",
            |r| r.get(0),
        )?;
        if ids.len() <= FEW {
            let mut w = search_where(q, keyword, MESSAGE_COLUMNS);
            w.and_opt(
                "m.id IN (SELECT value FROM json_each(?))",
                Some(serde_json::Value::from(ids).to_string()),
            );
            order_and_limit(&mut w, q);
            w.fetch(&conn, "searching messages", message_from)
        } else {
            by_time(&conn, q, Some(&fts))
        }
    }
}

/// The conversations a listing finds, selecting `columns` (no cursor, order or limit).
fn conversation_where(q: &ConversationQuery, columns: &str) -> Where {
    let mut w = Where::new(format!(
        "SELECT {columns} FROM we_chat_conversation c WHERE 1"
    ));
    w.and_opt("c.corp_id = ?", q.corp_id.clone());
    w.and_opt(
        "c.conversation IN (SELECT m.conversation FROM we_chat_conversation_member m
           WHERE m.member_id = ? AND m.corp_id = c.corp_id)",
        q.member.clone(),
    );
    w.and_opt(
        "c.conversation = ?",
        q.room.as_ref().map(|r| Conversation::Room(r.clone()).key()),
    );
    and_visible(&mut w, &q.visible, "c.corp_id", "c.conversation", None);
    w
}

/// The one number a `SELECT COUNT(*)` answers.
fn count(conn: &Connection, w: Where, what: &'static str) -> Result<u64, StoreError> {
    let n: Vec<i64> = w.fetch(conn, what, |r| r.get(0))?;
    Ok(n.first().copied().unwrap_or(0).max(0) as u64)
}

/// Matches up to this many are read and sorted; beyond, the search walks by time.
const FEW: usize = 4000;

/// The filters of a search (all but its index lookup), selecting `columns`.
fn search_where(q: &SearchQuery, keyword: &str, columns: &str) -> Where {
    let mut w = Where::new(format!(
        "SELECT {columns} FROM we_chat_contact_msg m WHERE m.del_flg = 0"
    ));
    if !keyword.is_empty() && q.text_match == TextMatch::Plain {
        w.and_opt("instr(m.plain_text, ?) > 0", Some(keyword.to_owned()));
    }
    w.and_opt("m.corp_id = ?", q.corp_id.clone());
    w.and_opt("m.from_id = ?", q.from_id.clone());
    if let Some(to) = &q.to_id {
        w.and_all(
            "(m.to_list = ? OR instr(',' || m.to_list || ',', ',' || ? || ',') > 0)",
            vec![to.clone().into(), to.clone().into()],
        );
    }
    w.and_opt("m.room_id = ?", q.room_id.clone());
    if !q.msg_types.is_empty() {
        w.and_opt(
            "m.msg_type IN (SELECT value FROM json_each(?))",
            Some(serde_json::Value::from(q.msg_types.clone()).to_string()),
        );
    }
    w.and_opt("m.msg_time >= ?", q.since_ms);
    w.and_opt("m.msg_time < ?", q.until_ms);
    and_visible(
        &mut w,
        &q.visible,
        "m.corp_id",
        "m.conversation",
        Some("m.from_id"),
    );
    if let Some(c) = &q.before {
        w.and_all(
            "(m.msg_time, m.msg_id) < (?, ?)",
            vec![c.msg_time.into(), c.msg_id.clone().into()],
        );
    }
    w
}

fn order_and_limit(w: &mut Where, q: &SearchQuery) {
    w.sql.push_str(&format!(
        " ORDER BY m.msg_time DESC, m.msg_id DESC LIMIT {}",
        q.limit.max(1)
    ));
}

/// A search walked newest first through each corp's time-ordered key (one corp at a time, so the
/// walk stops at a page of matches), the index (`fts`) filtering when given.
fn by_time(
    conn: &Connection,
    q: &SearchQuery,
    fts: Option<&str>,
) -> Result<Vec<StoredMessage>, StoreError> {
    let corps: Vec<String> = match &q.corp_id {
        Some(c) => vec![c.clone()],
        None => select(
            conn,
            "SELECT corp_id FROM we_chat_msg_checkpoint ORDER BY corp_id",
            [],
            "listing corps",
            |r| r.get(0),
        )?,
    };
    let keyword = q.text.as_deref().unwrap_or_default();
    let mut found = Vec::new();
    for corp in corps {
        let mut w = search_where(
            &SearchQuery {
                corp_id: Some(corp),
                ..q.clone()
            },
            keyword,
            MESSAGE_COLUMNS,
        );
        w.and_opt(
            "m.id IN (SELECT rowid FROM we_chat_msg_search WHERE we_chat_msg_search MATCH ?)",
            fts.map(str::to_owned),
        );
        order_and_limit(&mut w, q);
        found.extend(w.fetch(conn, "searching messages", message_from)?);
    }
    found.sort_by(|a, b| (b.row.msg_time, &b.row.msg_id).cmp(&(a.row.msg_time, &a.row.msg_id)));
    found.truncate(q.limit.max(1) as usize);
    Ok(found)
}

/// The stored conversation key of a message row (empty when it has none).
pub(super) fn conversation_key(r: &MessageRow) -> String {
    r.conversation().map(|c| c.key()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::migrate::{migrate_sqlite, migrated_to};
    use crate::store::{IngestStore, StoreBatch};

    fn row(seq: u64, from: &str, to: &str, room: &str, text: &str) -> MessageRow {
        MessageRow {
            corp_id: "ww1".into(),
            msg_id: format!("m{seq}"),
            seq,
            from_id: from.into(),
            to_list: to.into(),
            room_id: room.into(),
            action: "send".into(),
            msg_type: "text".into(),
            msg_time: 1_000 * seq as i64,
            plain_text: text.into(),
            ..MessageRow::default()
        }
    }

    fn rows() -> Vec<MessageRow> {
        vec![
            row(1, "zhangsan", "wmC", "", "私下轉賬"),
            row(2, "wmC", "zhangsan", "", "好的"),
            row(3, "lisi", "zhangsan,wmC,wangwu", "wrR", "群里 转账"),
            row(4, "zhangsan", "lisi,wangwu", "", "no conversation"),
            row(5, "lisi", "zhangsan", "", ""),
        ]
    }

    /// What the archive tables hold, in a comparable form.
    fn snapshot(conn: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        for (table, order) in [
            ("we_chat_conversation", "corp_id, conversation"),
            (
                "we_chat_conversation_member",
                "member_id, corp_id, conversation",
            ),
        ] {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
                .expect("select");
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            r.get::<_, rusqlite::types::Value>(i)
                                .map(|v| format!("{v:?}"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .expect("rows");
            for r in rows {
                out.push(format!("{table}: {}", r.expect("row").join(" ")));
            }
        }
        let mut stmt = conn
            .prepare(
                "SELECT msg_id, conversation FROM we_chat_contact_msg
                 WHERE id IN (SELECT rowid FROM we_chat_msg_search WHERE we_chat_msg_search MATCH '\"转账\"')
                    OR conversation <> '' ORDER BY msg_id",
            )
            .expect("select");
        let found = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{}={}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?
                ))
            })
            .expect("rows");
        out.extend(found.map(|r| r.expect("row")));
        let mut stmt = conn
            .prepare(
                "SELECT m.msg_id FROM we_chat_contact_msg m
                 WHERE m.id IN (SELECT rowid FROM we_chat_msg_search WHERE we_chat_msg_search MATCH '\"下转 转账\"')",
            )
            .expect("select");
        let found = stmt.query_map([], |r| r.get::<_, String>(0)).expect("rows");
        out.extend(found.map(|r| format!("search: {}", r.expect("row"))));
        out
    }

    #[test]
    fn terms_make_every_keyword_a_phrase() {
        assert_eq!(search_terms("私下 轉賬"), "私下 下转 转账 账\u{e000}");
        assert_eq!(search_terms("A"), "a\u{e000}");
        assert_eq!(search_terms("…"), "");
        assert_eq!(
            terms_query("私下轉賬").as_deref(),
            Some("\"私下 下转 转账\"")
        );
        assert_eq!(terms_query("转账").as_deref(), Some("\"转账\""));
        assert_eq!(terms_query("转").as_deref(), Some("\"转\"*"));
        assert_eq!(terms_query("\"\"").as_deref(), None);
    }

    #[test]
    fn upgrading_an_existing_store_fills_in_what_the_writer_keeps() {
        // Through the writer.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("t.db")).expect("open");
        store
            .store_batch(&StoreBatch {
                corp_id: "ww1".into(),
                messages: rows(),
                checkpoint: 5,
                ..StoreBatch::default()
            })
            .expect("store");
        let written = snapshot(&store.conn());

        // Stored before the migration, then upgraded.
        let mut conn = migrated_to(6);
        for r in rows() {
            conn.execute(
                "INSERT INTO we_chat_contact_msg (corp_id, msg_id, seq, from_id, to_list, room_id,
                 action, msg_type, msg_time, plain_text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    r.corp_id, r.msg_id, r.seq as i64, r.from_id, r.to_list, r.room_id, r.action,
                    r.msg_type, r.msg_time, r.plain_text
                ],
            )
            .expect("old row");
        }
        migrate_sqlite(&mut conn).expect("upgrade");
        let upgraded = snapshot(&conn);
        assert_eq!(upgraded, written);
        assert!(written.iter().any(|l| l == "search: m1"), "{written:#?}");
        assert!(
            !written.iter().any(|l| l.starts_with("m4")),
            "no conversation: {written:#?}"
        );
        assert_eq!(
            written
                .iter()
                .filter(|l| l.starts_with("we_chat_conversation_member"))
                .count(),
            // m1/m2: zhangsan, wmC; m3: lisi, zhangsan, wmC, wangwu; m5: lisi, zhangsan.
            2 + 4 + 2
        );
    }
}
