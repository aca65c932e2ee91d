//! The SQLite side of the alert outbox: robots, posts and their links to hits, and settling hits'
//! `send_status`. A post's state, its links and the hits it settles commit in one transaction.

use rusqlite::{Connection, Transaction, params};

use super::filter::Where;
use super::rows::{post_from, robot_from};
use super::{SqliteStore, sql};
use crate::alert::outbox::{
    AlertPost, Destination, PendingAlert, PostLink, PostQuery, PostStatus, Robot, Route,
};
use crate::store::{HitRow, OutboxStore, StoreError};

pub(super) fn robots(conn: &Connection) -> Result<Vec<Robot>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, group_name, web_hook_url, corp_id, sensitive_ids, msg_type
             FROM we_group_robot_info WHERE del_flag = 0 ORDER BY id",
        )
        .map_err(sql("preparing the robot list"))?;
    let rows = stmt
        .query_map([], robot_from)
        .map_err(sql("listing robots"))?;
    rows.collect::<Result<_, _>>()
        .map_err(sql("reading robots"))
}

pub(super) fn add_robot(conn: &Connection, robot: &Robot) -> Result<i64, StoreError> {
    let ids: Vec<String> = robot.strategy_ids.iter().map(i64::to_string).collect();
    conn.execute(
        "INSERT INTO we_group_robot_info (group_name, web_hook_url, corp_id, sensitive_ids, msg_type)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            robot.group_name,
            robot.web_hook_url,
            robot.corp_id,
            ids.join(","),
            robot.msg_type
        ],
    )
    .map_err(sql("adding a robot"))?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn remove_robot(conn: &Connection, id: i64) -> Result<(), StoreError> {
    let n = conn
        .execute(
            "UPDATE we_group_robot_info SET del_flag = 1,
                 update_time = CAST(unixepoch('subsec') * 1000 AS INTEGER)
             WHERE id = ?1 AND del_flag = 0",
            [id],
        )
        .map_err(sql("removing a robot"))?;
    if n == 0 {
        return Err(StoreError::NotFound {
            what: "robot",
            key: id.to_string(),
        });
    }
    Ok(())
}

pub(super) fn pending_alerts(
    conn: &Connection,
    limit: u32,
    skip: &[Route],
) -> Result<Vec<PendingAlert>, StoreError> {
    // Every corp's oldest pending hit first, then every corp's second, …: a corp catching up on
    // thousands of old alerts fills only what the others leave of the page. Routes with nowhere
    // to go are left out (given as one JSON array of their keys, see `Route::key`).
    let skipped = if skip.is_empty() {
        ""
    } else {
        " AND (corp_id || '/' || strategy_id || '/' || (audit_user_id <> ''))
              NOT IN (SELECT value FROM json_each(?1))"
    };
    let keys: Vec<String> = skip.iter().map(Route::key).collect();
    let keys = serde_json::Value::from(keys).to_string();
    let with_keys: [&dyn rusqlite::ToSql; 1] = [&keys];
    let hits = super::hits::query_hits_from(
        conn,
        &format!(
            "(SELECT *, ROW_NUMBER() OVER (
                 PARTITION BY corp_id ORDER BY msg_time, msg_id, strategy_id) AS corp_rank
              FROM we_chat_contact_sensitive_msg
              WHERE send_status = 0 AND del_flag = 0{skipped})"
        ),
        "1",
        &format!(
            "ORDER BY corp_rank, msg_time, msg_id, strategy_id LIMIT {}",
            limit.max(1)
        ),
        if skip.is_empty() { &[] } else { &with_keys },
    )?;
    let mut links = conn
        .prepare_cached(
            "SELECT l.destination, l.post_id, p.status
             FROM we_group_robot_msg_hit l JOIN we_group_robot_msg p ON p.id = l.post_id
             WHERE l.corp_id = ?1 AND l.msg_id = ?2 AND l.strategy_id = ?3",
        )
        .map_err(sql("preparing the claim lookup"))?;
    let mut out = Vec::with_capacity(hits.len());
    for hit in hits {
        let rows = links
            .query_map(params![hit.corp_id, hit.msg_id, hit.strategy_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, u8>(2)?,
                ))
            })
            .map_err(sql("looking up a hit's posts"))?;
        let mut found = Vec::new();
        for row in rows {
            let (destination, post_id, status) = row.map_err(sql("reading a hit's posts"))?;
            if let (Some(destination), Some(status)) = (
                Destination::parse(&destination),
                PostStatus::from_code(status),
            ) {
                found.push(PostLink {
                    destination,
                    post_id,
                    status,
                });
            }
        }
        out.push(PendingAlert { hit, links: found });
    }
    Ok(out)
}

