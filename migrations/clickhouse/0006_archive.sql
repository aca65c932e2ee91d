-- The archive browser. Conversations are computed from each message's room, sender and receivers
-- (the rule of `message::Conversation`, as an SQL expression in `store/clickhouse/archive.rs`);
-- search scans the time-partitioned messages. A normalised search also reads each message's folded
-- text (the audit normaliser's round-1 folding), written by the writer beside the message.
-- Names: customers, groups and group members, each lookup a new version of its row.

CREATE TABLE IF NOT EXISTS we_chat_msg_folded (
    corp_id     String,
    msg_time    UInt64,
    msg_id      String,
    folded_text String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(msg_time, 1000), 'UTC'))
ORDER BY (corp_id, msg_time, msg_id);

CREATE TABLE IF NOT EXISTS we_customer (
    corp_id            String,
    external_userid    String,
    customer_name      String,
    customer_full_name String,
    customer_type      UInt8,
    avatar             String,
    gender             UInt8,
    unionid            String,
    corp_name          String,
    position           String,
    add_user_id        String,
    remark_name        String,
    lookup_error       String,
    update_time        UInt64,
    del_flag           UInt8
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY (corp_id, external_userid);

CREATE TABLE IF NOT EXISTS we_group (
    corp_id      String,
    chat_id      String,
    group_name   String,
    add_time     UInt64,
    notice       String,
    owner        String,
    source       String,
    lookup_error String,
    update_time  UInt64,
    del_flag     UInt8
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY (corp_id, chat_id);

-- A group's members as of its latest lookup (`update_time` equal to the group's).
CREATE TABLE IF NOT EXISTS we_group_member (
    corp_id         String,
    chat_id         String,
    user_id         String,
    type            UInt8,
    join_time       UInt64,
    join_scene      UInt8,
    group_nick_name String,
    name            String,
    invitor_user_id String,
    update_time     UInt64,
    del_flag        UInt8
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY (corp_id, chat_id, user_id);
