//! A value several threads read and one replaces while they run (the corps archived now, say):
//! readers take a cheap snapshot, a writer swaps in a new value whole.

use std::sync::{Arc, RwLock};

/// A shared, replaceable value.
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Shared<T> {
    pub fn new(value: T) -> Shared<T> {
        Shared::from_arc(Arc::new(value))
    }

    /// Shares a value already behind an `Arc`.
    pub fn from_arc(value: Arc<T>) -> Shared<T> {
        Shared(Arc::new(RwLock::new(value)))
    }

    /// The value now.
    pub fn get(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the value; snapshots taken before keep the old one.
    pub fn set(&self, value: T) {
        self.set_arc(Arc::new(value));
    }

    /// Replaces the value with one already behind an `Arc`.
    pub fn set_arc(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_keeps_its_value_after_a_replacement() {
        let shared = Shared::new(vec![1]);
        let before = shared.get();
        shared.clone().set(vec![2, 3]);
        assert_eq!(*before, vec![1]);
        assert_eq!(*shared.get(), vec![2, 3]);
    }
}