pub(super) fn alert_backlog(conn: &Connection) -> Result<u64, StoreError> {
    conn.query_row(
        "SELECT COUNT(*) FROM we_chat_contact_sensitive_msg WHERE send_status = 0 AND del_flag = 0",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
    .map_err(sql("counting pending alerts"))
}

const POST_COLUMNS: &str =
    "id, destination, msg_title, msg_type, content, hit_keys, status, attempts,
     next_attempt, last_error, send_time, create_time";

pub(super) fn posts(conn: &Connection, q: &PostQuery) -> Result<Vec<AlertPost>, StoreError> {
    let mut w = Where::new(format!(
        "SELECT {POST_COLUMNS} FROM we_group_robot_msg WHERE del_flag = 0"
    ));
    w.and_opt("create_time >= ?", q.since_ms);
    w.and_opt("status = ?", q.status.map(|s| i64::from(s.code())));
    w.and_opt(
        "destination = ?",
        q.destination.as_ref().map(Destination::key),
    );
    w.sql.push_str(&format!(
        " ORDER BY create_time DESC, id DESC LIMIT {}",
        q.limit.max(1)
    ));
    let mut stmt = conn
        .prepare(&w.sql)
        .map_err(sql("preparing a post query"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(w.args), post_from)
        .map_err(sql("querying posts"))?;
    let mut out = Vec::new();
    for row in rows {
        out.extend(row.map_err(sql("reading posts"))?);
    }
    Ok(out)
}

/// Writes a post's state (inserting it, with its links, the first time) and settles the hits it
/// finished, in the caller's transaction.
pub(super) fn record_post(
    tx: &Transaction<'_>,
    post: &AlertPost,
    settled: &[(HitRow, u8)],
) -> Result<(), StoreError> {
    let keys = serde_json::to_string(&post.hits).unwrap_or_else(|_| "[]".into());
    tx.prepare_cached(
        "INSERT INTO we_group_robot_msg
             (id, robot_id, destination, msg_title, msg_type, content, hit_keys, hit_count, status,
              attempts, next_attempt, last_error, send_time, create_time, update_time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                 CAST(unixepoch('subsec') * 1000 AS INTEGER))
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
             next_attempt = excluded.next_attempt, last_error = excluded.last_error,
             send_time = excluded.send_time, update_time = excluded.update_time",
    )
    .and_then(|mut s| {
        s.execute(params![
            post.id,
            post.destination.robot_id(),
            post.destination.key(),
            post.title,
            post.msg_type,
            post.content,
            keys,
            post.hits.len() as i64,
            post.status.code(),
            post.attempts,
            post.next_attempt_ms,
            post.last_error,
            post.send_time_ms,
            post.create_time_ms
        ])
    })
    .map_err(sql("recording a post"))?;
    let mut link = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO we_group_robot_msg_hit
                 (corp_id, msg_id, strategy_id, destination, post_id) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(sql("preparing a post's links"))?;
    let destination = post.destination.key();
    for k in &post.hits {
        link.execute(params![
            k.corp_id,
            k.msg_id,
            k.strategy_id,
            destination,
            post.id
        ])
        .map_err(sql("linking a post to its hits"))?;
    }
    settle(tx, settled)
}

/// Moves hits' `send_status` from pending to its final value.
pub(super) fn settle(tx: &Transaction<'_>, settled: &[(HitRow, u8)]) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "UPDATE we_chat_contact_sensitive_msg SET send_status = ?4
             WHERE corp_id = ?1 AND msg_time = ?5 AND msg_id = ?2 AND strategy_id = ?3
               AND send_status = 0",
        )
        .map_err(sql("preparing the alert-status update"))?;
    for (h, status) in settled {
        stmt.execute(params![
            h.corp_id,
            h.msg_id,
            h.strategy_id,
            status,
            h.msg_time
        ])
        .map_err(sql("settling a hit's alert status"))?;
    }
    Ok(())
}

impl OutboxStore for SqliteStore {
    fn robots(&self) -> Result<Vec<Robot>, StoreError> {
        robots(&self.conn())
    }

    fn add_robot(&self, robot: &Robot) -> Result<i64, StoreError> {
        add_robot(&self.conn(), robot)
    }

    fn remove_robot(&self, id: i64) -> Result<(), StoreError> {
        remove_robot(&self.conn(), id)
    }

    fn pending_alerts(&self, limit: u32, skip: &[Route]) -> Result<Vec<PendingAlert>, StoreError> {
        pending_alerts(&self.conn(), limit, skip)
    }

    fn alert_backlog(&self) -> Result<u64, StoreError> {
        alert_backlog(&self.conn())
    }

    fn posts(&self, query: &PostQuery) -> Result<Vec<AlertPost>, StoreError> {
        posts(&self.conn(), query)
    }

    fn record_posts(
        &self,
        posts: &[AlertPost],
        settled: &[(HitRow, u8)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a post update"))?;
        for post in posts {
            record_post(&tx, post, &[])?;
        }
        settle(&tx, settled)?;
        tx.commit().map_err(sql("committing a post update"))
    }

    fn settle_alerts(&self, settled: &[(HitRow, u8)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(sql("starting to settle alerts"))?;
        settle(&tx, settled)?;
        tx.commit().map_err(sql("committing settled alerts"))
    }
}
