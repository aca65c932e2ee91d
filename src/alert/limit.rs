//! How often one robot may be posted to: at most N posts in any sliding window (WeCom allows about
//! 20 a minute per robot). The clock is passed in, so the limiter is tested without sleeping.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A sliding-window limit for one destination.
#[derive(Debug, Clone)]
pub struct Window {
    max: usize,
    window: Duration,
    sent: VecDeque<Instant>,
}

impl Window {
    /// At most `max` posts in any `window`.
    pub fn new(max: usize, window: Duration) -> Window {
        Window {
            max: max.max(1),
            window,
            sent: VecDeque::new(),
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&t) = self.sent.front() {
            if now.saturating_duration_since(t) >= self.window {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }

    /// Posts still allowed now.
    pub fn available(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.max - self.sent.len().min(self.max)
    }

    /// When the next post becomes allowed (`now` if one is).
    pub fn next_slot(&mut self, now: Instant) -> Instant {
        self.expire(now);
        if self.sent.len() < self.max {
            now
        } else {
            self.sent.front().map_or(now, |&t| t + self.window)
        }
    }

    /// Returns the slot taken last (a post the server never accepted does not count against it).
    pub fn give_back(&mut self) {
        self.sent.pop_back();
    }

    /// Takes a slot; false (and nothing taken) when none is free.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.available(now) == 0 {
            return false;
        }
        self.sent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_max_in_any_window() {
        let start = Instant::now();
        let mut w = Window::new(20, Duration::from_secs(60));
        let mut taken = Vec::new();
        // Try to post every second for five minutes.
        for s in 0..300u64 {
            let now = start + Duration::from_secs(s);
            if w.take(now) {
                taken.push(s);
            }
        }
        for (i, &t) in taken.iter().enumerate() {
            let in_window = taken[i..].iter().take_while(|&&u| u < t + 60).count();
            assert!(in_window <= 20, "{in_window} posts in the minute from {t}s");
        }
        assert_eq!(taken.len(), 100, "20 a minute for five minutes");
    }

    #[test]
    fn next_slot_is_when_the_oldest_post_leaves_the_window() {
        let start = Instant::now();
        let mut w = Window::new(2, Duration::from_secs(60));
        assert!(w.take(start));
        assert!(w.take(start + Duration::from_secs(10)));
        assert!(!w.take(start + Duration::from_secs(20)));
        assert_eq!(
            w.next_slot(start + Duration::from_secs(20)),
            start + Duration::from_secs(60)
        );
        assert!(w.take(start + Duration::from_secs(60)));
    }
}
