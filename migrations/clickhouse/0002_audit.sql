-- Rules, the organisation, behaviours and hits, for ClickHouse 18.16 and later.
--
-- A rules change writes the whole rule set again under a new `rules_version` (rule sets are
-- small): the next number, or the current time in milliseconds if larger, so two editors saving at
-- once do not share one. Readers take the rows of the latest version, which
-- `msgaudit_rules_version` records last, after the rows, so a reader never sees half a version.
-- Behaviour switches are versioned rows of `we_sensitive_act` (by `update_time`).

CREATE TABLE IF NOT EXISTS msgaudit_rules_version (
    version     UInt64,
    update_time UInt64
) ENGINE = MergeTree
ORDER BY version;

INSERT INTO msgaudit_rules_version (version, update_time) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS we_sensitive (
    rules_version   UInt64,
    id              Int64,
    strategy_name   String,
    pattern_words   String,
    allow_words     String,
    audit_user_id   String,
    audit_user_name String,
    alert_flag      UInt8,
    enable_flag     UInt8,
    normalize_flag  UInt8,
    audit_received  UInt8,
    update_time     UInt64
) ENGINE = MergeTree
ORDER BY (rules_version, id);

CREATE TABLE IF NOT EXISTS we_sensitive_audit_scope (
    rules_version    UInt64,
    sensitive_id     Int64,
    position         UInt32,
    scope_type       UInt8,
    audit_scope_id   String,
    audit_scope_name String
) ENGINE = MergeTree
ORDER BY (rules_version, sensitive_id, position);

CREATE TABLE IF NOT EXISTS sys_dept (
    rules_version UInt64,
    dept_id       Int64,
    parent_id     Int64,
    dept_name     String
) ENGINE = MergeTree
ORDER BY (rules_version, dept_id);

CREATE TABLE IF NOT EXISTS sys_user (
    rules_version UInt64,
    user_id       Int64,
    we_user_id    String,
    user_name     String
) ENGINE = MergeTree
ORDER BY (rules_version, user_id);

CREATE TABLE IF NOT EXISTS sys_user_dept (
    rules_version UInt64,
    we_user_id    String,
    dept_id       Int64
) ENGINE = MergeTree
ORDER BY (rules_version, we_user_id, dept_id);

CREATE TABLE IF NOT EXISTS we_sensitive_act (
    id          UInt32,
    act_name    String,
    order_num   UInt32,
    enable_flag UInt8,
    update_time UInt64
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY id;

INSERT INTO we_sensitive_act (id, act_name, order_num, enable_flag, update_time) VALUES
    (1, '发送名片', 1, 1, 0), (2, '发送红包', 2, 1, 0), (3, '发送手机号', 3, 1, 0), (4, '发送邮箱', 4, 1, 0),
    (5, '发送身份证号', 5, 1, 0), (6, '发送银行卡号', 6, 1, 0), (7, '撤回消息', 7, 1, 0);

CREATE TABLE IF NOT EXISTS we_chat_contact_sensitive_msg (
    corp_id       String,
    msg_id        String,
    strategy_id   Int64,
    strategy_name String,
    pattern_words String,
    spans         String,
    content       String,
    from_id       String,
    to_list       String,
    room_id       String,
    msg_time      UInt64,
    direction     String,
    audit_user_id String,
    send_status   UInt8,
    rules_version UInt64,
    create_time   UInt64,
    update_time   UInt64
) ENGINE = ReplacingMergeTree(update_time)
PARTITION BY toYYYYMM(toDateTime(intDiv(msg_time, 1000), 'UTC'))
ORDER BY (corp_id, msg_time, from_id, msg_id, strategy_id);

CREATE TABLE IF NOT EXISTS we_sensitive_act_hit (
    corp_id           String,
    msg_id            String,
    operator_id       String,
    operator          String,
    operate_target_id String,
    operate_target    String,
    sensitive_act_id  UInt32,
    sensitive_act     String,
    detail            String,
    msg_time          UInt64,
    create_time       UInt64
) ENGINE = ReplacingMergeTree(create_time)
PARTITION BY toYYYYMM(toDateTime(intDiv(msg_time, 1000), 'UTC'))
ORDER BY (corp_id, msg_time, operator_id, msg_id, sensitive_act_id);
