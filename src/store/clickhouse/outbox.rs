//! The alert outbox on ClickHouse: robots and posts are versioned rows (by `update_time`, read with
//! `FINAL`), a post's links to its hits are an idempotent index, and settling a hit writes a new
//! version of its row. A post's row goes in before its links and the hits it settles, so a crash in
//! between leaves state the sender completes: a pending post's links are written again when it is
//! resumed, and a hit whose posts are all finished is settled again. Pending hits are found by
//! their newest version without `FINAL` ([`pending_keys_sql`]): the hits table is the largest there
//! is, and the sender reads it every poll while hits arrive.

use std::collections::HashMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::filter::{Filter, Value};
use super::rows::{Count, HitChRow, NamedCount};
use super::{ClickHouseStore, Connection, next_version};
use crate::alert::outbox::{
    AlertPost, Destination, HitKey, PendingAlert, PostLink, PostQuery, PostStatus, Robot, Route,
};
use crate::store::types::{HitRow, split_list};
use crate::store::{OutboxStore, StoreError};

/// `we_group_robot_info`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct RobotRow {
    id: i64,
    group_name: String,
    web_hook_url: String,
    corp_id: String,
    sensitive_ids: String,
    msg_type: String,
    create_time: u64,
    update_time: u64,
    del_flag: u8,
}

impl RobotRow {
    fn new(r: &Robot, del_flag: u8) -> RobotRow {
        let now = next_version();
        RobotRow {
            id: r.id,
            group_name: r.group_name.clone(),
            web_hook_url: r.web_hook_url.clone(),
            corp_id: r.corp_id.clone(),
            sensitive_ids: r
                .strategy_ids
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(","),
            msg_type: r.msg_type.clone(),
            create_time: now,
            update_time: now,
            del_flag,
        }
    }

    fn into_robot(self) -> Robot {
        Robot {
            id: self.id,
            group_name: self.group_name,
            web_hook_url: self.web_hook_url,
            corp_id: self.corp_id,
            strategy_ids: split_list(&self.sensitive_ids)
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect(),
            msg_type: self.msg_type,
        }
    }
}

/// `we_group_robot_msg`: each state of a post is a new version.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct PostRow {
    id: i64,
    robot_id: i64,
    destination: String,
    msg_title: String,
    msg_type: String,
    content: String,
    hit_keys: String,
    hit_count: u32,
    status: u8,
    attempts: u32,
    next_attempt: u64,
    last_error: String,
    send_time: u64,
    create_time: u64,
    update_time: u64,
}

impl PostRow {
    fn new(p: &AlertPost, update_time: u64) -> PostRow {
        PostRow {
            id: p.id,
            robot_id: p.destination.robot_id(),
            destination: p.destination.key(),
            msg_title: p.title.clone(),
            msg_type: p.msg_type.clone(),
            content: p.content.clone(),
            hit_keys: serde_json::to_string(&p.hits).unwrap_or_else(|_| "[]".into()),
            hit_count: u32::try_from(p.hits.len()).unwrap_or(u32::MAX),
            status: p.status.code(),
            attempts: p.attempts,
            next_attempt: p.next_attempt_ms.max(0) as u64,
            last_error: p.last_error.clone(),
            send_time: p.send_time_ms.max(0) as u64,
            create_time: p.create_time_ms.max(0) as u64,
            update_time,
        }
    }

    fn into_post(self) -> Option<AlertPost> {
        Some(AlertPost {
            id: self.id,
            destination: Destination::parse(&self.destination)?,
            title: self.msg_title,
            msg_type: self.msg_type,
            content: self.content,
            hits: serde_json::from_str(&self.hit_keys).unwrap_or_default(),
            status: PostStatus::from_code(self.status)?,
            attempts: self.attempts,
            next_attempt_ms: self.next_attempt as i64,
            last_error: self.last_error,
            send_time_ms: self.send_time as i64,
            create_time_ms: self.create_time as i64,
        })
    }
}

