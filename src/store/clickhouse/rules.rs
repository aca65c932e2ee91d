//! The rule set on ClickHouse: every save writes the whole set again under a new version (rule sets
//! are small), and the version row goes in last, so readers see whole versions only. See
//! `migrations/clickhouse/0002_audit.sql`.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::rows::Count;
use super::{ClickHouseStore, Connection};
use crate::audit::RuleSet;
use crate::audit::rules::{ActSwitch, Department, Member, ScopeRow, Strategy};
use crate::store::types::split_list;
use crate::store::{RulesStore, StoreError};

#[derive(Row, Serialize, Deserialize)]
struct VersionRow {
    version: u64,
    update_time: u64,
}

#[derive(Row, Serialize, Deserialize)]
struct DeptRow {
    rules_version: u64,
    dept_id: i64,
    parent_id: i64,
    dept_name: String,
}

#[derive(Row, Serialize, Deserialize)]
struct UserRow {
    rules_version: u64,
    user_id: i64,
    we_user_id: String,
    user_name: String,
}

#[derive(Row, Serialize, Deserialize)]
struct UserDeptRow {
    rules_version: u64,
    we_user_id: String,
    dept_id: i64,
}

#[derive(Row, Serialize, Deserialize)]
struct StrategyRow {
    rules_version: u64,
    id: i64,
    strategy_name: String,
    pattern_words: String,
    allow_words: String,
    audit_user_id: String,
    audit_user_name: String,
    alert_flag: u8,
    enable_flag: u8,
    normalize_flag: u8,
    audit_received: u8,
    update_time: u64,
}

/// `msgaudit_strategy_matching`: round 2's switches of a strategy.
#[derive(Row, Serialize, Deserialize)]
struct MatchingRow {
    rules_version: u64,
    id: i64,
    pinyin_flag: u8,
    sound_alike_flag: u8,
}

#[derive(Row, Serialize, Deserialize)]
struct ScopeChRow {
    rules_version: u64,
    sensitive_id: i64,
    position: u32,
    scope_type: u8,
    audit_scope_id: String,
    audit_scope_name: String,
}

#[derive(Row, Serialize, Deserialize)]
struct UrlAllowRow {
    rules_version: u64,
    domain: String,
}

#[derive(Row, Serialize, Deserialize)]
struct ActRow {
    id: u32,
    act_name: String,
    order_num: u32,
    enable_flag: u8,
    update_time: u64,
}

/// The latest rules version.
pub(super) fn version(conn: &Connection) -> Result<u64, StoreError> {
    let found: Vec<Count> = conn.fetch(
        "reading the rules version",
        conn.query("SELECT max(version) AS value FROM msgaudit_rules_version"),
    )?;
    Ok(found.first().map_or(0, |c| c.value))
}

fn rows_of<T>(
    conn: &Connection,
    context: &'static str,
    table: &str,
    version: u64,
    order: &str,
) -> Result<Vec<T>, StoreError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    conn.fetch(
        context,
        conn.query(&format!(
            "SELECT ?fields FROM {table} WHERE rules_version = ? ORDER BY {order}"
        ))
        .bind(version),
    )
}

/// The rule set of the latest version.
pub(super) fn load(conn: &Connection) -> Result<RuleSet, StoreError> {
    let v = version(conn)?;
    let departments: Vec<DeptRow> = rows_of(conn, "reading departments", "sys_dept", v, "dept_id")?;
    let users: Vec<UserRow> = rows_of(conn, "reading members", "sys_user", v, "user_id")?;
    let user_depts: Vec<UserDeptRow> = rows_of(
        conn,
        "reading members' departments",
        "sys_user_dept",
        v,
        "we_user_id, dept_id",
    )?;
    let strategies: Vec<StrategyRow> =
        rows_of(conn, "reading strategies", "we_sensitive", v, "id")?;
    let matching: Vec<MatchingRow> = rows_of(
        conn,
        "reading strategies' matching switches",
        "msgaudit_strategy_matching",
        v,
        "id",
    )?;
    let scopes: Vec<ScopeChRow> = rows_of(
        conn,
        "reading scopes",
        "we_sensitive_audit_scope",
        v,
        "sensitive_id, position",
    )?;
    let acts: Vec<ActRow> = conn.fetch(
        "reading behaviours",
        conn.query("SELECT ?fields FROM we_sensitive_act FINAL ORDER BY order_num, id"),
    )?;
    let url_allow: Vec<UrlAllowRow> =
        rows_of(conn, "reading url_allow", "msgaudit_url_allow", v, "domain")?;
    let mut rules = RuleSet {
        url_allow: url_allow.into_iter().map(|u| u.domain).collect(),
        departments: departments
            .into_iter()
            .map(|d| Department {
                id: d.dept_id,
                parent_id: d.parent_id,
                name: d.dept_name,
            })
            .collect(),
        members: users
            .into_iter()
            .map(|u| Member {
                departments: user_depts
                    .iter()
                    .filter(|d| d.we_user_id == u.we_user_id)
                    .map(|d| d.dept_id)
                    .collect(),
                userid: u.we_user_id,
                name: u.user_name,
            })
            .collect(),
        strategies: strategies
            .into_iter()
            .map(|s| {
                // Round 2's switches; a strategy saved before them has the defaults.
                let m = matching.iter().find(|m| m.id == s.id);
                Strategy {
                    id: s.id,
                    name: s.strategy_name,
                    words: split_list(&s.pattern_words),
                    allow_words: split_list(&s.allow_words),
                    scope: Vec::new(),
                    audit_user_id: s.audit_user_id,
                    audit_user_name: s.audit_user_name,
                    enabled: s.enable_flag == 1,
                    alert: s.alert_flag == 1,
                    normalize: s.normalize_flag == 1,
                    audit_received: s.audit_received == 1,
                    pinyin: m.is_none_or(|m| m.pinyin_flag == 1),
                    sound_alike: m.is_some_and(|m| m.sound_alike_flag == 1),
                }
            })
            .collect(),
        acts: acts
            .into_iter()
            .map(|a| ActSwitch {
                id: i64::from(a.id),
                name: a.act_name,
                enabled: a.enable_flag == 1,
            })
            .collect(),
    };
    for row in scopes {
        if let Some(s) = rules
            .strategies
            .iter_mut()
            .find(|s| s.id == row.sensitive_id)
        {
            s.scope.push(ScopeRow {
                kind: row.scope_type,
                id: row.audit_scope_id,
                name: row.audit_scope_name,
            });
        }
    }
    Ok(rules)
}

