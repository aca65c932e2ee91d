-- The auditors' workspace: accounts (a slow salted hash of each password or token, never the secret)
-- and the operation log, LinkWeChat's sys_oper_log: every view of a conversation and every export.

CREATE TABLE msgaudit_account (
    user_name   TEXT    PRIMARY KEY,
    we_user_id  TEXT    NOT NULL DEFAULT '',   -- matches we_sensitive.audit_user_id
    role        TEXT    NOT NULL,              -- auditor | admin
    secret_hash TEXT    NOT NULL,
    status      INTEGER NOT NULL DEFAULT 0,    -- 0 active, 1 disabled
    create_time INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    update_time INTEGER
);

CREATE TABLE sys_oper_log (
    oper_id        INTEGER PRIMARY KEY,
    title          TEXT    NOT NULL,
    business_type  INTEGER NOT NULL DEFAULT 0,
    method         TEXT    NOT NULL DEFAULT '',
    request_method TEXT    NOT NULL DEFAULT '',
    operator_type  INTEGER NOT NULL DEFAULT 1,
    oper_name      TEXT    NOT NULL,
    oper_url       TEXT    NOT NULL DEFAULT '',
    oper_ip        TEXT    NOT NULL DEFAULT '',
    oper_param     TEXT    NOT NULL DEFAULT '',
    status         INTEGER NOT NULL DEFAULT 0,
    oper_time      INTEGER NOT NULL
);
CREATE INDEX sys_oper_log_time ON sys_oper_log (oper_time);
