-- Audit round 2: a strategy's pinyin (on by default) and sound-alike (off) switches, and three more
-- behaviours, seeded on and switchable like the others.
ALTER TABLE we_sensitive ADD COLUMN pinyin_flag INTEGER NOT NULL DEFAULT 1;
ALTER TABLE we_sensitive ADD COLUMN sound_alike_flag INTEGER NOT NULL DEFAULT 0;

INSERT OR IGNORE INTO we_sensitive_act (id, act_name, order_num) VALUES
    (9, '发送网址', 9), (10, '发送微信号', 10), (11, '发送QQ号', 11);
