//! The names directory on SQLite: `we_customer`, `we_group`, `we_group_member`; the ids seen in
//! conversations without a row yet.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, select, sql};
use crate::store::StoreError;
use crate::store::directory::{
    Customer, DirectoryId, DirectoryStore, FoundName, Group, GroupMember, GroupSource, NAMED_TABLES,
};

/// `json_each` over a list of ids.
fn json(ids: &[String]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

fn directory_id(kind: String, id: String) -> DirectoryId {
    if kind == "group" {
        DirectoryId::Group(id)
    } else {
        DirectoryId::Customer(id)
    }
}

impl DirectoryStore for SqliteStore {
    fn save_customers(&self, customers: &[Customer]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(sql("starting to save customers"))?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO we_customer (corp_id, external_userid, customer_name, customer_type,
                         avatar, gender, unionid, corp_name, position, add_user_id, remark_name,
                         lookup_error, create_time, update_time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
                     ON CONFLICT (corp_id, external_userid) DO UPDATE SET
                         customer_name = CASE WHEN excluded.lookup_error = ''
                             THEN excluded.customer_name ELSE customer_name END,
                         customer_type = excluded.customer_type, avatar = excluded.avatar,
                         gender = excluded.gender, unionid = excluded.unionid,
                         corp_name = excluded.corp_name, position = excluded.position,
                         add_user_id = excluded.add_user_id, remark_name = excluded.remark_name,
                         lookup_error = excluded.lookup_error, update_time = excluded.update_time",
                )
                .map_err(sql("preparing the customer upsert"))?;
            for c in customers {
                upsert
                    .execute(params![
                        c.corp_id,
                        c.external_userid,
                        c.customer_name,
                        c.customer_type,
                        c.avatar,
                        c.gender,
                        c.unionid,
                        c.corp_name,
                        c.position,
                        c.add_user_id,
                        c.remark_name,
                        c.lookup_error,
                        c.update_time,
                    ])
                    .map_err(sql("saving a customer"))?;
            }
        }
        tx.commit().map_err(sql("saving customers"))
    }

    fn save_group(&self, g: &Group) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(sql("starting to save a group"))?;
        tx.execute(
            "INSERT INTO we_group (corp_id, chat_id, group_name, add_time, notice, owner, source,
                 lookup_error, create_time, update_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
             ON CONFLICT (corp_id, chat_id) DO UPDATE SET
                 group_name = CASE WHEN excluded.lookup_error = ''
                     THEN excluded.group_name ELSE group_name END,
                 add_time = excluded.add_time, notice = excluded.notice, owner = excluded.owner,
                 source = excluded.source, lookup_error = excluded.lookup_error,
                 update_time = excluded.update_time",
            params![
                g.corp_id,
                g.chat_id,
                g.group_name,
                g.add_time,
                g.notice,
                g.owner,
                g.source.as_str(),
                g.lookup_error,
                g.update_time
            ],
        )
        .map_err(sql("saving a group"))?;
        // A failed lookup keeps the members last seen.
        if g.lookup_error.is_empty() {
            tx.execute(
                "DELETE FROM we_group_member WHERE corp_id = ?1 AND chat_id = ?2",
                params![g.corp_id, g.chat_id],
            )
            .map_err(sql("replacing a group's members"))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO we_group_member (corp_id, chat_id, user_id, type,
                         join_time, join_scene, group_nick_name, name, invitor_user_id, create_time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(sql("preparing the group member insert"))?;
            for m in &g.members {
                insert
                    .execute(params![
                        g.corp_id,
                        g.chat_id,
                        m.user_id,
                        m.member_type,
                        m.join_time,
                        m.join_scene,
                        m.group_nick_name,
                        m.name,
                        m.invitor_user_id,
                        g.update_time
                    ])
                    .map_err(sql("saving a group member"))?;
            }
        }
        tx.commit().map_err(sql("saving a group"))
    }

    fn unnamed_ids(&self, corp_id: &str, limit: u32) -> Result<Vec<DirectoryId>, StoreError> {
        let conn = self.conn();
        select(
            &conn,
            "SELECT 'group', c.room_id FROM we_chat_conversation c
             WHERE c.corp_id = ?1 AND c.room_id <> ''
               AND NOT EXISTS (SELECT 1 FROM we_group g WHERE g.corp_id = c.corp_id AND g.chat_id = c.room_id)
             UNION ALL
             SELECT DISTINCT 'customer', m.member_id FROM we_chat_conversation_member m
             WHERE m.corp_id = ?1 AND substr(m.member_id, 1, 2) IN ('wm', 'wo')
               AND NOT EXISTS (SELECT 1 FROM we_customer c
                               WHERE c.corp_id = m.corp_id AND c.external_userid = m.member_id)
             LIMIT ?2",
            params![corp_id, limit],
            "finding ids to look up",
            |r| Ok(directory_id(r.get(0)?, r.get(1)?)),
        )
    }

    fn stale_ids(
        &self,
        corp_id: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<DirectoryId>, StoreError> {
        let conn = self.conn();
        select(
            &conn,
            "SELECT kind, id FROM (
                 SELECT 'group' AS kind, chat_id AS id, update_time FROM we_group
                 WHERE corp_id = ?1 AND update_time < ?2
                 UNION ALL
                 SELECT 'customer', external_userid, update_time FROM we_customer
                 WHERE corp_id = ?1 AND update_time < ?2)
             ORDER BY update_time LIMIT ?3",
            params![corp_id, before_ms, limit],
            "finding names to refresh",
            |r| Ok(directory_id(r.get(0)?, r.get(1)?)),
        )
    }

    fn names(&self, corp_id: &str, ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let conn = self.conn();
        // Preference: the contact's own name, the group's name, then a name seen in a group.
        let rows = select(
            &conn,
            "SELECT id, name FROM (
                 SELECT external_userid AS id, customer_name AS name, 0 AS rank FROM we_customer
                 WHERE corp_id = ?1 AND customer_name <> ''
                   AND external_userid IN (SELECT value FROM json_each(?2))
                 UNION ALL
                 SELECT chat_id, group_name, 0 FROM we_group
                 WHERE corp_id = ?1 AND group_name <> '' AND chat_id IN (SELECT value FROM json_each(?2))
                 UNION ALL
                 SELECT user_id, name, 1 FROM we_group_member
                 WHERE corp_id = ?1 AND name <> '' AND user_id IN (SELECT value FROM json_each(?2)))
             ORDER BY rank DESC",
            params![corp_id, json(ids)],
            "reading names",
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )?;
        // Later rows (better ranks) replace earlier ones.
        Ok(rows.into_iter().collect())
    }

    fn find_names(
        &self,
        corp_id: Option<&str>,
        text: &str,
        limit: u32,
    ) -> Result<Vec<FoundName>, StoreError> {
        let conn = self.conn();
        let mut found = Vec::new();
        for (table, id, name, group) in NAMED_TABLES {
            let rows = select(
                &conn,
                &format!(
                    "SELECT corp_id, {id}, {name} FROM {table}
                     WHERE {name} <> '' AND (?1 IS NULL OR corp_id = ?1)
                       AND (instr(lower({name}), lower(?2)) > 0 OR instr({id}, ?2) > 0)
                     ORDER BY {name}, {id} LIMIT ?3"
                ),
                params![corp_id, text, limit],
                "finding names",
                |r| Ok(FoundName::new(r.get(0)?, r.get(1)?, r.get(2)?, group)),
            )?;
            found.extend(rows);
        }
        Ok(found)
    }

    fn group(&self, corp_id: &str, chat_id: &str) -> Result<Option<Group>, StoreError> {
        let conn = self.conn();
        let group = conn
            .query_row(
                "SELECT group_name, owner, notice, add_time, source, lookup_error, update_time
                 FROM we_group WHERE corp_id = ?1 AND chat_id = ?2",
                params![corp_id, chat_id],
                |r| {
                    Ok(Group {
                        corp_id: corp_id.to_owned(),
                        chat_id: chat_id.to_owned(),
                        group_name: r.get(0)?,
                        owner: r.get(1)?,
                        notice: r.get(2)?,
                        add_time: r.get(3)?,
                        source: GroupSource::parse(&r.get::<_, String>(4)?),
                        lookup_error: r.get(5)?,
                        update_time: r.get(6)?,
                        members: Vec::new(),
                    })
                },
            )
            .optional()
            .map_err(sql("reading a group"))?;
        let Some(mut group) = group else {
            return Ok(None);
        };
        group.members = select(
            &conn,
            "SELECT user_id, type, join_time, join_scene, group_nick_name, name, invitor_user_id
             FROM we_group_member WHERE corp_id = ?1 AND chat_id = ?2 ORDER BY join_time, user_id",
            params![corp_id, chat_id],
            "reading a group's members",
            |r| {
                Ok(GroupMember {
                    user_id: r.get(0)?,
                    member_type: r.get(1)?,
                    join_time: r.get(2)?,
                    join_scene: r.get(3)?,
                    group_nick_name: r.get(4)?,
                    name: r.get(5)?,
                    invitor_user_id: r.get(6)?,
                })
            },
        )?;
        Ok(Some(group))
    }
}
