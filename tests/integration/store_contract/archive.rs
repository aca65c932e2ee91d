//! The archive browser's reads (`ArchiveStore`): conversations per member, customer and room with
//! counts, newest first and paged; a conversation's messages both ways; search plain and
//! normalised with every filter and keyset paging; and visibility by conversation membership.

use msgaudit::message::{Conversation, MessageRow};
use msgaudit::store::{
    ConversationMessagesQuery, ConversationQuery, MessageCursor, Page, SearchQuery, Store,
    StoreBatch, TextMatch,
};

use super::{HOUR, now_ms};
use crate::support::message_row;

const CORP: &str = "ww1";
const CUSTOMER: &str = "wmCustomer1";
const ROOM: &str = "wrRoom1";

fn msg(seq: u64, from: &str, to: &[&str], room: &str, text: &str) -> MessageRow {
    let mut m = message_row(CORP, &format!("m{seq:03}"), seq);
    m.from_id = from.into();
    m.to_list = to.join(",");
    m.room_id = room.into();
    m.plain_text = text.into();
    m.msg_time = 1_700_000_000_000 + seq as i64 * 1000;
    m
}

/// 30 messages, one a second: zhangsan ↔ the customer (seq 1, 4, … 28), zhangsan → lisi (2, 5, …
/// 29), wangwu in the room with zhangsan, lisi and the customer (3, 6, … 30). Three texts to find:
/// m004 (customer, plain), m018 (room, traditional and spaced), m026 (lisi, two-character word).
fn archive() -> Vec<MessageRow> {
    let mut out = Vec::new();
    for i in 0..30u64 {
        let seq = i + 1;
        let text = match i {
            3 => "可以私下转账吗",
            17 => "私 下 轉 賬 可以打折",
            25 => "群里说一下转账的事",
            _ => "你好",
        };
        out.push(match i % 3 {
            0 => {
                if i % 2 == 0 {
                    msg(seq, "zhangsan", &[CUSTOMER], "", text)
                } else {
                    msg(seq, CUSTOMER, &["zhangsan"], "", text)
                }
            }
            1 => msg(seq, "zhangsan", &["lisi"], "", text),
            _ => msg(seq, "wangwu", &["zhangsan", "lisi", CUSTOMER], ROOM, text),
        });
    }
    out
}

fn store_all(s: &dyn Store, rows: Vec<MessageRow>) {
    let checkpoint = rows.iter().map(|r| r.seq).max().unwrap_or(0);
    let batch = StoreBatch {
        corp_id: CORP.into(),
        messages: rows,
        checkpoint,
        ..StoreBatch::default()
    };
    s.store_batch(&batch).expect("store");
    // A replay changes no count.
    s.store_batch(&batch).expect("replay");
}

/// A page of the zhangsan ↔ lisi conversation.
fn pair_page(s: &dyn Store, page: Page, limit: u32) -> Vec<msgaudit::store::StoredMessage> {
    s.conversation_messages(&ConversationMessagesQuery {
        corp_id: CORP.into(),
        conversation: Conversation::pair("zhangsan", "lisi"),
        page,
        limit,
    })
    .expect("page")
}

fn ids(rows: &[msgaudit::store::StoredMessage]) -> Vec<String> {
    rows.iter().map(|m| m.row.msg_id.clone()).collect()
}

