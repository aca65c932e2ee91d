//! Scope resolution, once per rules version: a strategy's scope rows become a set of userids.
//! A department covers its whole subtree and every member of any department in it (members can be in
//! several). No scope rows means every internal member.

use std::collections::{HashMap, HashSet};

use super::rules::{RuleSet, Strategy};
use crate::message::is_external_id;

/// Who a strategy audits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every internal member (no scope rows).
    AllInternal,
    Members(HashSet<String>),
}

/// Whether an id is an internal member: not an external contact (`wo`/`wm`) and not a robot (`wb`).
pub fn is_internal_id(id: &str) -> bool {
    !id.is_empty() && !is_external_id(id) && !id.starts_with("wb")
}

impl Scope {
    pub fn contains(&self, userid: &str) -> bool {
        match self {
            Scope::AllInternal => is_internal_id(userid),
            Scope::Members(set) => set.contains(userid),
        }
    }
}

/// The organisation, indexed for resolution.
pub struct Org<'a> {
    children: HashMap<i64, Vec<i64>>,
    members_of: HashMap<i64, Vec<&'a str>>,
}

impl<'a> Org<'a> {
    pub fn new(rules: &'a RuleSet) -> Org<'a> {
        let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
        for d in &rules.departments {
            children.entry(d.parent_id).or_default().push(d.id);
        }
        let mut members_of: HashMap<i64, Vec<&str>> = HashMap::new();
        for m in &rules.members {
            for d in &m.departments {
                members_of.entry(*d).or_default().push(&m.userid);
            }
        }
        Org {
            children,
            members_of,
        }
    }

    /// Every member of `dept` and its descendants (cycles in bad data are tolerated).
    fn subtree_members(&self, dept: i64, out: &mut HashSet<String>) {
        let mut stack = vec![dept];
        let mut seen = HashSet::new();
        while let Some(d) = stack.pop() {
            if !seen.insert(d) {
                continue;
            }
            out.extend(
                self.members_of
                    .get(&d)
                    .into_iter()
                    .flatten()
                    .map(|m| m.to_string()),
            );
            stack.extend(self.children.get(&d).into_iter().flatten());
        }
    }

    /// Resolves a strategy's scope rows.
    pub fn resolve(&self, s: &Strategy) -> Scope {
        if s.scope.is_empty() {
            return Scope::AllInternal;
        }
        let mut set = HashSet::new();
        for row in &s.scope {
            for id in row
                .id
                .split([',', '，'])
                .map(str::trim)
                .filter(|x| !x.is_empty())
            {
                match row.kind {
                    1 => {
                        if let Ok(dept) = id.parse() {
                            self.subtree_members(dept, &mut set);
                        }
                    }
                    _ => {
                        set.insert(id.to_owned());
                    }
                }
            }
        }
        Scope::Members(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::{Department, Member, ScopeRow};

    fn org_rules() -> RuleSet {
        let d = |id, parent_id| Department {
            id,
            parent_id,
            name: String::new(),
        };
        let m = |u: &str, ds: &[i64]| Member {
            userid: u.into(),
            name: String::new(),
            departments: ds.to_vec(),
        };
        RuleSet {
            // 1 总部 ─ 2 销售 ─ 3 华北 ─ 4 北京 ; 1 ─ 5 研发
            departments: vec![d(1, 0), d(2, 1), d(3, 2), d(4, 3), d(5, 1)],
            members: vec![
                m("beijing", &[4]),
                m("sales", &[2]),
                m("dev", &[5]),
                m("both", &[5, 3]),
            ],
            ..Default::default()
        }
    }

    fn strategy(scope: Vec<ScopeRow>) -> Strategy {
        Strategy {
            scope,
            ..Strategy::new(1, "s")
        }
    }

    #[test]
    fn departments_cover_nested_subtrees_and_multi_department_members() {
        let rules = org_rules();
        let org = Org::new(&rules);
        let scope = org.resolve(&strategy(vec![ScopeRow {
            kind: 1,
            id: "2".into(),
            name: String::new(),
        }]));
        for (user, inside) in [
            ("beijing", true),
            ("sales", true),
            ("both", true),
            ("dev", false),
        ] {
            assert_eq!(scope.contains(user), inside, "{user}");
        }
        let members = org.resolve(&strategy(vec![
            ScopeRow {
                kind: 2,
                id: "dev, x".into(),
                name: String::new(),
            },
            ScopeRow {
                kind: 1,
                id: "4".into(),
                name: String::new(),
            },
        ]));
        assert!(members.contains("dev") && members.contains("x") && members.contains("beijing"));
        assert!(!members.contains("sales"));
    }

    #[test]
    fn no_scope_rows_means_every_internal_member() {
        let rules = org_rules();
        let all = Org::new(&rules).resolve(&strategy(vec![]));
        assert!(all.contains("anyone") && all.contains("13800138000"));
        assert!(
            !all.contains("wmCustomer") && !all.contains("woCustomer") && !all.contains("wbRobot")
        );
    }
}
