//! The SQLite side of auditing: rules (`we_sensitive` and friends) with their version, strategy hits,
//! behaviour hits, and conversation context. Functions over a connection or transaction, called by
//! [`SqliteStore`](super::SqliteStore) so that hits commit in the same transaction as their batch.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::sqlite::Where;
use super::types::{
    ActHitRow, ContextQuery, DailyCount, HitCounts, HitQuery, HitRow, StoredHit, StoredMessage,
    split_list,
};
use crate::audit::rules::{ActSwitch, Department, Member, RuleSet, ScopeRow, Strategy};

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { context, source }
}

/// Inserts strategy hits, ignoring ones already stored; returns how many were new.
pub(super) fn insert_hits(conn: &Connection, hits: &[HitRow]) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO we_chat_contact_sensitive_msg
             (corp_id, msg_id, strategy_id, strategy_name, pattern_words, spans, content, from_id, to_list,
              room_id, msg_time, direction, audit_user_id, send_status, rules_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (corp_id, msg_time, msg_id, strategy_id) DO NOTHING",
        )
        .map_err(sql("preparing the hit insert"))?;
    let mut n = 0;
    for h in hits {
        let spans = serde_json::to_string(&h.spans).unwrap_or_else(|_| "[]".into());
        n += stmt
            .execute(params![
                h.corp_id,
                h.msg_id,
                h.strategy_id,
                h.strategy_name,
                h.words.join(","),
                spans,
                h.content,
                h.from_id,
                h.to_list,
                h.room_id,
                h.msg_time,
                h.direction,
                h.audit_user_id,
                h.send_status,
                h.rules_version as i64
            ])
            .map_err(sql("inserting a hit"))? as u64;
    }
    Ok(n)
}

/// Inserts behaviour hits, ignoring ones already stored; returns how many were new.
pub(super) fn insert_act_hits(conn: &Connection, hits: &[ActHitRow]) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO we_sensitive_act_hit
             (corp_id, msg_id, operator_id, operator, operate_target_id, operate_target, sensitive_act_id,
              sensitive_act, detail, msg_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (corp_id, msg_time, msg_id, sensitive_act_id) DO NOTHING",
        )
        .map_err(sql("preparing the behaviour-hit insert"))?;
    let mut n = 0;
    for h in hits {
        n += stmt
            .execute(params![
                h.corp_id,
                h.msg_id,
                h.operator_id,
                h.operator,
                h.operate_target_id,
                h.operate_target,
                h.sensitive_act_id,
                h.sensitive_act,
                h.detail,
                h.msg_time
            ])
            .map_err(sql("inserting a behaviour hit"))? as u64;
    }
    Ok(n)
}

pub(super) fn rules_version(conn: &Connection) -> Result<u64, StoreError> {
    conn.query_row(
        "SELECT version FROM msgaudit_rules_version WHERE id = 1",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v.max(0) as u64)
    .map_err(sql("reading the rules version"))
}

