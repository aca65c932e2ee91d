-- The alert sender reads the pending alerts (send_status 0) of every corp, oldest first and at most a
-- few hundred per corp, every step: a partial index holds only those, so the read costs what is
-- pending, not every hit ever stored.
CREATE INDEX IF NOT EXISTS we_chat_contact_sensitive_msg_pending
    ON we_chat_contact_sensitive_msg (corp_id, msg_time, msg_id, strategy_id)
    WHERE send_status = 0 AND del_flag = 0;
