-- Audit rules and hits. LinkWeChat's tables, extended with what the audit semantics need:
-- enable_flag / normalize_flag / audit_received / allow_words on strategies; corp_id, msg_id, strategy_id,
-- spans and direction on hits (one row per corp + msgid + strategy); corp_id + msg_id on behaviour hits.

CREATE TABLE we_sensitive (
    id              INTEGER PRIMARY KEY,
    strategy_name   TEXT    NOT NULL,
    pattern_words   TEXT    NOT NULL DEFAULT '',   -- words, comma-separated
    allow_words     TEXT    NOT NULL DEFAULT '',
    audit_user_id   TEXT    NOT NULL DEFAULT '',
    audit_user_name TEXT    NOT NULL DEFAULT '',
    alert_flag      INTEGER NOT NULL DEFAULT 1,
    enable_flag     INTEGER NOT NULL DEFAULT 1,
    normalize_flag  INTEGER NOT NULL DEFAULT 1,
    audit_received  INTEGER NOT NULL DEFAULT 0,
    create_time     INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    update_time     INTEGER,
    del_flag        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE we_sensitive_audit_scope (
    id               INTEGER PRIMARY KEY,
    sensitive_id     INTEGER NOT NULL,
    scope_type       INTEGER NOT NULL,                -- 1 department, 2 member
    audit_scope_id   TEXT    NOT NULL,                -- one or more ids, comma-separated
    audit_scope_name TEXT    NOT NULL DEFAULT '',
    del_flag         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX we_sensitive_audit_scope_sensitive ON we_sensitive_audit_scope (sensitive_id);

CREATE TABLE sys_dept (
    dept_id   INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL DEFAULT 0,
    ancestors TEXT    NOT NULL DEFAULT '',
    dept_name TEXT    NOT NULL DEFAULT '',
    del_flag  TEXT    NOT NULL DEFAULT '0'
);

CREATE TABLE sys_user (
    user_id    INTEGER PRIMARY KEY,
    we_user_id TEXT    NOT NULL UNIQUE,
    user_name  TEXT    NOT NULL DEFAULT '',
    del_flag   TEXT    NOT NULL DEFAULT '0'
);

CREATE TABLE sys_user_dept (
    user_dept_id INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    dept_id      INTEGER NOT NULL,
    we_user_id   TEXT    NOT NULL
);

CREATE TABLE we_sensitive_act (
    id          INTEGER PRIMARY KEY,
    act_name    TEXT    NOT NULL,
    order_num   INTEGER NOT NULL DEFAULT 0,
    enable_flag INTEGER NOT NULL DEFAULT 1,
    del_flag    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO we_sensitive_act (id, act_name, order_num) VALUES
    (1, '发送名片', 1), (2, '发送红包', 2), (3, '发送手机号', 3), (4, '发送邮箱', 4),
    (5, '发送身份证号', 5), (6, '发送银行卡号', 6), (7, '撤回消息', 7);

-- Bumped by every rules change, in the same transaction; the daemon polls it to hot-reload.
CREATE TABLE msgaudit_rules_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO msgaudit_rules_version (id, version) VALUES (1, 1);

-- send_status: 0 pending, 1 sent, 2 failed after retries, 3 no alert wanted.
CREATE TABLE we_chat_contact_sensitive_msg (
    id            INTEGER PRIMARY KEY,
    corp_id       TEXT    NOT NULL,
    msg_id        TEXT    NOT NULL,
    strategy_id   INTEGER NOT NULL,
    strategy_name TEXT    NOT NULL DEFAULT '',
    pattern_words TEXT    NOT NULL,                 -- the words that hit, comma-separated
    spans         TEXT    NOT NULL DEFAULT '[]',    -- JSON [[start,end],…] into the visible text
    content       TEXT    NOT NULL DEFAULT '',      -- snippet, the first hit marked 【】
    from_id       TEXT    NOT NULL DEFAULT '',
    to_list       TEXT    NOT NULL DEFAULT '',
    room_id       TEXT    NOT NULL DEFAULT '',
    msg_time      INTEGER NOT NULL,
    direction     TEXT    NOT NULL DEFAULT 'sent',
    audit_user_id TEXT    NOT NULL DEFAULT '',
    send_status   INTEGER NOT NULL DEFAULT 0,
    rules_version INTEGER NOT NULL DEFAULT 0,
    create_time   INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    del_flag      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (corp_id, msg_id, strategy_id)
);
CREATE INDEX we_chat_contact_sensitive_msg_time ON we_chat_contact_sensitive_msg (corp_id, msg_time);
CREATE INDEX we_chat_contact_sensitive_msg_strategy ON we_chat_contact_sensitive_msg (strategy_id, msg_time);

CREATE TABLE we_sensitive_act_hit (
    id                INTEGER PRIMARY KEY,
    corp_id           TEXT    NOT NULL,
    msg_id            TEXT    NOT NULL,
    operator_id       TEXT    NOT NULL,
    operator          TEXT    NOT NULL DEFAULT '',
    operate_target_id TEXT    NOT NULL DEFAULT '',
    operate_target    TEXT    NOT NULL DEFAULT '',
    sensitive_act_id  INTEGER NOT NULL,
    sensitive_act     TEXT    NOT NULL,
    detail            TEXT    NOT NULL DEFAULT '',
    msg_time          INTEGER NOT NULL,
    create_time       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    del_flag          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (corp_id, msg_id, sensitive_act_id)
);
CREATE INDEX we_sensitive_act_hit_time ON we_sensitive_act_hit (corp_id, msg_time);
