-- The media archive. One job per attachment of a stored message (corp + msgid + item), inserted by the
-- writer before its message with version 0, so a replay can never undo a later state; each state
-- change is a new version of the row (update_time), read with FINAL. One file row per (md5, size).
-- Behaviour 8, 发送二维码, is found by scanning fetched images.

CREATE TABLE IF NOT EXISTS we_chat_media_job (
    corp_id      String,
    msg_id       String,
    item         UInt32,
    msg_time     UInt64,
    kind         String,
    sdkfileid    String,
    md5sum       String,
    size         UInt64,
    file_name    String,
    from_id      String,
    to_list      String,
    room_id      String,
    status       UInt8,
    attempts     UInt32,
    next_attempt UInt64,
    last_error   String,
    dead_reason  String,
    file_md5     String,
    file_size    UInt64,
    note         String,
    update_time  UInt64
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY (corp_id, msg_id, item);

CREATE TABLE IF NOT EXISTS we_chat_media_file (
    md5           String,
    size          UInt64,
    content_type  String,
    playable_type String,
    qr_codes      String,
    create_time   UInt64
) ENGINE = ReplacingMergeTree(create_time)
ORDER BY (md5, size);

INSERT INTO we_sensitive_act (id, act_name, order_num, enable_flag, update_time) VALUES
    (8, '发送二维码', 8, 1, 0);

-- The rules' `url_allow`, versioned with the rest of the rules.
CREATE TABLE IF NOT EXISTS msgaudit_url_allow (
    rules_version UInt64,
    domain        String
) ENGINE = MergeTree
ORDER BY (rules_version, domain);
