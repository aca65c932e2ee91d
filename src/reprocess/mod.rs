//! Engines that work again over what is already stored, beside the pipeline: re-auditing stored
//! messages under the current rules ([`reaudit`](mod@reaudit)) and re-driving dead letters once their cause is
//! fixed ([`redrive`](mod@redrive)). Both page through the store, reuse the pipeline's decode and audit, and are
//! safe to repeat (the store absorbs what is already there).

pub mod reaudit;
pub mod redrive;

pub use reaudit::{ReauditError, ReauditOptions, ReauditProgress, reaudit};
pub use redrive::{RedriveReport, redrive};
