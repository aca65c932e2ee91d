//! The rule set (`RulesStore`): whole versions.

use msgaudit::store::Store;

pub(super) fn rules_round_trip_as_whole_versions(s: &dyn Store) {
    let v0 = s.rules_version().expect("version");
    let rules: msgaudit::audit::RuleSet = serde_json::from_str(
        r#"{"departments": [{"id": 1, "parent_id": 0, "name": "总部"}, {"id": 4, "parent_id": 1, "name": "销售"}],
            "members": [{"userid": "zhangsan", "name": "张三", "departments": [1, 4]},
                        {"userid": "lisi", "name": "李四", "departments": [4]}],
            "strategies": [{"id": 7, "name": "飞单", "words": ["私下转账", "加我微信"], "allow_words": ["微信支付"],
                            "scope": [{"type": 1, "id": "1"}, {"type": 2, "id": "lisi,wangwu"}],
                            "audit_user_id": "wangwu", "audit_user_name": "王五",
                            "enabled": true, "alert": true, "normalize": true, "audit_received": false,
                            "pinyin": false, "sound_alike": true},
                           {"id": 2, "name": "发票", "words": ["发票"], "enabled": false, "alert": false}],
            "acts": [{"id": 3, "name": "发送手机号", "enabled": false}],
            "url_allow": ["corp.example.com", "example.org"]}"#,
    )
    .expect("rules");
    let v1 = s.save_rules(&rules).expect("save");
    assert!(v1 > v0, "{v1} > {v0}");
    assert_eq!(s.rules_version().expect("version"), v1);
    let loaded = s.load_rules().expect("load");
    assert_eq!(loaded.departments, rules.departments);
    assert_eq!(loaded.members, rules.members);
    let mut want = rules.strategies.clone();
    want.sort_by_key(|st| st.id);
    assert_eq!(loaded.strategies, want);
    // Round 2's switches: as saved, and the defaults (pinyin on, sound-alikes off) where unsaid.
    let by_id = |id| {
        loaded
            .strategies
            .iter()
            .find(|st| st.id == id)
            .expect("strategy")
    };
    assert!(!by_id(7).pinyin && by_id(7).sound_alike);
    assert!(by_id(2).pinyin && !by_id(2).sound_alike);
    assert_eq!(
        loaded.acts.len(),
        11,
        "the catalogue, 发送二维码 and round 2 (网址, 微信号, QQ号) included"
    );
    assert_eq!(loaded.url_allow, rules.url_allow);
    for a in &loaded.acts {
        assert_eq!(a.enabled, a.id != 3, "{a:?}");
    }
    // A smaller rule set replaces the whole of the previous one.
    let mut smaller = rules.clone();
    smaller.strategies.truncate(1);
    smaller.members.truncate(1);
    smaller.acts[0].enabled = true;
    let v2 = s.save_rules(&smaller).expect("save");
    assert!(v2 > v1);
    let loaded = s.load_rules().expect("load");
    assert_eq!(loaded.strategies, smaller.strategies);
    assert_eq!(loaded.members, smaller.members);
    // The strategy left out is deleted, not forgotten: its id is never handed out again.
    assert_eq!(s.last_strategy_id().expect("last id"), 7);
    assert!(loaded.acts.iter().all(|a| a.enabled));
    // Older rule files without url_allow clear it.
    let mut none = smaller.clone();
    none.url_allow.clear();
    s.save_rules(&none).expect("save");
    assert!(s.load_rules().expect("load").url_allow.is_empty());
}
