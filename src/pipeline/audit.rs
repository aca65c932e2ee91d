//! The audit hook: a stage that sees every decoded batch before it is stored. The audit engine fills
//! it; until then [`NoAudit`] passes batches through.

use super::DecodedBatch;

/// Audits a decoded batch in place (it may add hits to the batch). Runs on the decode thread, after
/// decryption and parsing, so it must be CPU-only and never block on I/O.
pub trait AuditStage: Send + Sync {
    fn audit(&self, batch: &mut DecodedBatch);
}

/// The no-op audit.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAudit;

impl AuditStage for NoAudit {
    fn audit(&self, _batch: &mut DecodedBatch) {}
}
