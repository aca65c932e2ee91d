-- The auditors' workspace, for ClickHouse 18.16 and later: accounts are versioned rows (by
-- update_time, read with FINAL); the operation log (LinkWeChat's sys_oper_log) only grows.

CREATE TABLE IF NOT EXISTS msgaudit_account (
    user_name   String,
    we_user_id  String,
    role        String,
    secret_hash String,
    status      UInt8,
    create_time UInt64,
    update_time UInt64
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY user_name;

CREATE TABLE IF NOT EXISTS sys_oper_log (
    title          String,
    method         String,
    request_method String,
    oper_name      String,
    oper_url       String,
    oper_ip        String,
    oper_param     String,
    status         UInt8,
    oper_time      UInt64
) ENGINE = MergeTree
ORDER BY oper_time;