/// `we_group_robot_msg_hit`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct LinkRow {
    corp_id: String,
    msg_id: String,
    strategy_id: i64,
    destination: String,
    post_id: i64,
}

/// A post's id and status.
#[derive(Debug, Clone, Row, Deserialize)]
struct PostState {
    id: i64,
    status: u8,
}

pub fn robots(conn: &Connection) -> Result<Vec<Robot>, StoreError> {
    let q =
        conn.query("SELECT ?fields FROM we_group_robot_info FINAL WHERE del_flag = 0 ORDER BY id");
    let rows: Vec<RobotRow> = conn.fetch("listing robots", q)?;
    Ok(rows.into_iter().map(RobotRow::into_robot).collect())
}

pub fn add_robot(conn: &Connection, robot: &Robot) -> Result<i64, StoreError> {
    let last: Count = conn.fetch_one(
        "choosing a robot id",
        "SELECT toUInt64(max(id)) AS value FROM we_group_robot_info",
    )?;
    let id = last.value as i64 + 1;
    let row = RobotRow::new(
        &Robot {
            id,
            ..robot.clone()
        },
        0,
    );
    conn.insert("adding a robot", "we_group_robot_info", &[row])?;
    Ok(id)
}

pub fn remove_robot(conn: &Connection, id: i64) -> Result<(), StoreError> {
    let Some(robot) = robots(conn)?.into_iter().find(|r| r.id == id) else {
        return Err(StoreError::NotFound {
            what: "robot",
            key: id.to_string(),
        });
    };
    conn.insert(
        "removing a robot",
        "we_group_robot_info",
        &[RobotRow::new(&robot, 1)],
    )
}

/// The largest per-corp share `q` such that the corps' pending counts, each capped at `q`, fill
/// about `limit` (every corp gets `q`, or all it has when less).
fn share_of_page(counts: &[u64], limit: u64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total <= limit {
        return counts.iter().copied().max().unwrap_or(0);
    }
    let (mut lo, mut hi) = (1u64, limit.max(1));
    while lo < hi {
        let q = lo + (hi - lo).div_ceil(2);
        if counts.iter().map(|&c| c.min(q)).sum::<u64>() <= limit {
            lo = q;
        } else {
            hi = q - 1;
        }
    }
    if counts.iter().map(|&c| c.min(lo)).sum::<u64>() == limit {
        lo
    } else {
        lo + 1
    }
}

/// A pending hit's key and time.
#[derive(Debug, Clone, Row, Deserialize)]
struct PendingKey {
    corp_id: String,
    msg_id: String,
    strategy_id: i64,
    msg_time: u64,
}

/// Message ids bound in one query at most (the query text stays well under 18.16's 256 KiB).
const IDS_PER_QUERY: usize = 2_000;

/// The keys and times of the pending hits: those whose newest version has `send_status` 0, with
/// the routes of one bound array left out when `skipping`.
///
/// Without `FINAL`, which on 18.16 reads every row whole before filtering (2.1 s for the page of
/// a table of 3 million hits, every sender step): the candidates are the keys with any version
/// still at 0 (a `PREWHERE` on one column), and of those, the ones whose newest version is still
/// at 0. The same page took 0.02 s. `GLOBAL IN`: on a cluster the table is `Distributed`, and the
/// candidates are gathered once, on the server asked.
fn pending_keys_sql(skipping: bool) -> String {
    let skipped = if skipping {
        " AND concat(corp_id, '/', toString(strategy_id), '/', toString(audit_user_id != '')) \
         NOT IN (SELECT arrayJoin(?))"
    } else {
        ""
    };
    format!(
        "SELECT corp_id, msg_id, strategy_id, argMax(msg_time, update_time) AS msg_time \
         FROM we_chat_contact_sensitive_msg \
         PREWHERE (corp_id, msg_id, strategy_id) GLOBAL IN \
           (SELECT corp_id, msg_id, strategy_id FROM we_chat_contact_sensitive_msg \
            PREWHERE send_status = 0{skipped}) \
         GROUP BY corp_id, msg_id, strategy_id \
         HAVING argMax(send_status, update_time) = 0"
    )
}