pub(super) fn conversations_are_listed_per_person_and_room_with_counts(s: &dyn Store) {
    store_all(s, archive());
    let list = |member: Option<&str>, room: Option<&str>| {
        s.conversations(&ConversationQuery {
            member: member.map(Into::into),
            room: room.map(Into::into),
            limit: 10,
            ..ConversationQuery::default()
        })
        .expect("conversations")
    };
    let mine = list(Some("zhangsan"), None);
    let keys: Vec<Conversation> = mine.iter().map(|c| c.conversation.clone()).collect();
    assert_eq!(
        keys,
        vec![
            Conversation::Room(ROOM.into()),
            Conversation::pair("zhangsan", "lisi"),
            Conversation::pair("zhangsan", CUSTOMER),
        ],
        "newest first"
    );
    assert!(mine.iter().all(|c| c.msg_count == 10), "{mine:?}");
    assert_eq!(mine[0].last_msg_time, 1_700_000_000_000 + 30_000);
    let customer = list(Some(CUSTOMER), None);
    assert_eq!(
        customer.len(),
        2,
        "the one-to-one and the room: {customer:?}"
    );
    let wangwu = list(Some("wangwu"), None);
    assert_eq!(wangwu.len(), 1);
    let room = list(None, Some(ROOM));
    assert_eq!(room.len(), 1);
    assert_eq!(room[0].msg_count, 10);
    // Paging: one at a time, in the same order.
    let first = s
        .conversations(&ConversationQuery {
            member: Some("zhangsan".into()),
            limit: 1,
            ..ConversationQuery::default()
        })
        .expect("page 1");
    let c = &first[0];
    let second = s
        .conversations(&ConversationQuery {
            member: Some("zhangsan".into()),
            after: Some((c.last_msg_time, c.corp_id.clone(), c.conversation.key())),
            limit: 1,
            ..ConversationQuery::default()
        })
        .expect("page 2");
    assert_eq!(second[0].conversation, keys[1]);
    // Visibility: lisi's view holds the room and their pair, not the customer's one-to-one.
    let seen = s
        .conversations(&ConversationQuery {
            member: Some("zhangsan".into()),
            visible: Some(vec!["lisi".into()]),
            limit: 10,
            ..ConversationQuery::default()
        })
        .expect("visible");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter()
            .all(|c| c.conversation != Conversation::pair("zhangsan", CUSTOMER))
    );
    let pair = Conversation::pair("zhangsan", CUSTOMER);
    assert!(
        s.conversation(CORP, &pair, &Some(vec!["lisi".into()]))
            .expect("one")
            .is_none()
    );
    assert_eq!(
        s.conversation(CORP, &pair, &None)
            .expect("one")
            .map(|c| c.msg_count),
        Some(10)
    );
}

pub(super) fn a_conversation_pages_both_ways(s: &dyn Store) {
    store_all(s, archive());
    let page = |page: Page, limit| pair_page(s, page, limit);
    let all = page(Page::Newest, 100);
    assert_eq!(all.len(), 10);
    assert!(
        all.windows(2)
            .all(|w| w[0].row.msg_time < w[1].row.msg_time)
    );
    let newest = page(Page::Newest, 3);
    assert_eq!(ids(&newest), ids(&all[7..]));
    let at = |m: &msgaudit::store::StoredMessage| MessageCursor {
        msg_time: m.row.msg_time,
        msg_id: m.row.msg_id.clone(),
    };
    let before = page(Page::Before(at(&newest[0])), 3);
    assert_eq!(ids(&before), ids(&all[4..7]));
    let at_or_before = page(Page::AtOrBefore(at(&all[5])), 2);
    assert_eq!(ids(&at_or_before), ids(&all[4..6]));
    let after = page(Page::After(at(&all[5])), 2);
    assert_eq!(ids(&after), ids(&all[6..8]));
    assert!(page(Page::After(at(&all[9])), 5).is_empty());
}

pub(super) fn search_finds_plain_and_normalised_with_filters_and_visibility(s: &dyn Store) {
    store_all(s, archive());
    let search = |q: SearchQuery| s.search(&SearchQuery { limit: 50, ..q }).expect("search");
    let text = |t: &str, m: TextMatch| SearchQuery {
        text: Some(t.into()),
        text_match: m,
        ..SearchQuery::default()
    };
    // Plain: as typed (a three-character keyword through the index, a two-character one by scan).
    assert_eq!(ids(&search(text("私下转账", TextMatch::Plain))), ["m004"]);
    assert_eq!(
        ids(&search(text("转账", TextMatch::Plain))),
        ["m026", "m004"]
    );
    // Normalised: traditional, spaced.
    assert_eq!(
        ids(&search(text("私下轉賬", TextMatch::Normalised))),
        ["m018", "m004"]
    );
    assert_eq!(
        ids(&search(text("轉賬", TextMatch::Normalised))),
        ["m026", "m018", "m004"]
    );
    assert!(search(text("私下轉賬", TextMatch::Plain)).is_empty());
    // Filters.
    let q = |f: fn(&mut SearchQuery)| {
        let mut q = text("转账", TextMatch::Normalised);
        f(&mut q);
        ids(&search(q))
    };
    assert_eq!(q(|q| q.room_id = Some(ROOM.into())), ["m018"]);
    assert_eq!(q(|q| q.from_id = Some("zhangsan".into())), ["m026"]);
    assert_eq!(q(|q| q.to_id = Some("lisi".into())), ["m026", "m018"]);
    assert_eq!(
        q(|q| q.since_ms = Some(1_700_000_000_000 + 18_000)),
        ["m026", "m018"]
    );
    assert_eq!(
        q(|q| q.until_ms = Some(1_700_000_000_000 + 18_000)),
        ["m004"]
    );
    assert!(q(|q| q.msg_types = vec!["image".into()]).is_empty());
    // Keyset paging: newest first, one at a time.
    let mut first = text("转账", TextMatch::Normalised);
    first.limit = 1;
    let page1 = s.search(&first).expect("page 1");
    first.before = Some(MessageCursor {
        msg_time: page1[0].row.msg_time,
        msg_id: page1[0].row.msg_id.clone(),
    });
    assert_eq!(ids(&s.search(&first).expect("page 2")), ["m018"]);
    // Visibility: wangwu took part only in the room.
    assert_eq!(
        q(|q| q.visible = Some(vec!["wangwu".into()])),
        ["m018"],
        "only the room"
    );
    assert!(q(|q| q.visible = Some(vec![])).is_empty());
    // One message, inside and outside a view.
    assert!(
        s.message(CORP, "m004", &Some(vec!["wangwu".into()]))
            .expect("message")
            .is_none()
    );
    assert!(
        s.message(CORP, "m004", &Some(vec![CUSTOMER.into()]))
            .expect("message")
            .is_some()
    );
    assert!(s.message(CORP, "m026", &None).expect("message").is_some());
}

