//! The archive browser on ClickHouse: conversations from their summaries (`we_chat_conversation`
//! and `we_chat_conversation_people`, kept by materialized views over the messages with the
//! conversation rule as an SQL expression, [`CONVERSATION`]), a conversation's messages by its
//! room or its two people, and search as a scan over the time-partitioned messages — a normalised
//! search through the folded text the writer keeps beside each message (`we_chat_msg_folded`).

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::filter::{Filter, Value, ms, s};
use super::rows::MsgRow;
use super::window::{self, Towards};
use super::{ClickHouseStore, Connection};
use crate::audit::normalize::fold;
use crate::message::{Conversation, MessageRow};
use crate::store::archive::{
    ArchiveStore, ConversationMessagesQuery, ConversationQuery, ConversationSummary, MessageCursor,
    Page, SearchQuery, TextMatch, Visible,
};
use crate::store::{StoreError, StoredMessage};

/// `message::Conversation::key` as an SQL expression over a message row: `r:ROOM`, `p:A|B` (ids
/// ascending), or empty. The migrations' `$CONVERSATION`.
pub(super) const CONVERSATION: &str = "if(room_id != '', concat('r:', room_id), \
     if(from_id != '' AND to_list != '' AND position(to_list, ',') = 0, \
        if(from_id <= to_list, concat('p:', from_id, '|', to_list), concat('p:', to_list, '|', from_id)), ''))";

/// `we_chat_msg_folded`: a message's folded text, for normalised search.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(super) struct FoldedRow {
    corp_id: String,
    msg_time: u64,
    msg_id: String,
    folded_text: String,
}