/// Every corp's oldest pending hit first, then every corp's second, …: a corp catching up on
/// thousands of old alerts fills only what the others leave of the page. (ClickHouse 18.16 has
/// no window functions: the pending counts give each corp's share, `LIMIT n BY` takes it, and the
/// interleaving is done here.) Routes in `skip` are left out (by their keys, see `Route::key`).
pub fn pending_alerts(
    conn: &Connection,
    limit: u32,
    skip: &[Route],
) -> Result<Vec<PendingAlert>, StoreError> {
    let limit = limit.max(1);
    let routes: Vec<String> = skip.iter().map(Route::key).collect();
    let pending = pending_keys_sql(!routes.is_empty());
    let with_routes = |q: clickhouse::query::Query| {
        if routes.is_empty() {
            q
        } else {
            q.bind(routes.as_slice())
        }
    };
    let counts: Vec<NamedCount> = conn.fetch(
        "counting pending alerts by corp",
        with_routes(conn.query(&format!(
            "SELECT toInt64(0) AS id, corp_id AS name, count() AS value \
             FROM ({pending}) GROUP BY corp_id"
        ))),
    )?;
    if counts.is_empty() {
        return Ok(Vec::new());
    }
    let share = share_of_page(
        &counts.iter().map(|c| c.value).collect::<Vec<_>>(),
        u64::from(limit),
    );
    let q = with_routes(conn.query(&format!(
        "SELECT ?fields FROM ({pending}) \
         ORDER BY corp_id, msg_time, msg_id, strategy_id LIMIT ? BY corp_id"
    )))
    .bind(share);
    let keys: Vec<PendingKey> = conn.fetch("reading pending alerts", q)?;
    let mut ranked: Vec<(u64, PendingKey)> = Vec::with_capacity(keys.len());
    let mut rank = 0u64;
    for (i, key) in keys.into_iter().enumerate() {
        let same_corp = i > 0 && ranked.last().is_some_and(|(_, k)| k.corp_id == key.corp_id);
        rank = if same_corp { rank + 1 } else { 0 };
        ranked.push((rank, key));
    }
    ranked.sort_by(|(ra, a), (rb, b)| {
        (ra, a.msg_time, &a.msg_id, a.strategy_id).cmp(&(rb, b.msg_time, &b.msg_id, b.strategy_id))
    });
    ranked.truncate(limit as usize);
    if ranked.is_empty() {
        return Ok(Vec::new());
    }
    // The chosen hits whole: the newest version of each. Read in chunks of neighbours in the
    // table's order, each narrowed by its corps and time range, which the primary index prunes by.
    let mut newest: HashMap<HitKey, HitChRow> = HashMap::with_capacity(ranked.len());
    let mut by_place: Vec<&PendingKey> = ranked.iter().map(|(_, k)| k).collect();
    by_place.sort_by(|a, b| (&a.corp_id, a.msg_time).cmp(&(&b.corp_id, b.msg_time)));
    for chunk in by_place.chunks(IDS_PER_QUERY) {
        let mut corps: Vec<&str> = chunk.iter().map(|k| k.corp_id.as_str()).collect();
        corps.dedup();
        let ids: Vec<&str> = chunk.iter().map(|k| k.msg_id.as_str()).collect();
        let first = chunk.iter().map(|k| k.msg_time).min().unwrap_or(0);
        let last = chunk.iter().map(|k| k.msg_time).max().unwrap_or(u64::MAX);
        let q = conn
            .query(
                "SELECT ?fields FROM we_chat_contact_sensitive_msg \
                 PREWHERE corp_id IN (SELECT arrayJoin(?)) AND msg_time >= ? AND msg_time <= ? \
                 AND msg_id IN (SELECT arrayJoin(?))",
            )
            .bind(corps.as_slice())
            .bind(first)
            .bind(last)
            .bind(ids.as_slice());
        let rows: Vec<HitChRow> = conn.fetch("reading pending alerts' hits", q)?;
        for row in rows {
            let key = HitKey {
                corp_id: row.corp_id.clone(),
                msg_id: row.msg_id.clone(),
                strategy_id: row.strategy_id,
            };
            match newest.get(&key) {
                Some(have) if have.update_time >= row.update_time => {}
                _ => {
                    newest.insert(key, row);
                }
            }
        }
    }
    let hits: Vec<HitChRow> = ranked
        .into_iter()
        .filter_map(|(_, k)| {
            newest.remove(&HitKey {
                corp_id: k.corp_id,
                msg_id: k.msg_id,
                strategy_id: k.strategy_id,
            })
        })
        .filter(|row| row.send_status == 0)
        .collect();
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = hits.iter().map(|h| h.msg_id.as_str()).collect();
    let mut links: Vec<LinkRow> = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let q = conn
            .query(
                "SELECT DISTINCT ?fields FROM we_group_robot_msg_hit \
                 PREWHERE msg_id IN (SELECT arrayJoin(?))",
            )
            .bind(chunk);
        links.extend(conn.fetch::<LinkRow>("reading which posts carry pending alerts", q)?);
    }
    let post_ids: Vec<i64> = links.iter().map(|l| l.post_id).collect();
    let states: HashMap<i64, u8> = if post_ids.is_empty() {
        HashMap::new()
    } else {
        let q = conn
            .query(
                "SELECT id, status FROM we_group_robot_msg FINAL WHERE id IN (SELECT toInt64(arrayJoin(?)))",
            )
            .bind(post_ids.as_slice());
        let rows: Vec<PostState> = conn.fetch("reading the state of posts", q)?;
        rows.into_iter().map(|s| (s.id, s.status)).collect()
    };
    let mut by_hit: HashMap<HitKey, Vec<PostLink>> = HashMap::new();
    for l in links {
        let (Some(destination), Some(status)) = (
            Destination::parse(&l.destination),
            states
                .get(&l.post_id)
                .copied()
                .and_then(PostStatus::from_code),
        ) else {
            continue; // a link whose post row is not there yet: its post is resumed first
        };
        by_hit
            .entry(HitKey {
                corp_id: l.corp_id,
                msg_id: l.msg_id,
                strategy_id: l.strategy_id,
            })
            .or_default()
            .push(PostLink {
                destination,
                post_id: l.post_id,
                status,
            });
    }
    Ok(hits
        .into_iter()
        .map(|h| {
            let hit = h.into_hit();
            let links = by_hit.remove(&HitKey::of(&hit)).unwrap_or_default();
            PendingAlert { hit, links }
        })
        .collect())
}