pub(super) fn load_rules(conn: &Connection) -> Result<RuleSet, StoreError> {
    let mut rules = RuleSet::default();
    let mut stmt = conn
        .prepare("SELECT dept_id, parent_id, dept_name FROM sys_dept WHERE del_flag = '0' ORDER BY dept_id")
        .map_err(sql("preparing the department query"))?;
    rules.departments = stmt
        .query_map([], |r| {
            Ok(Department {
                id: r.get(0)?,
                parent_id: r.get(1)?,
                name: r.get(2)?,
            })
        })
        .map_err(sql("reading departments"))?
        .collect::<Result<_, _>>()
        .map_err(sql("reading departments"))?;
    let mut stmt = conn
        .prepare(
            "SELECT u.we_user_id, u.user_name, COALESCE(GROUP_CONCAT(d.dept_id), '')
             FROM sys_user u LEFT JOIN sys_user_dept d ON d.user_id = u.user_id
             WHERE u.del_flag = '0' GROUP BY u.user_id ORDER BY u.user_id",
        )
        .map_err(sql("preparing the member query"))?;
    rules.members = stmt
        .query_map([], |r| {
            let depts: String = r.get(2)?;
            Ok(Member {
                userid: r.get(0)?,
                name: r.get(1)?,
                departments: depts.split(',').filter_map(|d| d.parse().ok()).collect(),
            })
        })
        .map_err(sql("reading members"))?
        .collect::<Result<_, _>>()
        .map_err(sql("reading members"))?;
    let mut stmt = conn
        .prepare(
            "SELECT id, strategy_name, pattern_words, allow_words, audit_user_id, audit_user_name, alert_flag,
                    enable_flag, normalize_flag, audit_received
             FROM we_sensitive WHERE del_flag = 0 ORDER BY id",
        )
        .map_err(sql("preparing the strategy query"))?;
    let strategies: Vec<Strategy> = stmt
        .query_map([], |r| {
            Ok(Strategy {
                id: r.get(0)?,
                name: r.get(1)?,
                words: split_list(&r.get::<_, String>(2)?),
                allow_words: split_list(&r.get::<_, String>(3)?),
                scope: Vec::new(),
                audit_user_id: r.get(4)?,
                audit_user_name: r.get(5)?,
                alert: r.get::<_, i64>(6)? == 1,
                enabled: r.get::<_, i64>(7)? == 1,
                normalize: r.get::<_, i64>(8)? == 1,
                audit_received: r.get::<_, i64>(9)? == 1,
            })
        })
        .map_err(sql("reading strategies"))?
        .collect::<Result<_, _>>()
        .map_err(sql("reading strategies"))?;
    rules.strategies = strategies;
    let mut stmt = conn
        .prepare(
            "SELECT sensitive_id, scope_type, audit_scope_id, audit_scope_name FROM we_sensitive_audit_scope
             WHERE del_flag = 0 ORDER BY id",
        )
        .map_err(sql("preparing the scope query"))?;
    let scopes: Vec<(i64, ScopeRow)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                ScopeRow {
                    kind: r.get::<_, i64>(1)? as u8,
                    id: r.get(2)?,
                    name: r.get(3)?,
                },
            ))
        })
        .map_err(sql("reading scopes"))?
        .collect::<Result<_, _>>()
        .map_err(sql("reading scopes"))?;
    for (sid, row) in scopes {
        if let Some(s) = rules.strategies.iter_mut().find(|s| s.id == sid) {
            s.scope.push(row);
        }
    }
    let mut stmt = conn
        .prepare("SELECT id, act_name, enable_flag FROM we_sensitive_act WHERE del_flag = 0 ORDER BY order_num, id")
        .map_err(sql("preparing the behaviour query"))?;
    rules.acts = stmt
        .query_map([], |r| {
            Ok(ActSwitch {
                id: r.get(0)?,
                name: r.get(1)?,
                enabled: r.get::<_, i64>(2)? == 1,
            })
        })
        .map_err(sql("reading behaviours"))?
        .collect::<Result<_, _>>()
        .map_err(sql("reading behaviours"))?;
    Ok(rules)
}

/// Replaces the rule set inside `tx` and bumps the version; returns the new version.
pub(super) fn save_rules(tx: &Connection, rules: &RuleSet) -> Result<u64, StoreError> {
    let e = sql("saving rules");
    tx.execute_batch(
        "DELETE FROM we_sensitive_audit_scope; DELETE FROM we_sensitive; DELETE FROM sys_user_dept;
         DELETE FROM sys_user; DELETE FROM sys_dept;",
    )
    .map_err(e)?;
    for d in &rules.departments {
        tx.execute(
            "INSERT INTO sys_dept (dept_id, parent_id, dept_name) VALUES (?1, ?2, ?3)",
            params![d.id, d.parent_id, d.name],
        )
        .map_err(sql("saving a department"))?;
    }
    for (i, m) in rules.members.iter().enumerate() {
        let uid = i as i64 + 1;
        tx.execute(
            "INSERT INTO sys_user (user_id, we_user_id, user_name) VALUES (?1, ?2, ?3)",
            params![uid, m.userid, m.name],
        )
        .map_err(sql("saving a member"))?;
        for d in &m.departments {
            tx.execute(
                "INSERT INTO sys_user_dept (user_id, dept_id, we_user_id) VALUES (?1, ?2, ?3)",
                params![uid, d, m.userid],
            )
            .map_err(sql("saving a member's department"))?;
        }
    }
    for s in &rules.strategies {
        tx.execute(
            "INSERT INTO we_sensitive (id, strategy_name, pattern_words, allow_words, audit_user_id, audit_user_name,
                 alert_flag, enable_flag, normalize_flag, audit_received, update_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
            params![
                s.id,
                s.name,
                s.words.join(","),
                s.allow_words.join(","),
                s.audit_user_id,
                s.audit_user_name,
                s.alert as i64,
                s.enabled as i64,
                s.normalize as i64,
                s.audit_received as i64
            ],
        )
        .map_err(sql("saving a strategy"))?;
        for r in &s.scope {
            tx.execute(
                "INSERT INTO we_sensitive_audit_scope (sensitive_id, scope_type, audit_scope_id, audit_scope_name)
                 VALUES (?1, ?2, ?3, ?4)",
                params![s.id, r.kind, r.id, r.name],
            )
            .map_err(sql("saving a scope row"))?;
        }
    }
    for a in &rules.acts {
        tx.execute(
            "UPDATE we_sensitive_act SET enable_flag = ?2 WHERE id = ?1",
            params![a.id, a.enabled as i64],
        )
        .map_err(sql("saving a behaviour switch"))?;
    }
    tx.execute(
        "UPDATE msgaudit_rules_version SET version = version + 1 WHERE id = 1",
        [],
    )
    .map_err(sql("bumping the rules version"))?;
    rules_version(tx)
}

