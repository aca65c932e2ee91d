-- The archive browser: every message's conversation, the conversations and who took part in them,
-- a full-text index over every message, and the names of customers and groups.
--
-- A conversation is a group chat (`r:ROOMID`) or the one-to-one chat of two people
-- (`p:A|B`, ids in ascending order); `message::Conversation` is the same rule in Rust, and the
-- writer keeps all of this in the transaction that stores the messages. Existing rows are filled in
-- here, once.

-- The key is not indexed: an index by conversation dirties a leaf page per active conversation on
-- every commit (measured: +40% on the writer's time at 130 conversations a batch). A group's
-- messages are found through the room index, two people's through the sender index (both ways).
ALTER TABLE we_chat_contact_msg ADD COLUMN conversation TEXT NOT NULL DEFAULT '';
UPDATE we_chat_contact_msg SET conversation = CASE
    WHEN room_id <> '' THEN 'r:' || room_id
    WHEN from_id <> '' AND to_list <> '' AND instr(to_list, ',') = 0
        THEN 'p:' || min(from_id, to_list) || '|' || max(from_id, to_list)
    ELSE '' END;

-- One row per conversation: its people (room, or the two of a pair), how many messages, and when.
CREATE TABLE we_chat_conversation (
    corp_id        TEXT    NOT NULL,
    conversation   TEXT    NOT NULL,
    room_id        TEXT    NOT NULL DEFAULT '',
    peer_a         TEXT    NOT NULL DEFAULT '',
    peer_b         TEXT    NOT NULL DEFAULT '',
    msg_count      INTEGER NOT NULL,
    first_msg_time INTEGER NOT NULL,
    last_msg_time  INTEGER NOT NULL,
    PRIMARY KEY (corp_id, conversation)
) WITHOUT ROWID;
INSERT INTO we_chat_conversation
SELECT corp_id, conversation, room_id,
       CASE WHEN room_id = '' THEN min(from_id, to_list) ELSE '' END,
       CASE WHEN room_id = '' THEN max(from_id, to_list) ELSE '' END,
       COUNT(*), MIN(msg_time), MAX(msg_time)
FROM we_chat_contact_msg WHERE conversation <> '' GROUP BY corp_id, conversation;

-- Who took part in each conversation: its senders and receivers.
CREATE TABLE we_chat_conversation_member (
    corp_id      TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    conversation TEXT NOT NULL,
    PRIMARY KEY (member_id, corp_id, conversation)
) WITHOUT ROWID;
CREATE INDEX we_chat_conversation_member_of
    ON we_chat_conversation_member (corp_id, conversation, member_id);
INSERT OR IGNORE INTO we_chat_conversation_member
SELECT DISTINCT corp_id, from_id, conversation FROM we_chat_contact_msg
WHERE conversation <> '' AND from_id <> '';
WITH RECURSIVE lists(corp_id, conversation, rest) AS (
    SELECT DISTINCT corp_id, conversation, to_list || ',' FROM we_chat_contact_msg
    WHERE conversation <> '' AND to_list <> ''
), split(corp_id, conversation, rest, member) AS (
    SELECT corp_id, conversation, rest, '' FROM lists
    UNION ALL
    SELECT corp_id, conversation, substr(rest, instr(rest, ',') + 1), substr(rest, 1, instr(rest, ',') - 1)
    FROM split WHERE rest <> ''
)
INSERT OR IGNORE INTO we_chat_conversation_member
SELECT DISTINCT corp_id, member, conversation FROM split WHERE member <> '';

-- Full-text search over the folded text of every message (the audit normaliser's round-1 folding:
-- width, case, traditional → simplified, separators dropped), as overlapping two-character terms
-- (`私下转账` → `私下 下转 转账`, the last character paired with U+E000), so a keyword of any
-- length is a phrase of consecutive terms — two-character Chinese words, the commonest keywords,
-- included, which a trigram index cannot find. Contentless: the text stays in
-- we_chat_contact_msg; rowid = we_chat_contact_msg.id.
CREATE VIRTUAL TABLE we_chat_msg_search USING fts5(
    terms, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0'
);
INSERT INTO we_chat_msg_search (rowid, terms)
SELECT id, msgaudit_search_terms(plain_text) FROM we_chat_contact_msg WHERE plain_text <> '';

-- External contacts (LinkWeChat's we_customer, with corp_id), from WeCom's externalcontact/get.
-- A row whose lookup failed keeps its error and is asked again after the refresh interval.
CREATE TABLE we_customer (
    id                 INTEGER PRIMARY KEY,
    corp_id            TEXT    NOT NULL,
    external_userid    TEXT    NOT NULL,
    customer_name      TEXT    NOT NULL DEFAULT '',
    customer_full_name TEXT    NOT NULL DEFAULT '',
    customer_type      INTEGER NOT NULL DEFAULT 0,
    avatar             TEXT    NOT NULL DEFAULT '',
    gender             INTEGER NOT NULL DEFAULT 0,
    unionid            TEXT    NOT NULL DEFAULT '',
    corp_name          TEXT    NOT NULL DEFAULT '',
    position           TEXT    NOT NULL DEFAULT '',
    add_user_id        TEXT    NOT NULL DEFAULT '',
    remark_name        TEXT    NOT NULL DEFAULT '',
    lookup_error       TEXT    NOT NULL DEFAULT '',
    create_time        INTEGER NOT NULL,
    update_time        INTEGER NOT NULL,
    del_flag           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (corp_id, external_userid)
);

-- Group chats (LinkWeChat's we_group, with corp_id): customer groups from
-- externalcontact/groupchat/get, internal groups from msgaudit/groupchat/get (source).
CREATE TABLE we_group (
    id           INTEGER PRIMARY KEY,
    corp_id      TEXT    NOT NULL,
    chat_id      TEXT    NOT NULL,
    group_name   TEXT    NOT NULL DEFAULT '',
    add_time     INTEGER NOT NULL DEFAULT 0,
    notice       TEXT    NOT NULL DEFAULT '',
    owner        TEXT    NOT NULL DEFAULT '',
    source       TEXT    NOT NULL DEFAULT '',
    lookup_error TEXT    NOT NULL DEFAULT '',
    create_time  INTEGER NOT NULL,
    update_time  INTEGER NOT NULL,
    del_flag     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (corp_id, chat_id)
);

-- Group members (LinkWeChat's we_group_member, with corp_id), replaced with each group lookup.
CREATE TABLE we_group_member (
    id              INTEGER PRIMARY KEY,
    corp_id         TEXT    NOT NULL,
    chat_id         TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    type            INTEGER NOT NULL DEFAULT 0,
    join_time       INTEGER NOT NULL DEFAULT 0,
    join_scene      INTEGER NOT NULL DEFAULT 0,
    group_nick_name TEXT    NOT NULL DEFAULT '',
    name            TEXT    NOT NULL DEFAULT '',
    invitor_user_id TEXT    NOT NULL DEFAULT '',
    create_time     INTEGER NOT NULL,
    del_flag        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (corp_id, chat_id, user_id)
);
CREATE INDEX we_group_member_user ON we_group_member (corp_id, user_id);