/// Writes the folded text of messages about to be stored (before them: a stored message always
/// has its folded row; a replay's second copy collapses at merge and reads the same).
pub(super) fn insert_folded(conn: &Connection, rows: &[MsgRow<'_>]) -> Result<(), StoreError> {
    let folded: Vec<FoldedRow> = rows
        .iter()
        .filter(|r| !r.plain_text.is_empty())
        .map(|r| FoldedRow {
            corp_id: r.corp_id.to_owned(),
            msg_time: r.msg_time,
            msg_id: r.msg_id.to_owned(),
            folded_text: fold(r.plain_text),
        })
        .collect();
    conn.insert(
        "indexing messages for search",
        "we_chat_msg_folded",
        &folded,
    )
}

#[derive(Debug, Clone, Row, Deserialize)]
struct StoredText {
    corp_id: String,
    msg_time: u64,
    msg_id: String,
    plain_text: String,
}

/// Gives the messages stored before the archive migration their folded text, 10,000 at a time in
/// key order (an upgrade of a large store takes a while; progress is logged).
pub(super) fn fold_stored_messages(conn: &Connection) -> Result<(), StoreError> {
    let mut after = (String::new(), 0u64, String::new());
    let mut done = 0u64;
    loop {
        let q = conn
            .query(
                "SELECT corp_id, msg_time, msg_id, plain_text FROM we_chat_contact_msg \
                 WHERE plain_text != '' AND (corp_id, msg_time, msg_id) > (?, ?, ?) \
                 ORDER BY corp_id, msg_time, msg_id LIMIT 10000",
            )
            .bind(after.0.as_str())
            .bind(after.1)
            .bind(after.2.as_str());
        let page: Vec<StoredText> = conn.fetch("reading messages to fold", q)?;
        let Some(last) = page.last() else {
            if done > 0 {
                tracing::info!(messages = done, "search: every stored message folded");
            }
            return Ok(());
        };
        after = (last.corp_id.clone(), last.msg_time, last.msg_id.clone());
        let folded: Vec<FoldedRow> = page
            .iter()
            .map(|m| FoldedRow {
                corp_id: m.corp_id.clone(),
                msg_time: m.msg_time,
                msg_id: m.msg_id.clone(),
                folded_text: fold(&m.plain_text),
            })
            .collect();
        conn.insert("folding stored messages", "we_chat_msg_folded", &folded)?;
        done += folded.len() as u64;
        if done % 100_000 < 10_000 {
            tracing::info!(
                messages = done,
                "search: folding the messages stored before the upgrade"
            );
        }
    }
}

/// Summarises the conversations of every message stored (each message once, whatever copies are
/// not merged away yet) into the emptied `we_chat_conversation`: the upgrade to the summaries.
pub(super) fn summarise_stored_conversations(conn: &Connection) -> Result<(), StoreError> {
    tracing::info!("archive: summarising the conversations of the messages already stored");
    conn.execute(
        "summarising the stored conversations",
        &format!(
            "INSERT INTO we_chat_conversation \
             SELECT corp_id, {CONVERSATION} AS conversation, countState() AS msg_count_state, \
                    minState(msg_time) AS first_msg_time_state, maxState(msg_time) AS last_msg_time_state \
             FROM we_chat_contact_msg FINAL WHERE del_flg = 0 AND conversation != '' \
             GROUP BY corp_id, conversation"
        ),
    )
}

#[derive(Debug, Clone, Row, Deserialize)]
struct ConversationRow {
    corp_id: String,
    conversation: String,
    msg_count: u64,
    first_msg_time: u64,
    last_msg_time: u64,
}

impl ConversationRow {
    fn summary(self) -> Option<ConversationSummary> {
        Some(ConversationSummary {
            conversation: Conversation::parse(&self.conversation)?,
            corp_id: self.corp_id,
            msg_count: self.msg_count,
            first_msg_time: i64::try_from(self.first_msg_time).unwrap_or(i64::MAX),
            last_msg_time: i64::try_from(self.last_msg_time).unwrap_or(i64::MAX),
        })
    }
}

/// `GLOBAL IN` the (corp, conversation) pairs that any of the bound ids took part in (sent or
/// received).
const TAKEN_PART: &str = "GLOBAL IN (SELECT corp_id, conversation \
     FROM we_chat_conversation_people WHERE hasAny(splitByChar(',', people), ?))";

/// Groups the summaries' rows by conversation, merging their states (after the `WHERE`).
const GROUP_SUMMARIES: &str = " GROUP BY corp_id, conversation HAVING msg_count > 0";

/// The rows a visibility limit is checked on.
#[derive(Clone, Copy)]
enum Rows {
    /// Messages: visible when a visible member sent it or took part in its conversation.
    Messages,
    /// Conversation summaries: visible when a visible member took part.
    Conversations,
}

/// ` AND` the row is visible, when visibility is limited ([`Rows`]). Who took part in a
/// conversation comes from `we_chat_conversation_people`, `GLOBAL IN`: on a cluster both tables
/// are `Distributed`, and a plain `IN` over two of them is refused.
fn and_visible(f: &mut Filter, visible: &Visible, rows: Rows) {
    let Some(ids) = visible else {
        return;
    };
    if ids.is_empty() {
        // An empty array literal has no element type on 18.16: nothing is visible.
        f.push(" AND 0", []);
        return;
    }
    let ids = Value::Strs(ids.clone());
    match rows {
        Rows::Messages => f.push(
            &format!(
                " AND (from_id IN (SELECT arrayJoin(?)) OR (corp_id, {CONVERSATION}) {TAKEN_PART})"
            ),
            [ids.clone(), ids],
        ),
        Rows::Conversations => f.push(&format!(" AND (corp_id, conversation) {TAKEN_PART}"), [ids]),
    };
}

/// ` AND` the row belongs to `c`.
fn and_conversation(f: &mut Filter, c: &Conversation) {
    match c {
        Conversation::Room(room) => {
            f.push(" AND room_id = ?", [Value::Str(room.clone())]);
        }
        Conversation::Pair(a, b) => {
            f.push(
                " AND room_id = '' AND ((from_id = ? AND to_list = ?) OR (from_id = ? AND to_list = ?))",
                [a, b, b, a].map(|v| Value::Str(v.clone())),
            );
        }
    }
}

fn cursor_ms(c: &MessageCursor) -> u64 {
    c.msg_time.max(0) as u64
}

fn cursor_values(c: &MessageCursor) -> [Value; 2] {
    [Value::U64(cursor_ms(c)), Value::Str(c.msg_id.clone())]
}

/// Rows read back, without a second copy of any message (should one not be merged away yet).
fn distinct(rows: Vec<MessageRow>) -> Vec<StoredMessage> {
    let mut seen = std::collections::HashSet::new();
    rows.into_iter()
        .filter(|r| seen.insert((r.corp_id.clone(), r.msg_id.clone())))
        .map(|row| StoredMessage { row })
        .collect()
}

impl ClickHouseStore {
    fn summaries(
        &self,
        context: &'static str,
        f: &Filter,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let rows: Vec<ConversationRow> =
            self.conn.fetch(context, f.bind(self.conn.query(&f.sql)))?;
        Ok(rows
            .into_iter()
            .filter_map(ConversationRow::summary)
            .collect())
    }

    fn messages_where(
        &self,
        context: &'static str,
        f: &Filter,
    ) -> Result<Vec<MessageRow>, StoreError> {
        self.conn
            .fetch_map::<MsgRow<'static>, _>(context, f.bind(self.conn.query(&f.sql)), |r| {
                r.to_message()
            })
    }
}