fn hit_from(r: &Row<'_>) -> rusqlite::Result<StoredHit> {
    let spans: String = r.get(5)?;
    Ok(StoredHit {
        hit: HitRow {
            corp_id: r.get(0)?,
            msg_id: r.get(1)?,
            strategy_id: r.get(2)?,
            strategy_name: r.get(3)?,
            words: split_list(&r.get::<_, String>(4)?),
            spans: serde_json::from_str(&spans).unwrap_or_default(),
            content: r.get(6)?,
            from_id: r.get(7)?,
            to_list: r.get(8)?,
            room_id: r.get(9)?,
            msg_time: r.get(10)?,
            direction: r.get(11)?,
            audit_user_id: r.get(12)?,
            send_status: r.get::<_, i64>(13)? as u8,
            rules_version: r.get::<_, i64>(14)?.max(0) as u64,
        },
    })
}

/// The filters of a hit query (`strategy` = the strategy-hit table, else the behaviour-hit table).
fn hit_filters(q: &HitQuery, w: &mut Where, strategy: bool) {
    w.and_opt("corp_id = ?", q.corp_id.clone());
    w.and_opt("msg_time >= ?", q.since_ms);
    w.and_opt("msg_time < ?", q.until_ms);
    w.and_opt("msg_id = ?", q.msg_id.clone());
    w.and_opt(
        if strategy {
            "from_id = ?"
        } else {
            "operator_id = ?"
        },
        q.from_id.clone(),
    );
    if strategy {
        w.and_opt("strategy_id = ?", q.strategy_id);
        w.and_opt("room_id = ?", q.room_id.clone());
        w.and_opt("send_status = ?", q.send_status.map(i64::from));
        w.and_opt(
            "instr(',' || pattern_words || ',', ',' || ? || ',') > 0",
            q.word.clone(),
        );
        w.and_opt(
            "instr(',' || to_list || ',', ',' || ? || ',') > 0",
            q.to_id.clone(),
        );
        if let Some(ids) = &q.strategy_ids {
            let values = ids.iter().map(|&i| i.into()).collect();
            in_list(w, "strategy_id", values);
        }
    } else {
        w.and_opt("sensitive_act_id = ?", q.act_id);
        if let Some(ids) = &q.operator_ids {
            let values = ids.iter().map(|i| i.clone().into()).collect();
            in_list(w, "operator_id", values);
        }
    }
    if let Some(c) = &q.after {
        let id = if strategy {
            "strategy_id"
        } else {
            "sensitive_act_id"
        };
        w.and_all(
            &format!(
                "(msg_time < ? OR (msg_time = ? AND (msg_id < ? OR (msg_id = ? AND {id} > ?))))"
            ),
            vec![
                c.msg_time.into(),
                c.msg_time.into(),
                c.msg_id.clone().into(),
                c.msg_id.clone().into(),
                c.id.into(),
            ],
        );
    }
}