/// A conversation paged both ways, and a search paged newest first, over messages from an hour to
/// ten years old (and one a few hours ahead): each page is the next in order (a store may read the
/// time next to where a page starts first, and widen it).
pub(super) fn pages_run_across_years(s: &dyn Store) {
    let now = now_ms();
    let ages = [-3, 1, 2, 30, 31, 200, 1_500, 9_000, 80_000, 87_000];
    let mut rows: Vec<MessageRow> = ages
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut m = msg(i as u64 + 1, "zhangsan", &["lisi"], "", "多年的消息");
            m.msg_time = now - h * HOUR;
            m
        })
        .collect();
    // Another conversation in between, which neither the pair's pages nor a search for the pair's
    // words may show.
    let mut other = msg(99, "zhangsan", &[], ROOM, "群里的话");
    other.msg_time = now - 100 * HOUR;
    rows.push(other);
    store_all(s, rows.clone());
    let mut oldest_first: Vec<(i64, String)> = rows[..ages.len()]
        .iter()
        .map(|m| (m.msg_time, m.msg_id.clone()))
        .collect();
    oldest_first.sort();
    let want: Vec<String> = oldest_first.iter().map(|(_, m)| m.clone()).collect();
    let at = |m: &msgaudit::store::StoredMessage| MessageCursor {
        msg_time: m.row.msg_time,
        msg_id: m.row.msg_id.clone(),
    };
    let page = |page: Page, limit| pair_page(s, page, limit);
    for limit in [1, 2, 3, 100] {
        // Back from the newest: each page is in time order and comes before the one read before.
        let mut seen: Vec<String> = Vec::new();
        let mut next = Page::Newest;
        loop {
            let rows = page(next, limit);
            let mut all = ids(&rows);
            all.extend(seen);
            seen = all;
            match rows.first() {
                Some(first) if rows.len() == limit as usize => next = Page::Before(at(first)),
                _ => break,
            }
        }
        assert_eq!(seen, want, "backwards, limit {limit}");
        // Forward from the oldest.
        let oldest = page(
            Page::AtOrBefore(MessageCursor {
                msg_time: oldest_first[0].0,
                msg_id: oldest_first[0].1.clone(),
            }),
            1,
        );
        let mut seen = ids(&oldest);
        let mut cursor = at(&oldest[0]);
        loop {
            let rows = page(Page::After(cursor.clone()), limit);
            seen.extend(ids(&rows));
            match rows.last() {
                Some(last) if rows.len() == limit as usize => cursor = at(last),
                _ => break,
            }
        }
        assert_eq!(seen, want, "forwards, limit {limit}");
        // Search, newest first.
        let mut q = SearchQuery {
            corp_id: Some(CORP.into()),
            text: Some("多年".into()),
            limit,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let rows = s.search(&q).expect("search");
            seen.extend(ids(&rows));
            match rows.last() {
                Some(last) if rows.len() == limit as usize => q.before = Some(at(last)),
                _ => break,
            }
        }
        let newest_first: Vec<String> = want.iter().rev().cloned().collect();
        assert_eq!(seen, newest_first, "search, limit {limit}");
    }
}