/// The filters of a search, selecting `columns` (no cursor, order or limit).
fn search_filter(q: &SearchQuery, columns: &str) -> Filter {
    let mut f = Filter::new(format!(
        "SELECT {columns} FROM we_chat_contact_msg WHERE del_flg = 0"
    ));
    f.and_opt("corp_id = ?", s(&q.corp_id))
        .and_opt("msg_time >= ?", ms(q.since_ms))
        .and_opt("msg_time < ?", ms(q.until_ms))
        .and_opt("from_id = ?", s(&q.from_id))
        .and_opt("room_id = ?", s(&q.room_id))
        .and_opt("has(splitByChar(',', to_list), ?)", s(&q.to_id));
    if !q.msg_types.is_empty() {
        f.and_opt(
            "msg_type IN (SELECT arrayJoin(?))",
            Some(Value::Strs(q.msg_types.clone())),
        );
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        match q.text_match {
            TextMatch::Plain => {
                f.and_opt("position(plain_text, ?) > 0", Some(Value::Str(text.into())));
            }
            TextMatch::Normalised => {
                let mut inner = Filter::new(
                    "(corp_id, msg_id) GLOBAL IN (SELECT corp_id, msg_id FROM we_chat_msg_folded \
                     WHERE position(folded_text, ?) > 0",
                );
                let folded = Value::Str(fold(text));
                let mut values = vec![folded];
                for (clause, v) in [
                    (" AND corp_id = ?", s(&q.corp_id)),
                    (" AND msg_time >= ?", ms(q.since_ms)),
                    (" AND msg_time < ?", ms(q.until_ms)),
                ] {
                    if let Some(v) = v {
                        inner.sql.push_str(clause);
                        values.push(v);
                    }
                }
                inner.sql.push(')');
                f.push(&format!(" AND {}", inner.sql), values);
            }
        }
    }
    and_visible(&mut f, &q.visible, Rows::Messages);
    f
}

/// A conversation listing's grouped query (no cursor, order or limit).
fn conversation_filter(q: &ConversationQuery) -> Filter {
    let mut f = conversation_select();
    f.and_opt("corp_id = ?", s(&q.corp_id));
    f.and_opt("conversation = concat('r:', ?)", s(&q.room));
    if let Some(member) = &q.member {
        f.push(
            &format!(" AND (corp_id, conversation) {TAKEN_PART}"),
            [Value::Strs(vec![member.clone()])],
        );
    }
    and_visible(&mut f, &q.visible, Rows::Conversations);
    f.push(GROUP_SUMMARIES, []);
    f
}

/// The start of a conversation listing: the summaries, their parts merged.
fn conversation_select() -> Filter {
    Filter::new(
        "SELECT corp_id, conversation, countMerge(msg_count_state) AS msg_count, \
         minMerge(first_msg_time_state) AS first_msg_time, maxMerge(last_msg_time_state) AS last_msg_time \
         FROM we_chat_conversation WHERE 1",
    )
}

impl ArchiveStore for ClickHouseStore {
    fn conversations(&self, q: &ConversationQuery) -> Result<Vec<ConversationSummary>, StoreError> {
        let mut f = conversation_filter(q);

        if let Some((last, corp, key)) = &q.after {
            f.push(
                " AND (last_msg_time, corp_id, conversation) < (?, ?, ?)",
                [
                    Value::U64((*last).max(0) as u64),
                    Value::Str(corp.clone()),
                    Value::Str(key.clone()),
                ],
            );
        }
        f.push(
            &format!(
                " ORDER BY last_msg_time DESC, corp_id DESC, conversation DESC LIMIT {}",
                q.limit.max(1)
            ),
            [],
        );
        self.summaries("listing conversations", &f)
    }

    fn count_conversations(&self, q: &ConversationQuery, cap: u64) -> Result<u64, StoreError> {
        let mut f = conversation_filter(q);
        f.sql = format!("SELECT count() AS n FROM ({} LIMIT {cap})", f.sql);
        self.count("counting conversations", &f)
    }

    fn count_search(&self, q: &SearchQuery, cap: u64) -> Result<u64, StoreError> {
        let q = SearchQuery {
            before: None,
            ..q.clone()
        };
        let mut f = search_filter(&q, "msg_id");
        f.sql = format!("SELECT uniqExact(msg_id) AS n FROM ({} LIMIT {cap})", f.sql);
        self.count("counting search results", &f)
    }