/// ` AND column IN (…)`; nothing matches an empty list.
fn in_list(w: &mut Where, column: &str, values: Vec<rusqlite::types::Value>) {
    if values.is_empty() {
        w.sql.push_str(" AND 0");
        return;
    }
    let marks = vec!["?"; values.len()].join(", ");
    w.and_all(&format!("{column} IN ({marks})"), values);
}

/// Hits per UTC day, per strategy and per behaviour, oldest day first.
pub(super) fn daily_counts(conn: &Connection, q: &HitQuery) -> Result<Vec<DailyCount>, StoreError> {
    let mut out = Vec::new();
    for (strategy, select, group) in [
        (
            true,
            "SELECT strftime('%Y-%m-%d', msg_time / 1000, 'unixepoch') AS day, strategy_id,
                    MAX(strategy_name), COUNT(*) FROM we_chat_contact_sensitive_msg WHERE del_flag = 0",
            " GROUP BY day, strategy_id ORDER BY day, strategy_id",
        ),
        (
            false,
            "SELECT strftime('%Y-%m-%d', msg_time / 1000, 'unixepoch') AS day, sensitive_act_id,
                    MAX(sensitive_act), COUNT(*) FROM we_sensitive_act_hit WHERE del_flag = 0",
            " GROUP BY day, sensitive_act_id ORDER BY day, sensitive_act_id",
        ),
    ] {
        let mut w = Where::new(select.to_owned());
        let q = HitQuery {
            after: None,
            ..q.clone()
        };
        hit_filters(&q, &mut w, strategy);
        w.sql.push_str(group);
        let mut stmt = conn.prepare(&w.sql).map_err(sql("preparing daily counts"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(w.args), |r| {
                Ok(DailyCount {
                    day: r.get(0)?,
                    kind: if strategy { "strategy" } else { "behaviour" },
                    id: r.get(1)?,
                    name: r.get(2)?,
                    count: r.get::<_, i64>(3)?.max(0) as u64,
                })
            })
            .map_err(sql("counting hits per day"))?;
        for r in rows {
            out.push(r.map_err(sql("reading daily counts"))?);
        }
    }
    Ok(out)
}

const HIT_COLUMNS: &str =
    "corp_id, msg_id, strategy_id, strategy_name, pattern_words, spans, content,
     from_id, to_list, room_id, msg_time, direction, audit_user_id, send_status, rules_version";

/// Hits matching a fixed condition, in the order `tail` gives (with its limit).
pub(super) fn query_hits_where(
    conn: &Connection,
    condition: &str,
    tail: &str,
) -> Result<Vec<HitRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {HIT_COLUMNS} FROM we_chat_contact_sensitive_msg WHERE {condition} {tail}"
        ))
        .map_err(sql("preparing a hit query"))?;
    let rows = stmt.query_map([], hit_from).map_err(sql("querying hits"))?;
    rows.map(|r| r.map(|h| h.hit))
        .collect::<Result<_, _>>()
        .map_err(sql("reading hits"))
}

