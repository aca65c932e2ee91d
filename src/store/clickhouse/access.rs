//! The workspace's accounts (versioned rows, read with `FINAL`) and operation log on ClickHouse.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::{ClickHouseStore, Connection};
use crate::store::access::{Account, OperLog, Role};
use crate::store::{AccessStore, StoreError};

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct AccountRow {
    user_name: String,
    we_user_id: String,
    role: String,
    secret_hash: String,
    status: u8,
    create_time: u64,
    update_time: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct OperRow {
    title: String,
    method: String,
    request_method: String,
    oper_name: String,
    oper_url: String,
    oper_ip: String,
    oper_param: String,
    status: u8,
    oper_time: u64,
}

pub fn accounts(conn: &Connection) -> Result<Vec<Account>, StoreError> {
    let q = conn.query("SELECT ?fields FROM msgaudit_account FINAL ORDER BY user_name");
    let rows: Vec<AccountRow> = conn.fetch("listing accounts", q)?;
    Ok(rows
        .into_iter()
        .map(|r| Account {
            role: Role::parse(&r.role).unwrap_or(Role::Auditor),
            user_name: r.user_name,
            we_user_id: r.we_user_id,
            secret_hash: r.secret_hash,
            disabled: r.status != 0,
            create_time_ms: r.create_time as i64,
        })
        .collect())
}

pub fn save_account(conn: &Connection, a: &Account) -> Result<(), StoreError> {
    let row = AccountRow {
        user_name: a.user_name.clone(),
        we_user_id: a.we_user_id.clone(),
        role: a.role.as_str().to_owned(),
        secret_hash: a.secret_hash.clone(),
        status: u8::from(a.disabled),
        create_time: a.create_time_ms.max(0) as u64,
        update_time: super::next_version(),
    };
    conn.insert("saving an account", "msgaudit_account", &[row])
}

pub fn log_operation(conn: &Connection, op: &OperLog) -> Result<(), StoreError> {
    let row = OperRow {
        title: op.title.clone(),
        method: op.method.clone(),
        request_method: op.request_method.clone(),
        oper_name: op.oper_name.clone(),
        oper_url: op.oper_url.clone(),
        oper_ip: op.oper_ip.clone(),
        oper_param: op.oper_param.clone(),
        status: op.status,
        oper_time: op.oper_time_ms.max(0) as u64,
    };
    conn.insert("recording an operation", "sys_oper_log", &[row])
}

pub fn operations(conn: &Connection, limit: u32) -> Result<Vec<OperLog>, StoreError> {
    let q = conn
        .query("SELECT ?fields FROM sys_oper_log ORDER BY oper_time DESC LIMIT ?")
        .bind(limit.max(1));
    let rows: Vec<OperRow> = conn.fetch("reading the operation log", q)?;
    Ok(rows
        .into_iter()
        .map(|r| OperLog {
            title: r.title,
            method: r.method,
            request_method: r.request_method,
            oper_name: r.oper_name,
            oper_url: r.oper_url,
            oper_ip: r.oper_ip,
            oper_param: r.oper_param,
            status: r.status,
            oper_time_ms: r.oper_time as i64,
        })
        .collect())
}

impl AccessStore for ClickHouseStore {
    fn accounts(&self) -> Result<Vec<crate::store::Account>, StoreError> {
        accounts(&self.conn)
    }

    fn save_account(&self, account: &crate::store::Account) -> Result<(), StoreError> {
        save_account(&self.conn, account)
    }

    fn log_operation(&self, op: &crate::store::OperLog) -> Result<(), StoreError> {
        log_operation(&self.conn, op)
    }

    fn operations(&self, limit: u32) -> Result<Vec<crate::store::OperLog>, StoreError> {
        operations(&self.conn, limit)
    }
}
