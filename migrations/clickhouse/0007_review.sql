-- The auditors' review of hits (see the SQLite migration of the same name): the current review of
-- each reviewed hit, a new version per change, and every change kept in the log.

CREATE TABLE IF NOT EXISTS we_sensitive_review (
    corp_id      String,
    hit_kind     UInt8,
    msg_id       String,
    target_id    Int64,
    review_state UInt8,
    review_note  String,
    reviewer     String,
    review_time  UInt64
) ENGINE = ReplacingMergeTree(review_time)
ORDER BY (corp_id, hit_kind, msg_id, target_id);

CREATE TABLE IF NOT EXISTS we_sensitive_review_log (
    corp_id      String,
    hit_kind     UInt8,
    msg_id       String,
    target_id    Int64,
    review_state UInt8,
    review_note  String,
    reviewer     String,
    review_time  UInt64
) ENGINE = MergeTree
ORDER BY (corp_id, hit_kind, msg_id, target_id, review_time);
