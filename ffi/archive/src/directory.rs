//! Who the generated archive's people and groups are: the names and details WeCom's directory APIs
//! would answer for its members, external contacts and group chats. A stand-in of those APIs serves
//! this for the demo, so a browsed archive shows 张三 talking to 客户王女士 in 「华东大客户群」.

use crate::generate::{EXTERNAL, INTERNAL, ROOMS};

/// A member of the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryMember {
    pub userid: &'static str,
    pub name: &'static str,
}

/// An external contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryCustomer {
    pub external_userid: &'static str,
    pub name: &'static str,
    /// 1 a WeChat user, 2 a WeCom user (of another corp).
    pub kind: u8,
    /// 0 unknown, 1 male, 2 female.
    pub gender: u8,
    pub corp_name: &'static str,
    pub position: &'static str,
    /// The member who added them.
    pub added_by: &'static str,
}

/// A group chat: a customer group (externalcontact/groupchat/get) or an internal one (the chat
/// archive's own group API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryGroup {
    pub chat_id: &'static str,
    pub name: &'static str,
    pub owner: &'static str,
    pub notice: &'static str,
    pub internal: bool,
    /// Created, epoch seconds.
    pub create_time: u64,
    /// Members' ids (members of the corp and external contacts).
    pub members: Vec<&'static str>,
}

const MEMBER_NAMES: &[&str] = &[
    "张三",
    "李四",
    "王五",
    "赵六",
    "黄伟",
    "陈静",
    "孙浩",
    "刘洋",
    "孙丽",
    "周强",
    "销售一号",
    "小美",
];

/// Every member the generated archive has, with a name.
pub fn members() -> Vec<DirectoryMember> {
    INTERNAL
        .iter()
        .zip(MEMBER_NAMES)
        .map(|(&userid, &name)| DirectoryMember { userid, name })
        .collect()
}

/// Every external contact the generated archive has.
pub fn customers() -> Vec<DirectoryCustomer> {
    const DETAILS: &[(&str, u8, u8, &str, &str)] = &[
        ("客户王女士", 1, 2, "", ""),
        ("李先生", 1, 1, "", ""),
        ("赵总", 2, 1, "华东建材有限公司", "总经理"),
        ("陈小姐", 2, 2, "申城贸易", "采购"),
        ("周经理", 1, 1, "", ""),
    ];
    EXTERNAL
        .iter()
        .zip(DETAILS)
        .enumerate()
        .map(
            |(i, (&external_userid, &(name, kind, gender, corp_name, position)))| {
                DirectoryCustomer {
                    external_userid,
                    name,
                    kind,
                    gender,
                    corp_name,
                    position,
                    added_by: INTERNAL[i % INTERNAL.len()],
                }
            },
        )
        .collect()
}

/// Every group chat the generated archive has. The first is internal (only members post there);
/// the others are customer groups with every external contact in them.
pub fn groups() -> Vec<DirectoryGroup> {
    const NAMES: &[(&str, &str)] = &[
        ("销售部内部群", "周一例会请提前准备周报。"),
        ("华东大客户群", "欢迎各位，报价与合同请私聊客户经理。"),
        (
            "售后服务群",
            "售后问题请在群内反馈，工作日 9:00-18:00 回复。",
        ),
    ];
    ROOMS
        .iter()
        .zip(NAMES)
        .enumerate()
        .map(|(i, (&chat_id, &(name, notice)))| {
            let mut members: Vec<&'static str> = INTERNAL.iter().take(5).copied().collect();
            if i > 0 {
                members.extend(EXTERNAL.iter().copied());
            }
            DirectoryGroup {
                chat_id,
                name,
                owner: INTERNAL[0],
                notice,
                internal: i == 0,
                create_time: 1_700_000_000 + i as u64 * 86_400,
                members,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everyone_in_the_archive_has_a_name() {
        assert_eq!(members().len(), INTERNAL.len());
        assert_eq!(customers().len(), EXTERNAL.len());
        assert_eq!(groups().len(), ROOMS.len());
        assert_eq!(members()[0].name, "张三");
        assert_eq!(customers()[0].name, "客户王女士");
        assert_eq!(groups()[1].name, "华东大客户群");
        assert!(groups()[0].internal && !groups()[1].internal);
    }
}
