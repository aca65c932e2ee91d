//! What every long-running part of msgaudit shares: the process's one shutdown token
//! ([`Shutdown`]), the counters the stages update and the operator reads ([`Stats`]), what a
//! corp's lag is ([`Lag`]), the one back-off rule for retries ([`backoff`]), how often to repeat a
//! costly read ([`duty`]), handing a big build's freed heap back ([`release_freed_memory`]), and, in a fleet, the time until which the pullers may call the SDK
//! ([`PullFence`]).
//!
//! This layer sits at the bottom: it imports nothing of msgaudit but the message values it counts,
//! so the pipeline, the alert sender, the web workspace and the metrics endpoint can all take it
//! without depending on one another.

mod backoff;
pub mod duty;
mod fence;
mod lag;
mod memory;
mod shared;
mod shutdown;
mod stats;

pub use backoff::backoff;
pub use fence::PullFence;
pub use lag::{FAILING_AFTER_CALLS, Lag, PullState, RETENTION_MS, near_retention};
pub use memory::release_freed_memory;
pub use shared::Shared;
pub use shutdown::Shutdown;
pub use stats::{CorpStats, MediaStats, Stats};
