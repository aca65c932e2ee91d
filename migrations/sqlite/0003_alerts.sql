-- The alert outbox. A hit with send_status 0 is an alert waiting to be sent (it is stored in the same
-- transaction as the hit). LinkWeChat's robot tables, extended: robots can be limited to a corp and to
-- strategies; each post records its destination, the hits it carries, its attempts and last error.

CREATE TABLE we_group_robot_info (
    id            INTEGER PRIMARY KEY,
    group_name    TEXT    NOT NULL,
    web_hook_url  TEXT    NOT NULL,
    corp_id       TEXT    NOT NULL DEFAULT '',          -- '' = every corp
    sensitive_ids TEXT    NOT NULL DEFAULT '',          -- strategy ids, comma-separated; '' = all
    msg_type      TEXT    NOT NULL DEFAULT 'markdown',  -- markdown | text
    create_time   INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    update_time   INTEGER,
    del_flag      INTEGER NOT NULL DEFAULT 0
);

-- status: 1 pending (claimed, not confirmed), 2 sent, 3 failed after retries.
CREATE TABLE we_group_robot_msg (
    id            INTEGER PRIMARY KEY,
    robot_id      INTEGER NOT NULL DEFAULT 0,           -- 0 for application messages
    destination   TEXT    NOT NULL,                     -- robot:ID | app:CORP:USERID
    msg_title     TEXT    NOT NULL,
    msg_type      TEXT    NOT NULL,
    content       TEXT    NOT NULL,                     -- the JSON body sent
    hit_keys      TEXT    NOT NULL,                     -- JSON [{corp_id, msg_id, strategy_id}, …]
    hit_count     INTEGER NOT NULL,
    status        INTEGER NOT NULL DEFAULT 1,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT    NOT NULL DEFAULT '',
    send_time     INTEGER NOT NULL DEFAULT 0,
    create_time   INTEGER NOT NULL,
    update_time   INTEGER,
    del_flag      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX we_group_robot_msg_open ON we_group_robot_msg (status) WHERE status = 1;
CREATE INDEX we_group_robot_msg_time ON we_group_robot_msg (create_time);

-- Which hits each post carries, by destination: a hit is claimed for a destination once a row here
-- names it.
CREATE TABLE we_group_robot_msg_hit (
    corp_id      TEXT    NOT NULL,
    msg_id       TEXT    NOT NULL,
    strategy_id  INTEGER NOT NULL,
    destination  TEXT    NOT NULL,
    post_id      INTEGER NOT NULL,
    PRIMARY KEY (corp_id, msg_id, strategy_id, destination, post_id)
) WITHOUT ROWID;

CREATE INDEX we_chat_contact_sensitive_msg_pending
    ON we_chat_contact_sensitive_msg (msg_time) WHERE send_status = 0;
