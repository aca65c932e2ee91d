//! The pipeline's settings as a configuration gives them: the one place they are derived, for the
//! daemon and the bench alike.

use crate::config::Config;
use crate::pipeline::{PipelineSettings, PullSettings};

/// The pipeline settings of `config` (`once`: drain every corp, then stop).
pub fn pipeline_settings(config: &Config, once: bool) -> PipelineSettings {
    PipelineSettings {
        pull: PullSettings {
            pull: config.pull.clone(),
            timeout: config.sdk.timeout,
            once,
        },
        network: config.sdk.network.clone(),
        threads: config.threads,
        queue_batches: config.queue_batches,
        max_store_backoff: config.pull.max_backoff,
        spool: config.spool.clone(),
    }
}
