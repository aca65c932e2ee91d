-- The auditors' review of hits. One row per reviewed hit (a hit without a row is pending):
-- hit_kind 1 strategy hit (target_id = strategy_id), 2 behaviour hit (target_id = sensitive_act_id);
-- review_state 0 pending, 1 confirmed, 2 false positive, 3 escalated. Every change is also
-- appended to we_sensitive_review_log, so who decided what, and when, is never overwritten.

CREATE TABLE we_sensitive_review (
    corp_id      TEXT    NOT NULL,
    hit_kind     INTEGER NOT NULL,
    msg_id       TEXT    NOT NULL,
    target_id    INTEGER NOT NULL,
    review_state INTEGER NOT NULL,
    review_note  TEXT    NOT NULL DEFAULT '',
    reviewer     TEXT    NOT NULL,
    review_time  INTEGER NOT NULL,
    PRIMARY KEY (corp_id, hit_kind, msg_id, target_id)
) WITHOUT ROWID;
CREATE INDEX we_sensitive_review_state ON we_sensitive_review (hit_kind, review_state);

CREATE TABLE we_sensitive_review_log (
    id           INTEGER PRIMARY KEY,
    corp_id      TEXT    NOT NULL,
    hit_kind     INTEGER NOT NULL,
    msg_id       TEXT    NOT NULL,
    target_id    INTEGER NOT NULL,
    review_state INTEGER NOT NULL,
    review_note  TEXT    NOT NULL DEFAULT '',
    reviewer     TEXT    NOT NULL,
    review_time  INTEGER NOT NULL
);
CREATE INDEX we_sensitive_review_log_hit ON we_sensitive_review_log (corp_id, hit_kind, msg_id, target_id);

-- Listings read newest first: without these every page sorted all hits (183 ms at 500,000).
CREATE INDEX we_chat_contact_sensitive_msg_newest ON we_chat_contact_sensitive_msg (msg_time, msg_id, strategy_id);
CREATE INDEX we_sensitive_act_hit_newest ON we_sensitive_act_hit (msg_time, msg_id, sensitive_act_id);