/// Writes `rules` as a new version; returns it.
pub(super) fn save(conn: &Connection, rules: &RuleSet) -> Result<u64, StoreError> {
    let now = crate::timefmt::now_ms().max(0) as u64;
    let v = (version(conn)? + 1).max(now);
    let departments: Vec<DeptRow> = rules
        .departments
        .iter()
        .map(|d| DeptRow {
            rules_version: v,
            dept_id: d.id,
            parent_id: d.parent_id,
            dept_name: d.name.clone(),
        })
        .collect();
    let users: Vec<UserRow> = rules
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| UserRow {
            rules_version: v,
            user_id: i as i64 + 1,
            we_user_id: m.userid.clone(),
            user_name: m.name.clone(),
        })
        .collect();
    let user_depts: Vec<UserDeptRow> = rules
        .members
        .iter()
        .flat_map(|m| {
            m.departments.iter().map(|&d| UserDeptRow {
                rules_version: v,
                we_user_id: m.userid.clone(),
                dept_id: d,
            })
        })
        .collect();
    let strategies: Vec<StrategyRow> = rules
        .strategies
        .iter()
        .map(|s| StrategyRow {
            rules_version: v,
            id: s.id,
            strategy_name: s.name.clone(),
            pattern_words: s.words.join(","),
            allow_words: s.allow_words.join(","),
            audit_user_id: s.audit_user_id.clone(),
            audit_user_name: s.audit_user_name.clone(),
            alert_flag: u8::from(s.alert),
            enable_flag: u8::from(s.enabled),
            normalize_flag: u8::from(s.normalize),
            audit_received: u8::from(s.audit_received),
            update_time: now,
        })
        .collect();
    let scopes: Vec<ScopeChRow> = rules
        .strategies
        .iter()
        .flat_map(|s| {
            s.scope.iter().enumerate().map(move |(i, r)| ScopeChRow {
                rules_version: v,
                sensitive_id: s.id,
                position: i as u32,
                scope_type: r.kind,
                audit_scope_id: r.id.clone(),
                audit_scope_name: r.name.clone(),
            })
        })
        .collect();
    let current: Vec<ActRow> = conn.fetch(
        "reading behaviours",
        conn.query("SELECT ?fields FROM we_sensitive_act FINAL ORDER BY id"),
    )?;
    let acts: Vec<ActRow> = current
        .into_iter()
        .filter_map(|a| {
            let switch = rules.acts.iter().find(|s| s.id == i64::from(a.id))?;
            Some(ActRow {
                enable_flag: u8::from(switch.enabled),
                update_time: now.max(a.update_time + 1),
                ..a
            })
        })
        .collect();
    conn.insert("saving departments", "sys_dept", &departments)?;
    conn.insert("saving members", "sys_user", &users)?;
    conn.insert("saving members' departments", "sys_user_dept", &user_depts)?;
    conn.insert("saving strategies", "we_sensitive", &strategies)?;
    let matching: Vec<MatchingRow> = rules
        .strategies
        .iter()
        .map(|s| MatchingRow {
            rules_version: v,
            id: s.id,
            pinyin_flag: u8::from(s.pinyin),
            sound_alike_flag: u8::from(s.sound_alike),
        })
        .collect();
    conn.insert(
        "saving strategies' matching switches",
        "msgaudit_strategy_matching",
        &matching,
    )?;
    conn.insert("saving scopes", "we_sensitive_audit_scope", &scopes)?;
    conn.insert("saving behaviour switches", "we_sensitive_act", &acts)?;
    let url_allow: Vec<UrlAllowRow> = rules
        .url_allow
        .iter()
        .map(|d| UrlAllowRow {
            rules_version: v,
            domain: d.clone(),
        })
        .collect();
    conn.insert("saving url_allow", "msgaudit_url_allow", &url_allow)?;
    conn.insert(
        "recording the rules version",
        "msgaudit_rules_version",
        &[VersionRow {
            version: v,
            update_time: now,
        }],
    )?;
    Ok(v)
}

impl RulesStore for ClickHouseStore {
    fn rules_version(&self) -> Result<u64, StoreError> {
        version(&self.conn)
    }

    fn load_rules(&self) -> Result<RuleSet, StoreError> {
        load(&self.conn)
    }

    fn save_rules(&self, rules: &RuleSet) -> Result<u64, StoreError> {
        save(&self.conn, rules)
    }

    fn last_strategy_id(&self) -> Result<i64, StoreError> {
        // Every version, so a strategy deleted since still holds its id.
        let rows: Vec<LastId> = self.conn.fetch(
            "reading the last strategy id",
            self.conn
                .query("SELECT toInt64(max(id)) AS id FROM we_sensitive"),
        )?;
        Ok(rows.first().map_or(0, |r| r.id))
    }
}

/// The largest strategy id of every version.
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
struct LastId {
    id: i64,
}
