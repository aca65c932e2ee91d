//! The compiled rules that 试一试 (`POST /api/strategies/try`) tries texts on, kept between
//! requests: building a matcher takes seconds and hundreds of megabytes for tens of thousands of
//! words, and an auditor tries many texts on the same rules. Two slots: the stored rules of one
//! version (every enabled strategy; each request then keeps the hits its account may see), and
//! the last draft an administrator tried. A slot's lock is held while it builds, so requests that
//! arrive meanwhile wait for that build instead of starting their own.

use std::sync::{Arc, Mutex};

use crate::audit::{Auditor, RuleSet, Strategy};

use super::api::ApiError;

/// The two slots.
#[derive(Default)]
pub struct Tried {
    stored: Slot<u64>,
    draft: Slot<Strategy>,
}

impl Tried {
    /// The stored rules `rules` of `version` as tried: every enabled strategy, scopes aside.
    pub fn stored(&self, version: u64, rules: &RuleSet) -> Result<Arc<Auditor>, ApiError> {
        self.stored.get_or_build(version, |_| RuleSet {
            strategies: rules
                .strategies
                .iter()
                .filter(|s| s.enabled)
                .cloned()
                .map(unscoped)
                .collect(),
            acts: rules.acts.clone(),
            url_allow: rules.url_allow.clone(),
            ..RuleSet::default()
        })
    }

    /// `draft` alone, as tried (its words only: behaviours are the stored rules' business).
    pub fn draft(&self, draft: Strategy) -> Result<Arc<Auditor>, ApiError> {
        let draft = unscoped(Strategy {
            enabled: true,
            ..draft
        });
        self.draft.get_or_build(draft, |d| RuleSet {
            strategies: vec![d.clone()],
            ..RuleSet::default()
        })
    }
}

/// One compiled rules set, and what it was built from.
struct Slot<K>(Mutex<Option<(K, Arc<Auditor>)>>);

impl<K> Default for Slot<K> {
    fn default() -> Self {
        Slot(Mutex::new(None))
    }
}

impl<K: PartialEq> Slot<K> {
    /// The rules built from `key`: kept if they are, else built from `rules(&key)` and kept.
    fn get_or_build(
        &self,
        key: K,
        rules: impl FnOnce(&K) -> RuleSet,
    ) -> Result<Arc<Auditor>, ApiError> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, auditor)) = slot.as_ref()
            && *k == key
        {
            return Ok(auditor.clone());
        }
        // Drop the old build before making the new one: both at once would double the peak.
        *slot = None;
        let auditor = Arc::new(Auditor::build(&rules(&key), 0).map_err(|e| {
            ApiError::BadRequest(format!(
                "策略无法使用：{e}。请减少或缩短敏感词后再试 \
                 (the strategy cannot be built: use fewer or shorter words)"
            ))
        })?);
        crate::runtime::release_freed_memory();
        *slot = Some((key, auditor.clone()));
        Ok(auditor)
    }
}

/// `s` as a member's message to a customer meets it: scopes aside (the question is what the
/// words catch), sent only.
fn unscoped(mut s: Strategy) -> Strategy {
    s.scope.clear();
    s.audit_received = false;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(id: i64, words: &[&str]) -> Strategy {
        let mut s = Strategy::new(id, "试");
        s.words = words.iter().map(|w| w.to_string()).collect();
        s
    }

    fn rules(words: &[&str]) -> RuleSet {
        RuleSet {
            strategies: vec![strategy(1, words)],
            ..RuleSet::default()
        }
    }

    #[test]
    fn the_stored_rules_are_built_once_per_version() {
        let tried = Tried::default();
        let a = tried.stored(1, &rules(&["转账"])).ok();
        let b = tried.stored(1, &rules(&["转账"])).ok();
        assert!(a.is_some());
        assert!(matches!((&a, &b), (Some(a), Some(b)) if Arc::ptr_eq(a, b)));
        let c = tried.stored(2, &rules(&["发票"])).ok();
        assert!(matches!((&a, &c), (Some(a), Some(c)) if !Arc::ptr_eq(a, c)));
    }

    #[test]
    fn a_draft_is_built_again_only_when_it_changes() {
        let tried = Tried::default();
        let a = tried.draft(strategy(0, &["转账"])).ok();
        let b = tried.draft(strategy(0, &["转账"])).ok();
        assert!(matches!((&a, &b), (Some(a), Some(b)) if Arc::ptr_eq(a, b)));
        let c = tried.draft(strategy(0, &["转账", "发票"])).ok();
        assert!(matches!((&a, &c), (Some(a), Some(c)) if !Arc::ptr_eq(a, c)));
    }
}
