-- Messages, checkpoints, dead letters and corp accounts, for ClickHouse 18.16 and later.
--
-- Exactly-once: the writer reads back which rows of a batch's seq range are already stored and
-- inserts only the rest, so a batch replayed after a crash adds nothing. The ReplacingMergeTree
-- engines (keyed so that a message, hit or dead letter has exactly one sorting key) are a second
-- line: should a duplicate ever get in, merges collapse it and readers that must be exact use FINAL.
-- Times are UTC epoch milliseconds (UInt64), as in the SQLite store; partitions are by month.
-- Statements end with `;` at the end of a line; each `CREATE` is idempotent.

CREATE TABLE IF NOT EXISTS we_chat_contact_msg (
    corp_id       String,
    msg_id        String,
    seq           UInt64,
    publickey_ver UInt32,
    from_id       String,
    to_list       String,
    room_id       String,
    action        String,
    msg_type      String,
    msg_time      UInt64,
    contact       String,
    is_external   UInt8,
    plain_text    String,
    create_time   UInt64,
    del_flg       UInt8
) ENGINE = ReplacingMergeTree(create_time)
PARTITION BY toYYYYMM(toDateTime(intDiv(msg_time, 1000), 'UTC'))
ORDER BY (corp_id, msg_time, from_id, msg_id);

CREATE TABLE IF NOT EXISTS we_chat_msg_checkpoint (
    corp_id     String,
    seq         UInt64,
    update_time UInt64
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY corp_id;

CREATE TABLE IF NOT EXISTS we_chat_msg_dead_letter (
    corp_id            String,
    seq                UInt64,
    msg_id             String,
    publickey_ver      UInt32,
    encrypt_random_key String,
    encrypt_chat_msg   String,
    reason             String,
    detail             String,
    status             UInt8,
    attempts           UInt32,
    create_time        UInt64,
    update_time        UInt64
) ENGINE = ReplacingMergeTree(update_time)
ORDER BY (corp_id, seq);

CREATE TABLE IF NOT EXISTS we_corp_account (
    company_name        String,
    corp_id             String,
    chat_secret         String,
    finance_private_key String,
    create_time         UInt64,
    del_flag            UInt8
) ENGINE = ReplacingMergeTree(create_time)
ORDER BY corp_id;