pub fn alert_backlog(conn: &Connection) -> Result<u64, StoreError> {
    let n: Count = conn.fetch_one(
        "counting pending alerts",
        &format!("SELECT count() AS value FROM ({})", pending_keys_sql(false)),
    )?;
    Ok(n.value)
}

pub fn posts(conn: &Connection, q: &PostQuery) -> Result<Vec<AlertPost>, StoreError> {
    let mut f = Filter::new("SELECT ?fields FROM we_group_robot_msg FINAL WHERE 1 = 1");
    f.and_opt(
        "create_time >= ?",
        q.since_ms.map(|v| Value::U64(v.max(0) as u64)),
    );
    f.and_opt(
        "status = ?",
        q.status.map(|s| Value::U64(u64::from(s.code()))),
    );
    f.and_opt(
        "destination = ?",
        q.destination.as_ref().map(|d| Value::Str(d.key())),
    );
    f.push(
        " ORDER BY create_time DESC, id DESC LIMIT ?",
        [Value::U64(u64::from(q.limit.max(1)))],
    );
    let rows: Vec<PostRow> = conn.fetch("listing posts", f.bind(conn.query(&f.sql)))?;
    Ok(rows.into_iter().filter_map(PostRow::into_post).collect())
}

/// The post's new version; then, while it is pending, its links; then the hits it settles.
pub fn record_posts(
    conn: &Connection,
    posts: &[AlertPost],
    settled: &[(HitRow, u8)],
) -> Result<(), StoreError> {
    if !posts.is_empty() {
        let version = next_version();
        let rows: Vec<PostRow> = posts.iter().map(|p| PostRow::new(p, version)).collect();
        conn.insert("recording posts", "we_group_robot_msg", &rows)?;
    }
    let links: Vec<LinkRow> = posts
        .iter()
        .filter(|p| p.status == PostStatus::Pending)
        .flat_map(|post| {
            let destination = post.destination.key();
            post.hits.iter().map(move |k| LinkRow {
                corp_id: k.corp_id.clone(),
                msg_id: k.msg_id.clone(),
                strategy_id: k.strategy_id,
                destination: destination.clone(),
                post_id: post.id,
            })
        })
        .collect();
    if !links.is_empty() {
        conn.insert(
            "linking posts to their hits",
            "we_group_robot_msg_hit",
            &links,
        )?;
    }
    settle(conn, settled)
}

