//! Empty: the crate exists for its bench.
