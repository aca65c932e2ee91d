//! Starting the media fetchers beside the pipeline: the media store the configuration names, the
//! corps' sessions, the live rules for 发送二维码, ffmpeg for voice.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;

use super::{Daemon, DaemonError};
use crate::config::MediaConfig;
use crate::media::{self, FetcherParts, MediaStore, Transcoder};
use crate::pipeline::LiveAudit;

/// The fetchers, running, and the flag that tells them ingestion is over (once mode).
pub(super) struct Fetchers {
    pub handle: JoinHandle<()>,
    pub ingest_done: Arc<AtomicBool>,
}

impl Daemon {
    /// Starts the fetchers when `[media]` is enabled.
    pub(super) fn spawn_fetchers(
        &self,
        live: &Arc<LiveAudit>,
    ) -> Result<Option<Fetchers>, DaemonError> {
        let Some(config) = &self.config.media else {
            tracing::info!(
                "the media archive is disabled ([media] enabled = false): attachments are not fetched"
            );
            return Ok(None);
        };
        let store = open_media_store(config)?;
        // A connection of their own: the fetchers run at idle priority, and must never hold the
        // writer's connection (with SQLite, one mutex) while the scheduler has them parked.
        let jobs: Arc<dyn crate::store::Store> = Arc::from(
            crate::store::open(&self.config.store_url).map_err(|source| DaemonError::Store {
                url: crate::store::redact_url(&self.config.store_url),
                source,
            })?,
        );
        tracing::info!(store = %store.location(), concurrency = config.fetcher.concurrency, "media archive");
        let ingest_done = Arc::new(AtomicBool::new(false));
        let live = live.clone();
        let parts = FetcherParts {
            lib: self.lib.clone(),
            network: self.config.sdk.network.clone(),
            corps: self.live.media.clone(),
            store: jobs,
            media: store,
            rules: Arc::new(move || live.current()),
            transcoder: Transcoder::find(&config.ffmpeg),
            stats: self.stats.clone(),
            shutdown: self.shutdown.clone(),
            ingest_done: ingest_done.clone(),
        };
        let handle = media::fetcher::spawn(parts, config.fetcher.clone()).map_err(|source| {
            DaemonError::Start {
                what: "media fetchers",
                source,
            }
        })?;
        Ok(Some(Fetchers {
            handle,
            ingest_done,
        }))
    }
}

fn open_media_store(config: &MediaConfig) -> Result<Arc<dyn MediaStore>, DaemonError> {
    media::open_store(&config.store, config.s3.as_ref())
        .map(Arc::from)
        .map_err(DaemonError::Media)
}
