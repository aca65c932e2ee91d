//! Who the ids are: external contacts (`we_customer`), group chats (`we_group`) and their members
//! (`we_group_member`), as WeCom's APIs describe them; which ids seen in messages nobody has looked
//! up yet; and names for a set of ids. Members of the organisation are named by the rules
//! (`sys_user`).

use std::collections::{HashMap, HashSet};

use super::StoreError;

/// An external contact as `externalcontact/get` describes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Customer {
    pub corp_id: String,
    pub external_userid: String,
    pub customer_name: String,
    /// 1 a WeChat user, 2 a WeCom user.
    pub customer_type: u8,
    pub avatar: String,
    /// 0 unknown, 1 male, 2 female.
    pub gender: u8,
    pub unionid: String,
    pub corp_name: String,
    pub position: String,
    /// The member who added them (the first `follow_user`).
    pub add_user_id: String,
    /// That member's remark for them.
    pub remark_name: String,
    /// Why the lookup failed (empty when it did not): the id is asked again after the refresh
    /// interval, not at every pass.
    pub lookup_error: String,
    /// When looked up, epoch ms.
    pub update_time: i64,
}

/// Where a group's description came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupSource {
    /// `externalcontact/groupchat/get`: a customer group.
    #[default]
    Customer,
    /// `msgaudit/groupchat/get`: an internal group.
    Internal,
}

impl GroupSource {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupSource::Customer => "customer",
            GroupSource::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> GroupSource {
        if s == "internal" {
            GroupSource::Internal
        } else {
            GroupSource::Customer
        }
    }
}

/// A group chat and its members.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    pub corp_id: String,
    pub chat_id: String,
    pub group_name: String,
    pub owner: String,
    pub notice: String,
    /// Created, epoch ms.
    pub add_time: i64,
    pub source: GroupSource,
    pub lookup_error: String,
    pub update_time: i64,
    pub members: Vec<GroupMember>,
}

/// One member of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GroupMember {
    pub user_id: String,
    /// 1 a member of the corp, 2 an external contact.
    pub member_type: u8,
    /// Epoch ms.
    pub join_time: i64,
    pub join_scene: u8,
    pub group_nick_name: String,
    pub name: String,
    pub invitor_user_id: String,
}

/// An id to look up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DirectoryId {
    Customer(String),
    Group(String),
}

/// The names directory: what the name fetcher writes and everyone who shows an id reads.
pub trait DirectoryStore: Send + Sync {
    /// Adds or replaces external contacts (by corp and id).
    fn save_customers(&self, customers: &[Customer]) -> Result<(), StoreError>;

    /// Adds or replaces a group and its members (the members listed are the group's now).
    fn save_group(&self, group: &Group) -> Result<(), StoreError>;

    /// External contacts and groups seen in a corp's messages that have no directory row yet.
    fn unnamed_ids(&self, corp_id: &str, limit: u32) -> Result<Vec<DirectoryId>, StoreError>;

    /// Directory rows of a corp last looked up before `before_ms`, oldest first (to refresh).
    fn stale_ids(
        &self,
        corp_id: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<DirectoryId>, StoreError>;

    /// Names of those of `ids` the directory knows (customers, groups, group members' names).
    fn names(&self, corp_id: &str, ids: &[String]) -> Result<HashMap<String, String>, StoreError>;

    /// One group with its members, if known.
    fn group(&self, corp_id: &str, chat_id: &str) -> Result<Option<Group>, StoreError>;

    /// External contacts and groups whose name (any case) or id contains `text`, in `corp_id` or
    /// every corp: customers first, then groups, each by name, at most `limit` of each.
    fn find_names(
        &self,
        corp_id: Option<&str>,
        text: &str,
        limit: u32,
    ) -> Result<Vec<FoundName>, StoreError>;
}

/// A directory row [`DirectoryStore::find_names`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundName {
    pub corp_id: String,
    pub id: DirectoryId,
    pub name: String,
}

impl FoundName {
    /// A row of one of [`NAMED_TABLES`]; `group` says which.
    pub(crate) fn new(corp_id: String, id: String, name: String, group: bool) -> FoundName {
        FoundName {
            corp_id,
            id: if group {
                DirectoryId::Group(id)
            } else {
                DirectoryId::Customer(id)
            },
            name,
        }
    }
}

/// The tables [`DirectoryStore::find_names`] searches, customers first: (table, id column, name
/// column, whether its rows are groups).
pub(crate) const NAMED_TABLES: [(&str, &str, &str, bool); 2] = [
    ("we_customer", "external_userid", "customer_name", false),
    ("we_group", "chat_id", "group_name", true),
];

/// Names for a set of ids of one corp: members by the organisation (the rules' `sys_user`), the
/// rest by the directory. What the page, the exports and the CLI show.
#[derive(Debug, Clone, Default)]
pub struct Names {
    known: HashMap<String, String>,
}

impl Names {
    /// Looks up every id of `ids` in `corp_id`.
    pub fn lookup(
        members: &[crate::audit::rules::Member],
        store: &dyn DirectoryStore,
        corp_id: &str,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<Names, StoreError> {
        let by_member: HashMap<&str, &str> = members
            .iter()
            .filter(|m| !m.name.is_empty())
            .map(|m| (m.userid.as_str(), m.name.as_str()))
            .collect();
        let ids: HashSet<String> = ids.into_iter().filter(|i| !i.is_empty()).collect();
        let mut known = HashMap::new();
        let mut rest = Vec::new();
        for id in ids {
            match by_member.get(id.as_str()) {
                Some(name) => {
                    known.insert(id, (*name).to_owned());
                }
                None => rest.push(id),
            }
        }
        known.extend(store.names(corp_id, &rest)?);
        Ok(Names { known })
    }

    /// The name of an id, if known.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.known.get(id).map(String::as_str)
    }

    /// `name (id)`, or the id alone when nobody can resolve it.
    pub fn label(&self, id: &str) -> String {
        match self.name(id) {
            Some(n) => format!("{n} ({id})"),
            None => id.to_owned(),
        }
    }

    /// The ids of a comma-separated list, labelled and joined with `、`.
    pub fn labels(&self, list: &str) -> String {
        super::split_list(list)
            .iter()
            .map(|id| self.label(id))
            .collect::<Vec<_>>()
            .join("、")
    }
}