    fn conversation(
        &self,
        corp_id: &str,
        conversation: &Conversation,
        visible: &Visible,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let mut f = conversation_select();
        f.push(
            " AND corp_id = ? AND conversation = ?",
            [
                Value::Str(corp_id.to_owned()),
                Value::Str(conversation.key()),
            ],
        );
        and_visible(&mut f, visible, Rows::Conversations);
        f.push(GROUP_SUMMARIES, []);
        Ok(self
            .summaries("reading a conversation", &f)?
            .into_iter()
            .find(|c| &c.conversation == conversation))
    }

    fn conversation_messages(
        &self,
        q: &ConversationMessagesQuery,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        // The corp's messages are sorted by time, not by conversation: a page reads the slices of
        // time next to where it starts (`window`), not all the corp's messages (0.029 s against
        // 0.004 s for a room's newest 50 in a corp of 500,000 messages, growing with the corp).
        let (start, towards, cursor) = match &q.page {
            Page::Newest => (window::beyond_now(), Towards::Older, None),
            Page::Before(c) => (cursor_ms(c), Towards::Older, Some(("<", c))),
            Page::AtOrBefore(c) => (cursor_ms(c), Towards::Older, Some(("<=", c))),
            Page::After(c) => (cursor_ms(c), Towards::Newer, Some((">", c))),
        };
        let ascending = towards == Towards::Newer;
        let order = if ascending { "ASC" } else { "DESC" };
        let rows = window::windowed(
            start,
            towards,
            None,
            q.limit,
            |w, wanted| {
                let mut f =
                    Filter::new("SELECT ?fields FROM we_chat_contact_msg WHERE del_flg = 0");
                f.push(" AND corp_id = ?", [Value::Str(q.corp_id.clone())]);
                and_conversation(&mut f, &q.conversation);
                if let Some((op, c)) = cursor {
                    f.push(
                        &format!(" AND (msg_time, msg_id) {op} (?, ?)"),
                        cursor_values(c),
                    );
                }
                w.and_to(&mut f);
                f.push(
                    &format!(
                        " ORDER BY msg_time {order}, msg_id {order} LIMIT {}",
                        wanted
                    ),
                    [],
                );
                self.messages_where("reading a conversation", &f)
            },
            None,
        )?;
        let mut rows = distinct(rows);
        if !ascending {
            rows.reverse();
        }
        Ok(rows)
    }

    fn message(
        &self,
        corp_id: &str,
        msg_id: &str,
        visible: &Visible,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let mut f = Filter::new("SELECT ?fields FROM we_chat_contact_msg WHERE del_flg = 0");
        f.push(
            " AND corp_id = ? AND msg_id = ?",
            [
                Value::Str(corp_id.to_owned()),
                Value::Str(msg_id.to_owned()),
            ],
        );
        and_visible(&mut f, visible, Rows::Messages);
        f.push(" LIMIT 1", []);
        Ok(distinct(self.messages_where("reading a message", &f)?)
            .into_iter()
            .next())
    }

    fn search(&self, q: &SearchQuery) -> Result<Vec<StoredMessage>, StoreError> {
        // Newest first, from the cursor (or `until`) back to `since`, a slice of time at a time
        // (`window`).
        let from = q.before.as_ref().map(|c| c.msg_time).or(q.until_ms);
        let rows = window::newest_first(
            from,
            q.since_ms,
            q.limit,
            |w, wanted| {
                let mut f = search_filter(q, "?fields");
                if let Some(c) = &q.before {
                    f.push(" AND (msg_time, msg_id) < (?, ?)", cursor_values(c));
                }
                w.and_to(&mut f);
                f.push(
                    &format!(" ORDER BY msg_time DESC, msg_id DESC LIMIT {}", wanted),
                    [],
                );
                self.messages_where("searching messages", &f)
            },
            None,
        )?;
        Ok(distinct(rows))
    }
}

/// A count.
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
struct Count {
    n: u64,
}

impl ClickHouseStore {
    /// The number a `SELECT count() AS n` answers.
    fn count(&self, context: &'static str, f: &Filter) -> Result<u64, StoreError> {
        let rows: Vec<Count> = self.conn.fetch(context, f.bind(self.conn.query(&f.sql)))?;
        Ok(rows.first().map_or(0, |c| c.n))
    }
}
