-- Archived messages, LinkWeChat's we_chat_contact_msg extended with corp_id (many corps in one store),
-- publickey_ver (key rotation), plain_text (the visible text audit and search use).
-- Times are UTC epoch milliseconds. Idempotent on (corp_id, msg_id).
CREATE TABLE we_chat_contact_msg (
    id            INTEGER PRIMARY KEY,
    corp_id       TEXT    NOT NULL,
    msg_id        TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    publickey_ver INTEGER NOT NULL DEFAULT 0,
    from_id       TEXT    NOT NULL DEFAULT '',
    to_list       TEXT    NOT NULL DEFAULT '',
    room_id       TEXT    NOT NULL DEFAULT '',
    action        TEXT    NOT NULL,
    msg_type      TEXT    NOT NULL DEFAULT '',
    msg_time      INTEGER NOT NULL,
    contact       TEXT    NOT NULL DEFAULT '',
    is_external   INTEGER NOT NULL DEFAULT 1,
    plain_text    TEXT    NOT NULL DEFAULT '',
    create_time   INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    del_flg       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (corp_id, msg_id)
);
CREATE INDEX we_chat_contact_msg_time ON we_chat_contact_msg (corp_id, msg_time);
CREATE INDEX we_chat_contact_msg_from ON we_chat_contact_msg (corp_id, from_id, msg_time);
CREATE INDEX we_chat_contact_msg_room ON we_chat_contact_msg (corp_id, room_id, msg_time);
CREATE INDEX we_chat_contact_msg_seq ON we_chat_contact_msg (corp_id, seq);

-- How far each corp's archive has been stored: pulling resumes after this seq. Written in the same
-- transaction as the batch it covers, so it is never ahead of the store.
CREATE TABLE we_chat_msg_checkpoint (
    corp_id     TEXT    PRIMARY KEY,
    seq         INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);

-- Messages that could not be decrypted or parsed, kept with their encrypted payload so they can be
-- re-driven once the cause is fixed. status: 0 pending, 1 resolved (stored as a message).
CREATE TABLE we_chat_msg_dead_letter (
    id                 INTEGER PRIMARY KEY,
    corp_id            TEXT    NOT NULL,
    seq                INTEGER NOT NULL,
    msg_id             TEXT    NOT NULL DEFAULT '',
    publickey_ver      INTEGER NOT NULL DEFAULT 0,
    encrypt_random_key TEXT    NOT NULL DEFAULT '',
    encrypt_chat_msg   TEXT    NOT NULL DEFAULT '',
    reason             TEXT    NOT NULL,
    detail             TEXT    NOT NULL DEFAULT '',
    status             INTEGER NOT NULL DEFAULT 0,
    attempts           INTEGER NOT NULL DEFAULT 1,
    create_time        INTEGER NOT NULL,
    update_time        INTEGER NOT NULL,
    UNIQUE (corp_id, seq)
);
CREATE INDEX we_chat_msg_dead_letter_pending ON we_chat_msg_dead_letter (status, corp_id, seq);

-- Corps to archive, as LinkWeChat keeps them. Secrets are never stored: chat_secret holds a reference
-- (env:VARIABLE or file:/path) and finance_private_key a list of VERSION=/path/to/key.pem.
CREATE TABLE we_corp_account (
    id                  INTEGER PRIMARY KEY,
    company_name        TEXT    NOT NULL DEFAULT '',
    corp_id             TEXT    NOT NULL UNIQUE,
    chat_secret         TEXT    NOT NULL DEFAULT '',
    finance_private_key TEXT    NOT NULL DEFAULT '',
    create_time         INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    del_flag            INTEGER NOT NULL DEFAULT 0
);
