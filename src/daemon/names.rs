//! Starting the names fetcher beside the pipeline: WeCom's directory API as `[names]` names it,
//! each corp's contact secret (else its archive secret), a store connection of its own.

use std::sync::Arc;
use std::thread::JoinHandle;

use super::{Daemon, DaemonError};
use crate::names::{CorpCredentials, DirectoryClient, resolver};
use crate::wecom::http::WeComHttp;

impl Daemon {
    /// The corps' credentials for the names fetcher.
    fn name_credentials(&self) -> Vec<CorpCredentials> {
        self.corps
            .iter()
            .map(|c| CorpCredentials {
                corp_id: c.corp_id.clone(),
                contact_secret: c.contact_secret.clone().unwrap_or_else(|| c.secret.clone()),
                archive_secret: c.secret.clone(),
            })
            .collect()
    }

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
        let corps = self.name_credentials();
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
        let corps = self.name_credentials();
        match crate::names::pass(self.store.as_ref(), &mut client, &corps, &config.settings) {
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
