//! The names directory on ClickHouse: each lookup a new version of its row (by `update_time`),
//! read with FINAL; a group's members are those written with its latest successful lookup.

use std::collections::HashMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::ClickHouseStore;
use super::filter::{Filter, Value};
use crate::store::StoreError;
use crate::store::directory::{
    Customer, DirectoryId, DirectoryStore, FoundName, Group, GroupMember, GroupSource, NAMED_TABLES,
};

fn ms(v: i64) -> u64 {
    v.max(0) as u64
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct CustomerRow {
    corp_id: String,
    external_userid: String,
    customer_name: String,
    customer_full_name: String,
    customer_type: u8,
    avatar: String,
    gender: u8,
    unionid: String,
    corp_name: String,
    position: String,
    add_user_id: String,
    remark_name: String,
    lookup_error: String,
    update_time: u64,
    del_flag: u8,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct GroupRow {
    corp_id: String,
    chat_id: String,
    group_name: String,
    add_time: u64,
    notice: String,
    owner: String,
    source: String,
    lookup_error: String,
    update_time: u64,
    del_flag: u8,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct GroupMemberRow {
    corp_id: String,
    chat_id: String,
    user_id: String,
    #[serde(rename = "type")]
    member_type: u8,
    join_time: u64,
    join_scene: u8,
    group_nick_name: String,
    name: String,
    invitor_user_id: String,
    update_time: u64,
    del_flag: u8,
}

#[derive(Debug, Clone, Row, Deserialize)]
struct KindId {
    kind: String,
    id: String,
}

#[derive(Debug, Clone, Row, Deserialize)]
struct IdName {
    id: String,
    name: String,
    rank: u8,
}

#[derive(Debug, Clone, Row, Deserialize)]
struct CorpIdName {
    corp_id: String,
    id: String,
    name: String,
}

fn directory_id(k: KindId) -> DirectoryId {
    if k.kind == "group" {
        DirectoryId::Group(k.id)
    } else {
        DirectoryId::Customer(k.id)
    }
}

impl DirectoryStore for ClickHouseStore {
    fn save_customers(&self, customers: &[Customer]) -> Result<(), StoreError> {
        // A failed lookup keeps the name known so far.
        let mut known = HashMap::new();
        for corp in customers
            .iter()
            .filter(|c| !c.lookup_error.is_empty())
            .map(|c| c.corp_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let ids: Vec<String> = customers
                .iter()
                .filter(|c| c.corp_id == corp && !c.lookup_error.is_empty())
                .map(|c| c.external_userid.clone())
                .collect();
            for (id, name) in self.names(corp, &ids)? {
                known.insert((corp.to_owned(), id), name);
            }
        }
        let rows: Vec<CustomerRow> = customers
            .iter()
            .map(|c| CustomerRow {
                corp_id: c.corp_id.clone(),
                external_userid: c.external_userid.clone(),
                customer_name: if c.lookup_error.is_empty() {
                    c.customer_name.clone()
                } else {
                    known
                        .get(&(c.corp_id.clone(), c.external_userid.clone()))
                        .cloned()
                        .unwrap_or_default()
                },
                customer_full_name: String::new(),
                customer_type: c.customer_type,
                avatar: c.avatar.clone(),
                gender: c.gender,
                unionid: c.unionid.clone(),
                corp_name: c.corp_name.clone(),
                position: c.position.clone(),
                add_user_id: c.add_user_id.clone(),
                remark_name: c.remark_name.clone(),
                lookup_error: c.lookup_error.clone(),
                update_time: ms(c.update_time),
                del_flag: 0,
            })
            .collect();
        self.conn.insert("saving customers", "we_customer", &rows)
    }

    fn save_group(&self, g: &Group) -> Result<(), StoreError> {
        let name = if g.lookup_error.is_empty() {
            g.group_name.clone()
        } else {
            self.names(&g.corp_id, std::slice::from_ref(&g.chat_id))?
                .remove(&g.chat_id)
                .unwrap_or_default()
        };
        if g.lookup_error.is_empty() {
            let members: Vec<GroupMemberRow> = g
                .members
                .iter()
                .map(|m| GroupMemberRow {
                    corp_id: g.corp_id.clone(),
                    chat_id: g.chat_id.clone(),
                    user_id: m.user_id.clone(),
                    member_type: m.member_type,
                    join_time: ms(m.join_time),
                    join_scene: m.join_scene,
                    group_nick_name: m.group_nick_name.clone(),
                    name: m.name.clone(),
                    invitor_user_id: m.invitor_user_id.clone(),
                    update_time: ms(g.update_time),
                    del_flag: 0,
                })
                .collect();
            self.conn
                .insert("saving a group's members", "we_group_member", &members)?;
        }
        self.conn.insert(
            "saving a group",
            "we_group",
            &[GroupRow {
                corp_id: g.corp_id.clone(),
                chat_id: g.chat_id.clone(),
                group_name: name,
                add_time: ms(g.add_time),
                notice: g.notice.clone(),
                owner: g.owner.clone(),
                source: g.source.as_str().to_owned(),
                lookup_error: g.lookup_error.clone(),
                update_time: ms(g.update_time),
                del_flag: 0,
            }],
        )
    }

    /// The people of the corp's conversations, from their summary (`we_chat_conversation_people`,
    /// as SQLite reads its conversation members): this runs for every corp every pass (10 s), and
    /// reading the messages instead took 0.036 s against 0.004 s for a corp of 500,000 messages,
    /// growing with them. `GLOBAL`: on a cluster the directory tables are `Distributed` too.
    fn unnamed_ids(&self, corp_id: &str, limit: u32) -> Result<Vec<DirectoryId>, StoreError> {
        let corp = || Value::Str(corp_id.to_owned());
        let mut f = Filter::new("");
        f.push(
            "SELECT 'group' AS kind, substring(conversation, 3) AS id \
             FROM we_chat_conversation_people \
             WHERE corp_id = ? AND startsWith(conversation, 'r:') \
               AND id GLOBAL NOT IN (SELECT chat_id FROM we_group WHERE corp_id = ?) \
             GROUP BY id \
             UNION ALL \
             SELECT 'customer' AS kind, id FROM ( \
                 SELECT arrayJoin(splitByChar(',', people)) AS id \
                 FROM we_chat_conversation_people WHERE corp_id = ?) \
             WHERE substring(id, 1, 2) IN ('wm', 'wo') \
               AND id GLOBAL NOT IN (SELECT external_userid FROM we_customer WHERE corp_id = ?) \
             GROUP BY id",
            [corp(), corp(), corp(), corp()],
        );
        let found: Vec<KindId> = self
            .conn
            .fetch("finding ids to look up", f.bind(self.conn.query(&f.sql)))?;
        Ok(found
            .into_iter()
            .take(limit as usize)
            .map(directory_id)
            .collect())
    }

    fn stale_ids(
        &self,
        corp_id: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<DirectoryId>, StoreError> {
        let corp = || Value::Str(corp_id.to_owned());
        let before = || Value::U64(ms(before_ms));
        let mut f = Filter::new("");
        f.push(
            "SELECT kind, id FROM ( \
                 SELECT 'group' AS kind, chat_id AS id, update_time FROM we_group FINAL \
                 WHERE corp_id = ? AND update_time < ? \
                 UNION ALL \
                 SELECT 'customer' AS kind, external_userid AS id, update_time FROM we_customer FINAL \
                 WHERE corp_id = ? AND update_time < ?) \
             ORDER BY update_time LIMIT ?",
            [corp(), before(), corp(), before(), Value::U64(u64::from(limit))],
        );
        let found: Vec<KindId> = self
            .conn
            .fetch("finding names to refresh", f.bind(self.conn.query(&f.sql)))?;
        Ok(found.into_iter().map(directory_id).collect())
    }

    fn names(&self, corp_id: &str, ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let corp = || Value::Str(corp_id.to_owned());
        let list = || Value::Strs(ids.to_vec());
        let mut f = Filter::new("");
        f.push(
            "SELECT external_userid AS id, customer_name AS name, toUInt8(0) AS rank \
             FROM we_customer FINAL WHERE corp_id = ? AND customer_name != '' AND external_userid IN (SELECT arrayJoin(?)) \
             UNION ALL \
             SELECT chat_id AS id, group_name AS name, toUInt8(0) AS rank \
             FROM we_group FINAL WHERE corp_id = ? AND group_name != '' AND chat_id IN (SELECT arrayJoin(?)) \
             UNION ALL \
             SELECT user_id AS id, name, toUInt8(1) AS rank \
             FROM we_group_member FINAL WHERE corp_id = ? AND name != '' AND user_id IN (SELECT arrayJoin(?))",
            [corp(), list(), corp(), list(), corp(), list()],
        );
        let mut found: Vec<IdName> = self
            .conn
            .fetch("reading names", f.bind(self.conn.query(&f.sql)))?;
        // Better ranks (0) last, so they win.
        found.sort_by_key(|r| std::cmp::Reverse(r.rank));
        Ok(found.into_iter().map(|r| (r.id, r.name)).collect())
    }

    fn find_names(
        &self,
        corp_id: Option<&str>,
        text: &str,
        limit: u32,
    ) -> Result<Vec<FoundName>, StoreError> {
        let mut found = Vec::new();
        for (table, id, name, group) in NAMED_TABLES {
            let mut f = Filter::new(format!(
                "SELECT corp_id, {id} AS id, {name} AS name FROM {table} FINAL WHERE {name} != ''"
            ));
            f.and_opt("corp_id = ?", corp_id.map(|c| Value::Str(c.to_owned())));
            f.push(
                &format!(
                    " AND (positionUTF8(lowerUTF8({name}), lowerUTF8(?)) > 0 OR position({id}, ?) > 0) \
                     ORDER BY name, id LIMIT {limit}"
                ),
                [Value::Str(text.to_owned()), Value::Str(text.to_owned())],
            );
            let rows: Vec<CorpIdName> = self
                .conn
                .fetch("finding names", f.bind(self.conn.query(&f.sql)))?;
            found.extend(
                rows.into_iter()
                    .map(|r| FoundName::new(r.corp_id, r.id, r.name, group)),
            );
        }
        Ok(found)
    }

    fn group(&self, corp_id: &str, chat_id: &str) -> Result<Option<Group>, StoreError> {
        let key = || {
            [
                Value::Str(corp_id.to_owned()),
                Value::Str(chat_id.to_owned()),
            ]
        };
        let mut f =
            Filter::new("SELECT ?fields FROM we_group FINAL WHERE corp_id = ? AND chat_id = ?");
        f.push("", key());
        let rows: Vec<GroupRow> = self
            .conn
            .fetch("reading a group", f.bind(self.conn.query(&f.sql)))?;
        let Some(g) = rows.into_iter().next() else {
            return Ok(None);
        };
        let mut f = Filter::new(
            "SELECT ?fields FROM we_group_member FINAL WHERE corp_id = ? AND chat_id = ? \
             AND update_time = (SELECT max(update_time) FROM we_group_member WHERE corp_id = ? AND chat_id = ?) \
             ORDER BY join_time, user_id",
        );
        let [a, b] = key();
        let [c, d] = key();
        f.push("", [a, b, c, d]);
        let members: Vec<GroupMemberRow> = self
            .conn
            .fetch("reading a group's members", f.bind(self.conn.query(&f.sql)))?;
        Ok(Some(Group {
            corp_id: g.corp_id,
            chat_id: g.chat_id,
            group_name: g.group_name,
            owner: g.owner,
            notice: g.notice,
            add_time: signed(g.add_time),
            source: GroupSource::parse(&g.source),
            lookup_error: g.lookup_error,
            update_time: signed(g.update_time),
            members: members
                .into_iter()
                .map(|m| GroupMember {
                    user_id: m.user_id,
                    member_type: m.member_type,
                    join_time: signed(m.join_time),
                    join_scene: m.join_scene,
                    group_nick_name: m.group_nick_name,
                    name: m.name,
                    invitor_user_id: m.invitor_user_id,
                })
                .collect(),
        }))
    }
}
