//! Starting the names fetcher beside the pipeline: WeCom's directory API as `[names]` names it,
//! the corps archived now (each one's contact secret, else its archive secret; see
//! [`super::corps::LiveCorps`]), a store connection of its own.

use std::sync::Arc;
use std::thread::JoinHandle;

use super::{Daemon, DaemonError};
use crate::names::{DirectoryClient, resolver};
use crate::wecom::http::WeComHttp;

impl Daemon {
    /// A client for WeCom's directory APIs, when `[names]` is enabled.
    fn directory_client(&self) -> Result<Option<DirectoryClient>, DaemonError> {
        let Some(config) = &self.config.names else {
            return Ok(None);
        };
        let http = WeComHttp::new(config.timeout).map_err(|source| DaemonError::Start {
            what: "names fetcher",
            source,
        })?;
        Ok(Some(DirectoryClient::new(http, &config.api_base)))
    }

    /// Starts the names fetcher when `[names]` is enabled.
    pub(super) fn spawn_names(&self) -> Result<Option<JoinHandle<()>>, DaemonError> {
        let (Some(config), Some(client)) = (&self.config.names, self.directory_client()?) else {
            tracing::info!("names are not looked up ([names] enabled = false)");
            return Ok(None);
        };
        // A connection of its own: lookups wait on WeCom, never on (or holding) the writer's.
        let store: Arc<dyn crate::store::Store> = Arc::from(
            crate::store::open(&self.config.store_url).map_err(|source| DaemonError::Store {
                url: crate::store::redact_url(&self.config.store_url),
                source,
            })?,
        );
        let corps = self.live.names.clone();
        let settings = config.settings.clone();
        let shutdown = self.shutdown.clone();
        tracing::info!(api = %config.api_base, "names looked up in WeCom's directory");
        std::thread::Builder::new()
            .name("names".into())
            .spawn(move || resolver::run(store, client, corps, settings, shutdown))
            .map(Some)
            .map_err(|source| DaemonError::Start {
                what: "names fetcher",
                source,
            })
    }

    /// One last pass after a run that stops by itself (once), so what it stored has names.
    pub(super) fn name_what_was_stored(&self) {
        let (Some(config), Ok(Some(mut client))) = (&self.config.names, self.directory_client())
        else {
            return;
        };
        let corps = self.live.names.get();
        let never = crate::runtime::Shutdown::new();
        match crate::names::pass(
            self.store.as_ref(),
            &mut client,
            &corps,
            &config.settings,
            &never,
        ) {
            Ok(r) => tracing::info!(
                named = r.named,
                refused = r.refused,
                failed = r.transient,
                "names looked up"
            ),
            Err(e) => tracing::warn!(error = %e, "names: the store failed"),
        }
    }
}
