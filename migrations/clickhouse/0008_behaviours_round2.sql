-- Audit round 2: three more behaviours, seeded on and switchable like the others.
INSERT INTO we_sensitive_act (id, act_name, order_num, enable_flag, update_time) VALUES
    (9, '发送网址', 9, 1, 0), (10, '发送微信号', 10, 1, 0), (11, '发送QQ号', 11, 1, 0);
