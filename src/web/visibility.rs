//! What a signed-in user may see. An administrator sees everything. An auditor sees the hits of
//! the strategies whose `audit_user_id` is theirs, the conversations around those hits, and the
//! behaviour hits of the members those strategies audit, and the whole archive of those members:
//! every conversation one of them took part in, its messages, search results and media. Anything else answers 404, so a request
//! never tells whether something outside the user's view exists.

use std::collections::BTreeSet;

use crate::audit::RuleSet;
use crate::audit::scope::{Org, Scope};
use crate::store::{HitQuery, Role};

use super::auth::Session;

/// The filters that narrow a query to a user's view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Strategies visible (None: all).
    pub strategy_ids: Option<Vec<i64>>,
    /// Behaviour-hit operators visible (None: all).
    pub operator_ids: Option<Vec<String>>,
}

impl View {
    /// The view of `session` under `rules`.
    pub fn of(session: &Session, rules: &RuleSet) -> View {
        if session.role == Role::Admin {
            return View::default();
        }
        let mine: Vec<_> = rules
            .strategies
            .iter()
            .filter(|s| !session.we_user_id.is_empty() && s.audit_user_id == session.we_user_id)
            .collect();
        let org = Org::new(rules);
        let mut operators = BTreeSet::new();
        let mut everyone = false;
        for s in &mine {
            match org.resolve(s) {
                Scope::AllInternal => everyone = true,
                Scope::Members(set) => operators.extend(set),
            }
        }
        View {
            strategy_ids: Some(mine.iter().map(|s| s.id).collect()),
            operator_ids: if everyone {
                None
            } else {
                Some(operators.into_iter().collect())
            },
        }
    }

    /// Narrows a query to this view.
    pub fn apply(&self, q: &mut HitQuery) {
        q.strategy_ids = self.strategy_ids.clone();
        q.operator_ids = self.operator_ids.clone();
    }

    /// Whose conversations this view sees: those a member in the resolved scope of one of the
    /// auditor's strategies took part in (None: every conversation).
    pub fn conversations(&self) -> crate::store::Visible {
        self.operator_ids.clone()
    }

    /// Whether a strategy is visible.
    pub fn sees_strategy(&self, id: i64) -> bool {
        self.strategy_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&id))
    }
}
