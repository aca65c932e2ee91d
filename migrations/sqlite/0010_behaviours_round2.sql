-- Audit round 2: three more behaviours, seeded on and switchable like the others.
INSERT OR IGNORE INTO we_sensitive_act (id, act_name, order_num) VALUES
    (9, '发送网址', 9), (10, '发送微信号', 10), (11, '发送QQ号', 11);