pub(super) fn query_hits(conn: &Connection, q: &HitQuery) -> Result<Vec<StoredHit>, StoreError> {
    let mut w = Where::new(format!(
        "SELECT {HIT_COLUMNS} FROM we_chat_contact_sensitive_msg WHERE del_flag = 0"
    ));
    hit_filters(q, &mut w, true);
    w.sql.push_str(&format!(
        " ORDER BY msg_time DESC, msg_id DESC, strategy_id LIMIT {}",
        q.limit.max(1)
    ));
    let mut stmt = conn.prepare(&w.sql).map_err(sql("preparing a hit query"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(w.args), hit_from)
        .map_err(sql("querying hits"))?;
    rows.collect::<Result<_, _>>().map_err(sql("reading hits"))
}

pub(super) fn query_act_hits(
    conn: &Connection,
    q: &HitQuery,
) -> Result<Vec<ActHitRow>, StoreError> {
    let mut w = Where::new(
        "SELECT corp_id, msg_id, sensitive_act_id, sensitive_act, operator_id, operator, operate_target_id,
                operate_target, detail, msg_time
         FROM we_sensitive_act_hit WHERE del_flag = 0"
            .to_owned(),
    );
    hit_filters(q, &mut w, false);
    w.sql.push_str(&format!(
        " ORDER BY msg_time DESC, msg_id DESC, sensitive_act_id LIMIT {}",
        q.limit.max(1)
    ));
    let mut stmt = conn
        .prepare(&w.sql)
        .map_err(sql("preparing a behaviour-hit query"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(w.args), |r| {
            Ok(ActHitRow {
                corp_id: r.get(0)?,
                msg_id: r.get(1)?,
                sensitive_act_id: r.get(2)?,
                sensitive_act: r.get(3)?,
                operator_id: r.get(4)?,
                operator: r.get(5)?,
                operate_target_id: r.get(6)?,
                operate_target: r.get(7)?,
                detail: r.get(8)?,
                msg_time: r.get(9)?,
            })
        })
        .map_err(sql("querying behaviour hits"))?;
    rows.collect::<Result<_, _>>()
        .map_err(sql("reading behaviour hits"))
}

pub(super) fn context(
    conn: &Connection,
    q: &ContextQuery,
    columns: &str,
    message_from: fn(&Row<'_>) -> rusqlite::Result<StoredMessage>,
) -> Result<Vec<StoredMessage>, StoreError> {
    let center = conn
        .query_row(
            &format!(
                "SELECT {columns} FROM we_chat_contact_msg
                 WHERE corp_id = ?1 AND msg_time = ?2 AND msg_id = ?3"
            ),
            params![q.corp_id, q.msg_time, q.msg_id],
            message_from,
        )
        .optional()
        .map_err(sql("finding the message"))?
        .ok_or_else(|| StoreError::NotFound {
            what: "message",
            key: format!("{} {}", q.corp_id, q.msg_id),
        })?;
    let r = &center.row;
    let (chat, a, b) = if r.room_id.is_empty() {
        (
            "room_id = '' AND ((from_id = ?3 AND to_list = ?4) OR (from_id = ?4 AND to_list = ?3))",
            r.from_id.clone(),
            r.to_list.clone(),
        )
    } else {
        ("room_id = ?3 AND ?4 = ?4", r.room_id.clone(), String::new())
    };
    let side = |cmp: &str, order: &str| -> Result<Vec<StoredMessage>, StoreError> {
        let text = format!(
            "SELECT {columns} FROM we_chat_contact_msg WHERE corp_id = ?1 AND {chat}
             AND (msg_time {cmp} ?2 OR (msg_time = ?2 AND seq {cmp} ?5)) ORDER BY msg_time {order}, seq {order} LIMIT ?6"
        );
        let mut stmt = conn
            .prepare(&text)
            .map_err(sql("preparing a context query"))?;
        let rows = stmt
            .query_map(
                params![q.corp_id, r.msg_time, a, b, r.seq as i64, q.around],
                message_from,
            )
            .map_err(sql("querying context"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("reading context"))
    };
    let mut before = side("<", "DESC")?;
    before.reverse();
    let after = side(">", "ASC")?;
    before.push(center);
    before.extend(after);
    Ok(before)
}

pub(super) fn hit_counts(
    conn: &Connection,
    corp_id: Option<&str>,
) -> Result<HitCounts, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT strategy_id, MAX(strategy_name), COUNT(*) FROM we_chat_contact_sensitive_msg
             WHERE del_flag = 0 AND (?1 IS NULL OR corp_id = ?1) GROUP BY strategy_id ORDER BY strategy_id",
        )
        .map_err(sql("preparing hit counts"))?;
    let strategies = stmt
        .query_map([corp_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
        })
        .map_err(sql("counting hits"))?
        .collect::<Result<_, _>>()
        .map_err(sql("counting hits"))?;
    let mut stmt = conn
        .prepare(
            "SELECT sensitive_act, COUNT(*) FROM we_sensitive_act_hit
             WHERE del_flag = 0 AND (?1 IS NULL OR corp_id = ?1) GROUP BY sensitive_act_id ORDER BY sensitive_act_id",
        )
        .map_err(sql("preparing behaviour counts"))?;
    let acts = stmt
        .query_map([corp_id], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })
        .map_err(sql("counting behaviour hits"))?
        .collect::<Result<_, _>>()
        .map_err(sql("counting behaviour hits"))?;
    Ok(HitCounts { strategies, acts })
}
