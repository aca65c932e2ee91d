//! One back-off rule for retries (SDK calls, store batches, spool writes, media jobs): the first
//! wait doubled on each further attempt, up to a longest wait.

use std::time::Duration;

/// The wait before retry number `attempt` (1 = the first retry).
pub fn backoff(first: Duration, attempt: u32, longest: Duration) -> Duration {
    first
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_longest_wait_and_never_overflows() {
        let ms = Duration::from_millis;
        let waits: Vec<Duration> = (1..=5).map(|a| backoff(ms(100), a, ms(1000))).collect();
        assert_eq!(waits, [ms(100), ms(200), ms(400), ms(800), ms(1000)]);
        assert_eq!(backoff(ms(100), u32::MAX, ms(1000)), ms(1000));
        assert_eq!(backoff(ms(100), 0, ms(1000)), ms(100));
    }
}