/// Writes a new version of each hit with its final `send_status`.
pub fn settle(conn: &Connection, settled: &[(HitRow, u8)]) -> Result<(), StoreError> {
    let version = next_version();
    let rows: Vec<HitChRow> = settled
        .iter()
        .map(|(h, status)| {
            HitChRow::new(
                &HitRow {
                    send_status: *status,
                    ..h.clone()
                },
                version,
            )
        })
        .collect();
    conn.insert(
        "settling hits' alert status",
        "we_chat_contact_sensitive_msg",
        &rows,
    )
}

impl OutboxStore for ClickHouseStore {
    fn robots(&self) -> Result<Vec<Robot>, StoreError> {
        robots(&self.conn)
    }

    fn add_robot(&self, robot: &Robot) -> Result<i64, StoreError> {
        add_robot(&self.conn, robot)
    }

    fn remove_robot(&self, id: i64) -> Result<(), StoreError> {
        remove_robot(&self.conn, id)
    }

    fn pending_alerts(&self, limit: u32, skip: &[Route]) -> Result<Vec<PendingAlert>, StoreError> {
        pending_alerts(&self.conn, limit, skip)
    }

    fn alert_backlog(&self) -> Result<u64, StoreError> {
        alert_backlog(&self.conn)
    }

    fn posts(&self, q: &PostQuery) -> Result<Vec<AlertPost>, StoreError> {
        posts(&self.conn, q)
    }

    fn record_posts(
        &self,
        posts: &[AlertPost],
        settled: &[(HitRow, u8)],
    ) -> Result<(), StoreError> {
        record_posts(&self.conn, posts, settled)
    }

    fn settle_alerts(&self, settled: &[(HitRow, u8)]) -> Result<(), StoreError> {
        settle(&self.conn, settled)
    }
}

#[cfg(test)]
mod tests {
    use super::share_of_page;

    #[test]
    fn each_corp_gets_an_even_share_of_the_page_and_a_lone_corp_all_of_it() {
        // One corp with a backlog, 500 with one alert each: the backlog gets what is left.
        let mut counts = vec![1u64; 500];
        counts.push(100_000);
        let q = share_of_page(&counts, 5_000);
        let taken: u64 = counts.iter().map(|&c| c.min(q)).sum();
        assert!(taken >= 5_000 && q >= 4_500, "q {q}, taken {taken}");
        assert_eq!(share_of_page(&[100_000], 5_000), 5_000);
        assert_eq!(share_of_page(&[3, 7], 5_000), 7, "everything fits");
        // Ten corps with backlogs share evenly.
        let q = share_of_page(&[10_000; 10], 5_000);
        assert_eq!(q, 500);
        assert_eq!(share_of_page(&[10_000, 10_000, 3], 5_000), 2_499);
    }
}
