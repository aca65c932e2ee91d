-- Audit round 2: three more behaviours, seeded on and switchable like the others; and a strategy's
-- pinyin (on by default) and sound-alike (off) switches, versioned with the rules. They live in a
-- table of their own beside we_sensitive, not in new columns: a cluster's migration creates
-- tables on every shard, and an ALTER of a Distributed table and its local tables is not a step
-- it takes. A strategy without a row here has the defaults.
CREATE TABLE IF NOT EXISTS msgaudit_strategy_matching (
    rules_version    UInt64,
    id               Int64,
    pinyin_flag      UInt8,
    sound_alike_flag UInt8
) ENGINE = MergeTree
ORDER BY (rules_version, id);

INSERT INTO we_sensitive_act (id, act_name, order_num, enable_flag, update_time) VALUES
    (9, '发送网址', 9, 1, 0), (10, '发送微信号', 10, 1, 0), (11, '发送QQ号', 11, 1, 0);
