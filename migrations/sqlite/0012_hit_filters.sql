-- The hits list filtered by sender or group, and a conversation's hits. Without these, SQLite read
-- the hits newest first until a page was found: quick for someone who sends hits every day, but
-- at 2,000,000 hits 0.65 s for a sender or group whose hits are all old, and 0.73 s for the hits
-- of a pair who last spoke months ago. None begins with the corp: most queries do not name it,
-- and with the corp first SQLite skip-scanned the index and sorted every hit of a busy sender
-- (0.68 s). Each ends with msg_time, so an index gives a page newest first.
CREATE INDEX IF NOT EXISTS we_chat_contact_sensitive_msg_from
    ON we_chat_contact_sensitive_msg (from_id, msg_time);
CREATE INDEX IF NOT EXISTS we_chat_contact_sensitive_msg_room
    ON we_chat_contact_sensitive_msg (room_id, msg_time);
-- A pair's hits outside any group, either way round (`store::sqlite::hits` names it for a pair).
CREATE INDEX IF NOT EXISTS we_chat_contact_sensitive_msg_pair
    ON we_chat_contact_sensitive_msg (to_list, from_id, msg_time) WHERE room_id = '';
-- Behaviour hits by operator, for the same reason as by sender.
CREATE INDEX IF NOT EXISTS we_sensitive_act_hit_operator
    ON we_sensitive_act_hit (operator_id, msg_time);
