//! Who may use the auditors' workspace, and what they looked at: workspace accounts
//! (`msgaudit_account`) and the operation log (`sys_oper_log`, LinkWeChat's table).

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees the hits of the strategies whose `audit_user_id` is theirs.
    Auditor,
    /// Sees everything and edits strategies.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A workspace account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The sign-in name.
    pub user_name: String,
    /// The WeCom userid that strategies name as their auditor (`audit_user_id`).
    pub we_user_id: String,
    pub role: Role,
    /// A slow salted hash of the password or token (never the secret itself).
    pub secret_hash: String,
    pub disabled: bool,
    pub create_time_ms: i64,
}

/// One recorded operation (`sys_oper_log`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OperLog {
    /// What was done, e.g. `查看会话上下文`, `导出命中`.
    pub title: String,
    /// The API operation.
    pub method: String,
    pub request_method: String,
    /// Who (the account's user name).
    pub oper_name: String,
    pub oper_url: String,
    /// From where (the client's address).
    pub oper_ip: String,
    /// The parameters that say what was looked at (never message content).
    pub oper_param: String,
    /// 0 done, 1 refused.
    pub status: u8,
    pub oper_time_ms: i64,
}
