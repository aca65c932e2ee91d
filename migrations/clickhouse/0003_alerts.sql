-- The alert outbox, for ClickHouse 18.16 and later. A hit with send_status 0 is an alert waiting to be
-- sent. Robots and posts change by new versions (by update_time) and are read with FINAL; a post's row
-- goes in before its links, and a pending post's links are written again when the sender starts, so a
-- crash between the two never leaves a hit claimed by a post that does not exist.

CREATE TABLE IF NOT EXISTS we_group_robot_info (
    id            Int64,
    group_name    String,
    web_hook_url  String,
    corp_id       String,
    sensitive_ids String,
    msg_type      String,
    create_time   UInt64,
    update_time   UInt64,
    del_flag      UInt8
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY id;

CREATE TABLE IF NOT EXISTS we_group_robot_msg (
    id            Int64,
    robot_id      Int64,
    destination   String,
    msg_title     String,
    msg_type      String,
    content       String,
    hit_keys      String,
    hit_count     UInt32,
    status        UInt8,
    attempts      UInt32,
    next_attempt  UInt64,
    last_error    String,
    send_time     UInt64,
    create_time   UInt64,
    update_time   UInt64
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY id;

CREATE TABLE IF NOT EXISTS we_group_robot_msg_hit (
    corp_id      String,
    msg_id       String,
    strategy_id  Int64,
    destination  String,
    post_id      Int64
) ENGINE = ReplacingMergeTree
ORDER BY (corp_id, msg_id, strategy_id, destination, post_id);
