//! How often to repeat a costly read (a look over a whole table, a summary of it): once this many
//! times what it last took has passed, so that it takes at most about 5 % of the time however
//! large the table grows, within bounds the caller sets.

use std::time::Duration;

/// A costly read is repeated once this many times its last cost has passed.
pub const COST_RATIO: u32 = 20;

/// When to repeat a read that took `cost`: [`COST_RATIO`] times that, at least `min` and at most
/// `max` (a `max` below `min` counts as `min`).
pub fn repeat_after(cost: Duration, min: Duration, max: Duration) -> Duration {
    cost.saturating_mul(COST_RATIO).clamp(min, max.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_times_the_cost_within_the_bounds() {
        let s = Duration::from_secs;
        assert_eq!(repeat_after(Duration::from_millis(100), s(0), s(60)), s(2));
        assert_eq!(repeat_after(Duration::from_millis(1), s(2), s(60)), s(2));
        assert_eq!(repeat_after(s(10), s(2), s(60)), s(60));
        assert_eq!(repeat_after(s(10), s(3_600), s(60)), s(3_600));
        assert_eq!(repeat_after(Duration::MAX, s(0), s(60)), s(60));
    }
}
