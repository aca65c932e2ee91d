//! The rule set: strategies, scopes, organisation and behaviour switches, and the rules version
//! every change bumps in the same transaction.

use rusqlite::{Connection, params};

use super::rows::from_columns;
use super::{SqliteStore, select, sql};
use crate::audit::rules::{ActSwitch, Department, Member, RuleSet, ScopeRow, Strategy};
use crate::store::{RulesStore, StoreError, split_list};

fn rules_version(conn: &Connection) -> Result<u64, StoreError> {
    conn.query_row(
        "SELECT version FROM msgaudit_rules_version WHERE id = 1",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v.max(0) as u64)
    .map_err(sql("reading the rules version"))
}

fn load_rules(conn: &Connection) -> Result<RuleSet, StoreError> {
    let departments = select(
        conn,
        "SELECT dept_id, parent_id, dept_name FROM sys_dept WHERE del_flag = '0' ORDER BY dept_id",
        [],
        "reading departments",
        |r| Ok(from_columns!(r => Department { id, parent_id, name })),
    )?;
    let members = select(
        conn,
        "SELECT u.we_user_id, u.user_name, COALESCE(GROUP_CONCAT(d.dept_id), '')
             FROM sys_user u LEFT JOIN sys_user_dept d ON d.user_id = u.user_id
             WHERE u.del_flag = '0' GROUP BY u.user_id ORDER BY u.user_id",
        [],
        "reading members",
        |r| {
            let ids = |list: String| list.split(',').filter_map(|d| d.parse().ok()).collect();
            Ok(from_columns!(r => Member { userid, name, departments as ids }))
        },
    )?;
    let mut stmt = conn
        .prepare(
            "SELECT id, strategy_name, pattern_words, allow_words, audit_user_id, audit_user_name, alert_flag,
                    enable_flag, normalize_flag, audit_received, pinyin_flag, sound_alike_flag
             FROM we_sensitive WHERE del_flag = 0 ORDER BY id",
        )
        .map_err(sql("preparing the strategy query"))?;
    let mut strategies: Vec<Strategy> = stmt
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
                pinyin: r.get::<_, i64>(10)? == 1,
                sound_alike: r.get::<_, i64>(11)? == 1,
            })
        })
        .map_err(sql("reading strategies"))?
        .collect::<Result<_, _>>()
        .map_err(sql("reading strategies"))?;
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
        if let Some(s) = strategies.iter_mut().find(|s| s.id == sid) {
            s.scope.push(row);
        }
    }
    let acts = select(
        conn,
        "SELECT id, act_name, enable_flag FROM we_sensitive_act WHERE del_flag = 0 ORDER BY order_num, id",
        [],
        "reading behaviours",
        |r| Ok(from_columns!(r => ActSwitch { id, name, enabled as |flag: i64| flag == 1 })),
    )?;
    let url_allow = select(
        conn,
        "SELECT domain FROM msgaudit_url_allow ORDER BY domain",
        [],
        "reading url_allow",
        |r| r.get(0),
    )?;
    Ok(RuleSet {
        departments,
        members,
        strategies,
        acts,
        url_allow,
    })
}

/// Replaces the rule set inside `tx` and bumps the version; returns the new version.
fn save_rules(tx: &Connection, rules: &RuleSet) -> Result<u64, StoreError> {
    let e = sql("saving rules");
    tx.execute_batch(
        "UPDATE we_sensitive_audit_scope SET del_flag = 1 WHERE del_flag = 0;
         UPDATE we_sensitive SET del_flag = 1, update_time = CAST(unixepoch('subsec') * 1000 AS INTEGER)
          WHERE del_flag = 0;
         DELETE FROM sys_user_dept; DELETE FROM sys_user; DELETE FROM sys_dept; DELETE FROM msgaudit_url_allow;",
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
            // Every strategy was marked deleted above; the ones kept come back (a deleted one
            // stays, with its name, for the hits that name it).
            "INSERT INTO we_sensitive (id, strategy_name, pattern_words, allow_words, audit_user_id, audit_user_name,
                 alert_flag, enable_flag, normalize_flag, audit_received, pinyin_flag, sound_alike_flag,
                 update_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                     CAST(unixepoch('subsec') * 1000 AS INTEGER))
             ON CONFLICT (id) DO UPDATE SET strategy_name = excluded.strategy_name,
                 pattern_words = excluded.pattern_words, allow_words = excluded.allow_words,
                 audit_user_id = excluded.audit_user_id, audit_user_name = excluded.audit_user_name,
                 alert_flag = excluded.alert_flag, enable_flag = excluded.enable_flag,
                 normalize_flag = excluded.normalize_flag, audit_received = excluded.audit_received,
                 pinyin_flag = excluded.pinyin_flag, sound_alike_flag = excluded.sound_alike_flag,
                 update_time = excluded.update_time, del_flag = 0",
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
                s.audit_received as i64,
                s.pinyin as i64,
                s.sound_alike as i64
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
    for d in &rules.url_allow {
        tx.execute(
            "INSERT INTO msgaudit_url_allow (domain) VALUES (?1) ON CONFLICT DO NOTHING",
            [d],
        )
        .map_err(sql("saving url_allow"))?;
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

impl RulesStore for SqliteStore {
    fn rules_version(&self) -> Result<u64, StoreError> {
        rules_version(&self.conn())
    }

    fn load_rules(&self) -> Result<crate::audit::RuleSet, StoreError> {
        load_rules(&self.conn())
    }

    fn last_strategy_id(&self) -> Result<i64, StoreError> {
        self.conn()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM we_sensitive", [], |r| {
                r.get(0)
            })
            .map_err(sql("reading the last strategy id"))
    }

    fn save_rules(&self, rules: &crate::audit::RuleSet) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a rules change"))?;
        let version = save_rules(&tx, rules)?;
        tx.commit().map_err(sql("committing a rules change"))?;
        Ok(version)
    }
}
