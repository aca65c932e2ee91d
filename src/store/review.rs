//! The auditors' review of hits: each strategy or behaviour hit's state (待处理 / 已核实 / 误报 /
//! 已上报) with a note, who set it and when (`we_sensitive_review`), every change kept in order
//! (`we_sensitive_review_log`), and hit totals by state under a listing's filters.

use super::{HitQuery, StoreError};

/// Where a hit stands in review. A hit nobody has reviewed is [`ReviewState::Pending`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    #[default]
    Pending,
    Confirmed,
    FalsePositive,
    Escalated,
}

impl ReviewState {
    pub const ALL: [ReviewState; 4] = [
        ReviewState::Pending,
        ReviewState::Confirmed,
        ReviewState::FalsePositive,
        ReviewState::Escalated,
    ];

    /// The stored code (0 pending … 3 escalated).
    pub fn code(self) -> u8 {
        match self {
            ReviewState::Pending => 0,
            ReviewState::Confirmed => 1,
            ReviewState::FalsePositive => 2,
            ReviewState::Escalated => 3,
        }
    }

    /// The state a stored code names (an unknown code reads as pending).
    pub fn from_code(code: u8) -> ReviewState {
        match code {
            1 => ReviewState::Confirmed,
            2 => ReviewState::FalsePositive,
            3 => ReviewState::Escalated,
            _ => ReviewState::Pending,
        }
    }

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Pending => "pending",
            ReviewState::Confirmed => "confirmed",
            ReviewState::FalsePositive => "false_positive",
            ReviewState::Escalated => "escalated",
        }
    }

    /// The state the API's name names.
    pub fn parse(s: &str) -> Option<ReviewState> {
        ReviewState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// What auditors read.
    pub fn label(self) -> &'static str {
        match self {
            ReviewState::Pending => "待处理",
            ReviewState::Confirmed => "已核实",
            ReviewState::FalsePositive => "误报",
            ReviewState::Escalated => "已上报",
        }
    }
}

/// Which hit table a review is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HitKind {
    /// A strategy hit (`we_chat_contact_sensitive_msg`), by strategy id.
    Strategy,
    /// A behaviour hit (`we_sensitive_act_hit`), by behaviour id.
    Behaviour,
}

impl HitKind {
    /// The stored code.
    pub fn code(self) -> u8 {
        match self {
            HitKind::Strategy => 1,
            HitKind::Behaviour => 2,
        }
    }

    pub fn from_code(code: u8) -> Option<HitKind> {
        match code {
            1 => Some(HitKind::Strategy),
            2 => Some(HitKind::Behaviour),
            _ => None,
        }
    }

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::Strategy => "strategy",
            HitKind::Behaviour => "behaviour",
        }
    }

    pub fn parse(s: &str) -> Option<HitKind> {
        match s {
            "strategy" => Some(HitKind::Strategy),
            "behaviour" => Some(HitKind::Behaviour),
            _ => None,
        }
    }
}

/// One hit, as a review names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HitKey {
    pub kind: HitKind,
    pub corp_id: String,
    pub msg_id: String,
    /// The strategy id or the behaviour id.
    pub id: i64,
}

impl HitKey {
    /// The key of a strategy hit.
    pub fn of_hit(hit: &super::HitRow) -> HitKey {
        HitKey {
            kind: HitKind::Strategy,
            corp_id: hit.corp_id.clone(),
            msg_id: hit.msg_id.clone(),
            id: hit.strategy_id,
        }
    }

    /// The key of a behaviour hit.
    pub fn of_act_hit(hit: &super::ActHitRow) -> HitKey {
        HitKey {
            kind: HitKind::Behaviour,
            corp_id: hit.corp_id.clone(),
            msg_id: hit.msg_id.clone(),
            id: hit.sensitive_act_id,
        }
    }
}

/// A hit's review: its state and note, who set them and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub key: HitKey,
    pub state: ReviewState,
    pub note: String,
    /// The workspace account that set it.
    pub reviewer: String,
    pub time_ms: i64,
}

/// Hits under a listing's filters, by review state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub pending: u64,
    pub confirmed: u64,
    pub false_positive: u64,
    pub escalated: u64,
}

impl StateCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.confirmed + self.false_positive + self.escalated
    }

    pub fn get(&self, state: ReviewState) -> u64 {
        match state {
            ReviewState::Pending => self.pending,
            ReviewState::Confirmed => self.confirmed,
            ReviewState::FalsePositive => self.false_positive,
            ReviewState::Escalated => self.escalated,
        }
    }

    pub fn add(&mut self, state: ReviewState, n: u64) {
        match state {
            ReviewState::Pending => self.pending += n,
            ReviewState::Confirmed => self.confirmed += n,
            ReviewState::FalsePositive => self.false_positive += n,
            ReviewState::Escalated => self.escalated += n,
        }
    }
}

/// Reviews and hit totals: what the workspace's review workflow needs.
pub trait ReviewStore: Send + Sync {
    /// Sets each hit's review and appends it to the history (the caller checks the hits exist and
    /// are the reviewer's to review).
    fn record_reviews(&self, reviews: &[Review]) -> Result<(), StoreError>;

    /// The current reviews of these hits (hits never reviewed are left out).
    fn reviews_of(&self, keys: &[HitKey]) -> Result<Vec<Review>, StoreError>;

    /// The review state of each of these hits that was reviewed (the rest are pending).
    fn review_states(
        &self,
        keys: &[HitKey],
    ) -> Result<std::collections::HashMap<HitKey, ReviewState>, StoreError> {
        Ok(self
            .reviews_of(keys)?
            .into_iter()
            .map(|r| (r.key, r.state))
            .collect())
    }

    /// Every review a hit has had, newest first.
    fn review_history(&self, key: &HitKey) -> Result<Vec<Review>, StoreError>;

    /// Hits of `kind` under `query`'s filters (its review state, cursor and limit ignored), by
    /// review state.
    fn hit_totals(&self, kind: HitKind, query: &HitQuery) -> Result<StateCounts, StoreError>;
}
