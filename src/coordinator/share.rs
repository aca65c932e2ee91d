//! How a daemon decides which corps to take and which to give back, from what etcd shows: the live
//! daemons, which corp each holds, and the corps the fleet archives. Pure, so every daemon running
//! it converges on an even share without talking to the others.
//!
//! - A daemon's fair share is ⌈corps / daemons⌉.
//! - Below it, a daemon claims corps nobody holds, preferring those it ranks highest
//!   (rendezvous hashing: every daemon ranks the corps differently, so daemons starting together
//!   seldom race for the same ones).
//! - Above it, a daemon gives back the corps it ranks lowest (after draining them), so a daemon that
//!   joins gets its share; corps no longer archived are given back too.
//!
//! Because each share is rounded up, the shares together always cover every corp.

use std::collections::{BTreeMap, BTreeSet};

/// What one daemon sees.
#[derive(Debug)]
pub struct View<'a> {
    /// This daemon's name.
    pub me: &'a str,
    /// The live daemons (this one included).
    pub members: &'a BTreeSet<String>,
    /// Who holds each held corp.
    pub holders: &'a BTreeMap<String, String>,
    /// The corps the fleet archives.
    pub wanted: &'a BTreeSet<String>,
    /// Corps this daemon is giving back already (held until drained).
    pub releasing: &'a BTreeSet<String>,
}

/// What to do now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Corps to try to claim, best first.
    pub claim: Vec<String>,
    /// Corps to give back.
    pub release: Vec<String>,
}

/// This daemon's rank of `corp` (FNV-1a of both names): higher is preferred.
pub fn rank(me: &str, corp: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in me.bytes().chain([0]).chain(corp.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The corps a daemon should hold at most.
pub fn fair_share(corps: usize, members: usize) -> usize {
    corps.div_ceil(members.max(1))
}

/// The plan for `view`.
pub fn plan(view: &View<'_>) -> Plan {
    let mut plan = Plan::default();
    let mine: Vec<&String> = view
        .holders
        .iter()
        .filter(|(corp, holder)| *holder == view.me && !view.releasing.contains(*corp))
        .map(|(corp, _)| corp)
        .collect();
    let (mut keep, gone): (Vec<&String>, Vec<&String>) =
        mine.into_iter().partition(|c| view.wanted.contains(*c));
    plan.release.extend(gone.into_iter().cloned());
    let fair = fair_share(view.wanted.len(), view.members.len());
    if keep.len() > fair {
        keep.sort_by_key(|c| std::cmp::Reverse(rank(view.me, c)));
        plan.release
            .extend(keep.split_off(fair).into_iter().cloned());
        return plan;
    }
    let mut free: Vec<&String> = view
        .wanted
        .iter()
        .filter(|c| !view.holders.contains_key(*c))
        .collect();
    free.sort_by_key(|c| std::cmp::Reverse(rank(view.me, c)));
    plan.claim = free.into_iter().take(fair - keep.len()).cloned().collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn corps(n: usize) -> BTreeSet<String> {
        (0..n).map(|i| format!("corp{i:03}")).collect()
    }

    /// Runs every daemon's plan in turn, claims succeeding first come first served, until nothing
    /// changes; releases are drained at once.
    fn settle(
        members: &BTreeSet<String>,
        wanted: &BTreeSet<String>,
        holders: &mut BTreeMap<String, String>,
    ) {
        for _ in 0..20 {
            let mut changed = false;
            for me in members {
                let p = plan(&View {
                    me,
                    members,
                    holders,
                    wanted,
                    releasing: &BTreeSet::new(),
                });
                for c in p.release {
                    holders.remove(&c);
                    changed = true;
                }
                for c in p.claim {
                    if let std::collections::btree_map::Entry::Vacant(e) = holders.entry(c) {
                        e.insert(me.clone());
                        changed = true;
                    }
                }
            }
            if !changed {
                return;
            }
        }
        panic!("no fixed point");
    }

    fn load(holders: &BTreeMap<String, String>, me: &str) -> usize {
        holders.values().filter(|h| *h == me).count()
    }

    #[test]
    fn three_daemons_share_300_corps_evenly_and_cover_all() {
        let members = set(&["a", "b", "c"]);
        let wanted = corps(300);
        let mut holders = BTreeMap::new();
        settle(&members, &wanted, &mut holders);
        assert_eq!(holders.len(), 300);
        for m in &members {
            assert_eq!(load(&holders, m), 100);
        }
    }

    #[test]
    fn a_daemon_that_joins_late_gets_its_share_from_the_others() {
        let wanted = corps(301);
        let mut holders = BTreeMap::new();
        settle(&set(&["a"]), &wanted, &mut holders);
        assert_eq!(load(&holders, "a"), 301);
        let members = set(&["a", "b", "c"]);
        settle(&members, &wanted, &mut holders);
        assert_eq!(holders.len(), 301);
        for m in &members {
            let n = load(&holders, m);
            // At most the rounded-up share; the last daemon gets what is left.
            assert!((99..=101).contains(&n), "{m} holds {n}");
        }
    }

    #[test]
    fn a_dead_daemons_corps_are_taken_by_the_living() {
        let wanted = corps(300);
        let mut holders = BTreeMap::new();
        settle(&set(&["a", "b", "c"]), &wanted, &mut holders);
        // c dies: its lease expires and its keys with it.
        holders.retain(|_, h| h != "c");
        settle(&set(&["a", "b"]), &wanted, &mut holders);
        assert_eq!(holders.len(), 300);
        assert_eq!(load(&holders, "a"), 150);
        assert_eq!(load(&holders, "b"), 150);
    }

    #[test]
    fn corps_no_longer_archived_are_given_back_and_releasing_ones_are_left_alone() {
        let members = set(&["a"]);
        let holders: BTreeMap<String, String> = [("x", "a"), ("y", "a"), ("z", "a")]
            .iter()
            .map(|(c, h)| (c.to_string(), h.to_string()))
            .collect();
        let p = plan(&View {
            me: "a",
            members: &members,
            holders: &holders,
            wanted: &set(&["x", "z"]),
            releasing: &set(&["z"]),
        });
        assert_eq!(p.release, vec!["y".to_string()]);
        assert!(p.claim.is_empty());
    }

    #[test]
    fn ranks_differ_between_daemons() {
        let wanted = corps(50);
        let top = |me: &str| wanted.iter().max_by_key(|c| rank(me, c)).cloned();
        assert_ne!(top("a"), top("b"));
        assert_eq!(fair_share(300, 0), 300);
        assert_eq!(fair_share(301, 3), 101);
    }
}
