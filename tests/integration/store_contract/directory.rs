//! The names directory (`DirectoryStore`): customers and groups saved and replaced, a failed lookup
//! keeping the name known so far, names preferring a contact's own over a name seen in a group,
//! ids seen in messages without a row, and rows due for a refresh.

use msgaudit::store::{
    Customer, DirectoryId, FoundName, Group, GroupMember, GroupSource, Store, StoreBatch,
};

use crate::support::message_row;

fn customer(id: &str, name: &str, at: i64) -> Customer {
    Customer {
        corp_id: "ww1".into(),
        external_userid: id.into(),
        customer_name: name.into(),
        customer_type: 1,
        add_user_id: "zhangsan".into(),
        update_time: at,
        ..Customer::default()
    }
}

fn group(at: i64, members: &[(&str, &str)]) -> Group {
    Group {
        corp_id: "ww1".into(),
        chat_id: "wrR".into(),
        group_name: "华东大客户群".into(),
        owner: "zhangsan".into(),
        source: GroupSource::Customer,
        update_time: at,
        members: members
            .iter()
            .map(|(id, name)| GroupMember {
                user_id: (*id).into(),
                member_type: if id.starts_with("wm") { 2 } else { 1 },
                name: (*name).into(),
                ..GroupMember::default()
            })
            .collect(),
        ..Group::default()
    }
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub(super) fn names_are_saved_replaced_and_found(s: &dyn Store) {
    // Messages mention a customer, another external id, and a room.
    let mut a = message_row("ww1", "a", 1);
    a.to_list = "wmA".into();
    let mut b = message_row("ww1", "b", 2);
    b.from_id = "wmB".into();
    b.to_list = "zhangsan".into();
    let mut c = message_row("ww1", "c", 3);
    c.room_id = "wrR".into();
    c.to_list = "lisi,wmA".into();
    s.store_batch(&StoreBatch {
        corp_id: "ww1".into(),
        messages: vec![a, b, c],
        checkpoint: 3,
        ..StoreBatch::default()
    })
    .expect("store");
    let mut unnamed = s.unnamed_ids("ww1", 10).expect("unnamed");
    unnamed.sort();
    assert_eq!(
        unnamed,
        vec![
            DirectoryId::Customer("wmA".into()),
            DirectoryId::Customer("wmB".into()),
            DirectoryId::Group("wrR".into()),
        ]
    );
    assert!(s.unnamed_ids("ww2", 10).expect("other corp").is_empty());

    s.save_customers(&[customer("wmA", "客户王女士", 1_000)])
        .expect("save");
    s.save_group(&group(
        1_000,
        &[("zhangsan", "张三"), ("wmA", "王姐"), ("wmB", "李先生")],
    ))
    .expect("group");
    assert_eq!(
        s.unnamed_ids("ww1", 10).expect("unnamed"),
        vec![DirectoryId::Customer("wmB".into())],
        "a name seen in a group is no lookup of the contact"
    );
    let names = s
        .names("ww1", &ids(&["wmA", "wmB", "wrR", "zhangsan", "nobody"]))
        .expect("names");
    assert_eq!(
        names.get("wmA").map(String::as_str),
        Some("客户王女士"),
        "own name first"
    );
    assert_eq!(
        names.get("wmB").map(String::as_str),
        Some("李先生"),
        "seen in the group"
    );
    assert_eq!(names.get("wrR").map(String::as_str), Some("华东大客户群"));
    assert!(!names.contains_key("nobody"));
    assert!(s.names("ww2", &ids(&["wmA"])).expect("names").is_empty());

    // A failed lookup keeps the name; a later success replaces it.
    let mut failed = customer("wmA", "", 2_000);
    failed.lookup_error = "errcode 84061".into();
    s.save_customers(&[failed]).expect("save");
    let names = s.names("ww1", &ids(&["wmA"])).expect("names");
    assert_eq!(names.get("wmA").map(String::as_str), Some("客户王女士"));
    s.save_customers(&[customer("wmA", "王女士", 3_000)])
        .expect("save");
    let names = s.names("ww1", &ids(&["wmA"])).expect("names");
    assert_eq!(names.get("wmA").map(String::as_str), Some("王女士"));

    // The group's members are the latest lookup's.
    s.save_group(&group(4_000, &[("zhangsan", "张三"), ("lisi", "李四")]))
        .expect("group");
    let g = s.group("ww1", "wrR").expect("group").expect("known");
    assert_eq!(g.group_name, "华东大客户群");
    let mut members: Vec<&str> = g.members.iter().map(|m| m.user_id.as_str()).collect();
    members.sort();
    assert_eq!(members, ["lisi", "zhangsan"]);
    assert!(s.group("ww1", "wrOther").expect("group").is_none());

    // Refresh: the rows looked up before a time, oldest first.
    assert_eq!(
        s.stale_ids("ww1", 3_500, 10).expect("stale"),
        vec![DirectoryId::Customer("wmA".into())]
    );
    assert_eq!(s.stale_ids("ww1", 10_000, 10).expect("stale").len(), 2);
    assert!(s.stale_ids("ww1", 0, 10).expect("stale").is_empty());
}

/// Customers and groups found by part of their name (any case) or id, in one corp or all, at
/// most a limit of each kind: what `msgaudit names` prints.
pub(super) fn names_are_found_by_part_of_them(s: &dyn Store) {
    let mut other = customer("wmOther", "王女士", 1);
    other.corp_id = "ww2".into();
    s.save_customers(&[
        customer("wmA", "客户王女士", 1),
        customer("wmB", "Alice Wang", 1),
        customer("wmC", "李先生", 1),
        other,
    ])
    .expect("customers");
    s.save_group(&group(1, &[("zhangsan", "张三")]))
        .expect("group");
    let found = |corp: Option<&str>, text: &str, limit: u32| -> Vec<(String, String)> {
        s.find_names(corp, text, limit)
            .expect("find")
            .into_iter()
            .map(|FoundName { corp_id, id, .. }| {
                let id = match id {
                    DirectoryId::Customer(id) => format!("customer:{id}"),
                    DirectoryId::Group(id) => format!("group:{id}"),
                };
                (corp_id, id)
            })
            .collect()
    };
    let pair = |corp: &str, id: &str| (corp.to_owned(), id.to_owned());
    assert_eq!(
        found(None, "王女士", 10),
        [pair("ww1", "customer:wmA"), pair("ww2", "customer:wmOther")],
        "customers by name (客户王女士 before 王女士), in every corp"
    );
    assert_eq!(
        found(Some("ww1"), "王女士", 10),
        [pair("ww1", "customer:wmA")]
    );
    assert_eq!(
        found(Some("ww1"), "alice", 10),
        [pair("ww1", "customer:wmB")],
        "any case"
    );
    assert_eq!(found(Some("ww1"), "华东", 10), [pair("ww1", "group:wrR")]);
    assert_eq!(
        found(Some("ww1"), "wm", 2).len(),
        2,
        "by part of the id, at most the limit"
    );
    assert!(found(None, "nobody", 10).is_empty());
    let named = s.find_names(Some("ww1"), "华东", 1).expect("find");
    assert_eq!(named[0].name, "华东大客户群");
}
