//! The SQLite side of the workspace's access: accounts and the operation log.

use rusqlite::{Connection, params};

use super::rows::from_columns;
use super::{SqliteStore, sql};
use crate::store::{AccessStore, Account, OperLog, Role, StoreError};

pub(super) fn accounts(conn: &Connection) -> Result<Vec<Account>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT user_name, we_user_id, role, secret_hash, status, create_time
             FROM msgaudit_account ORDER BY user_name",
        )
        .map_err(sql("preparing the account list"))?;
    let rows = stmt
        .query_map([], |r| {
            let role = |name: String| Role::parse(&name).unwrap_or(Role::Auditor);
            Ok(from_columns!(r => Account {
                user_name, we_user_id, role as role, secret_hash,
                disabled as |status: i64| status != 0, create_time_ms,
            }))
        })
        .map_err(sql("listing accounts"))?;
    rows.collect::<Result<_, _>>()
        .map_err(sql("reading accounts"))
}

pub(super) fn save_account(conn: &Connection, a: &Account) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO msgaudit_account (user_name, we_user_id, role, secret_hash, status, create_time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (user_name) DO UPDATE SET we_user_id = excluded.we_user_id,
             role = excluded.role, secret_hash = excluded.secret_hash, status = excluded.status,
             update_time = CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        params![
            a.user_name,
            a.we_user_id,
            a.role.as_str(),
            a.secret_hash,
            i64::from(a.disabled),
            a.create_time_ms
        ],
    )
    .map_err(sql("saving an account"))?;
    Ok(())
}

pub(super) fn log_operation(conn: &Connection, op: &OperLog) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sys_oper_log (title, method, request_method, oper_name, oper_url, oper_ip,
             oper_param, status, oper_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            op.title,
            op.method,
            op.request_method,
            op.oper_name,
            op.oper_url,
            op.oper_ip,
            op.oper_param,
            op.status,
            op.oper_time_ms
        ])
    })
    .map_err(sql("recording an operation"))?;
    Ok(())
}

pub(super) fn operations(conn: &Connection, limit: u32) -> Result<Vec<OperLog>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT title, method, request_method, oper_name, oper_url, oper_ip, oper_param, status,
                    oper_time
             FROM sys_oper_log ORDER BY oper_time DESC, oper_id DESC LIMIT ?1",
        )
        .map_err(sql("preparing the operation log"))?;
    let rows = stmt
        .query_map([limit.max(1)], |r| {
            Ok(from_columns!(r => OperLog {
                title, method, request_method, oper_name, oper_url, oper_ip, oper_param, status,
                oper_time_ms,
            }))
        })
        .map_err(sql("reading the operation log"))?;
    rows.collect::<Result<_, _>>()
        .map_err(sql("reading the operation log"))
}

impl AccessStore for SqliteStore {
    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        accounts(&self.conn())
    }

    fn save_account(&self, account: &Account) -> Result<(), StoreError> {
        save_account(&self.conn(), account)
    }

    fn log_operation(&self, op: &OperLog) -> Result<(), StoreError> {
        log_operation(&self.conn(), op)
    }

    fn operations(&self, limit: u32) -> Result<Vec<OperLog>, StoreError> {
        operations(&self.conn(), limit)
    }
}
