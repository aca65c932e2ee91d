-- The media archive. One job per attachment of a stored message (corp + msgid + item, item being the
-- position in chatrecord/mixed item[] or 0), written in the same transaction as the message; one
-- file row per (md5, size) stored, however many jobs point at it. Behaviour 8, 发送二维码, is found
-- by scanning fetched images.

CREATE TABLE we_chat_media_job (
    id           INTEGER PRIMARY KEY,
    corp_id      TEXT    NOT NULL,
    msg_id       TEXT    NOT NULL,
    item         INTEGER NOT NULL DEFAULT 0,
    msg_time     INTEGER NOT NULL,
    kind         TEXT    NOT NULL,               -- image | voice | video | emotion | file | voip_doc_share | meeting_voice_call
    sdkfileid    TEXT    NOT NULL,
    md5sum       TEXT    NOT NULL DEFAULT '',    -- as the message says (may be empty)
    size         INTEGER NOT NULL DEFAULT 0,     -- as the message says (may be 0)
    file_name    TEXT    NOT NULL DEFAULT '',
    from_id      TEXT    NOT NULL DEFAULT '',
    to_list      TEXT    NOT NULL DEFAULT '',
    room_id      TEXT    NOT NULL DEFAULT '',
    status       INTEGER NOT NULL DEFAULT 0,     -- 0 pending, 1 done, 2 dead
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT '',
    dead_reason  TEXT    NOT NULL DEFAULT '',
    file_md5     TEXT    NOT NULL DEFAULT '',    -- the stored file, once done
    file_size    INTEGER NOT NULL DEFAULT 0,
    note         TEXT    NOT NULL DEFAULT '',
    create_time  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    update_time  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (corp_id, msg_id, item)
);
-- The fetchers' queue: pending jobs by message time.
CREATE INDEX we_chat_media_job_due ON we_chat_media_job (status, msg_time) WHERE status = 0;
CREATE INDEX we_chat_media_job_file ON we_chat_media_job (file_md5, file_size);

CREATE TABLE we_chat_media_file (
    md5           TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    content_type  TEXT    NOT NULL DEFAULT '',
    playable_type TEXT    NOT NULL DEFAULT '',
    qr_codes      TEXT    NOT NULL DEFAULT '',   -- what the QR codes in an image say, one per line
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (md5, size)
);

INSERT INTO we_sensitive_act (id, act_name, order_num) VALUES (8, '发送二维码', 8);

-- The rules' `url_allow`: domains (with their subdomains) whose URLs no behaviour reports.
CREATE TABLE msgaudit_url_allow (
    domain TEXT PRIMARY KEY
);
