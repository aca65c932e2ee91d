//! The auditors' workspace: `msgaudit serve`, an HTTP API and a web page over either store, with
//! per-auditor visibility ([`visibility`]), sign-in and sessions ([`auth`]), and the handlers
//! ([`api`]). The page is one HTML file compiled into the binary; no front-end build step.

pub mod api;
pub mod archive;
pub mod auth;
pub mod export;
pub mod extract;
pub mod hit_export;
pub mod hits;
pub mod media;
pub mod review;
pub mod strategies;
pub mod tried;
pub mod visibility;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post, put};

use crate::audit::RuleSet;
use crate::store::Store;

/// The OpenAPI document served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");
/// The web page.
const PAGE: &str = include_str!("page.html");

/// Every route: (method, path) as the OpenAPI document names them. A test checks both agree.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/session"),
    ("delete", "/api/session"),
    ("get", "/api/me"),
    ("get", "/api/hits"),
    ("get", "/api/hits/{corp}/{msg_id}/{strategy}"),
    ("get", "/api/hits/{corp}/{msg_id}/{strategy}/review"),
    ("put", "/api/hits/{corp}/{msg_id}/{strategy}/review"),
    ("get", "/api/hits/export"),
    ("get", "/api/behaviour-hits"),
    (
        "get",
        "/api/behaviour-hits/{corp}/{msg_id}/{behaviour}/review",
    ),
    (
        "put",
        "/api/behaviour-hits/{corp}/{msg_id}/{behaviour}/review",
    ),
    ("get", "/api/behaviour-hits/export"),
    ("post", "/api/reviews"),
    ("get", "/api/stats/daily"),
    ("get", "/api/strategies"),
    ("post", "/api/strategies"),
    ("post", "/api/strategies/try"),
    ("put", "/api/strategies/{id}"),
    ("delete", "/api/strategies/{id}"),
    ("get", "/api/export.csv"),
    ("get", "/api/conversations"),
    ("get", "/api/conversations/{id}/messages"),
    ("get", "/api/conversations/{id}/hits"),
    ("get", "/api/messages/{corp}/{msg_id}"),
    ("get", "/api/search"),
    ("get", "/api/media/{corp}/{msg_id}/{item}"),
    ("get", "/api/conversations/{id}/export"),
    ("get", "/api/search/export"),
    ("get", "/api/openapi.json"),
];

/// The rules of one version, and the views resolved under them (scope resolution walks the
/// organisation, so it is done once per auditor and version, not per request).
struct RulesCache {
    version: u64,
    rules: Arc<RuleSet>,
    views: std::collections::HashMap<String, visibility::View>,
}

/// Shared state.
pub struct App {
    pub store: Arc<dyn Store>,
    pub sessions: auth::Sessions,
    pub attempts: auth::Attempts,
    /// Where attachments are read from (None: no media store; media answers 404).
    pub media: Option<media::SharedMediaStore>,
    /// A hash nobody's secret matches, checked for unknown users so timing does not tell.
    pub dummy_hash: String,
    rules: Mutex<Option<RulesCache>>,
    /// The compiled rules 试一试 tries texts on.
    pub tried: tried::Tried,
    /// Active account names, read again every few seconds (accounts change from the CLI).
    active: Mutex<Option<(std::time::Instant, std::collections::HashSet<String>)>>,
}

impl App {
    pub fn new(store: Arc<dyn Store>) -> Result<App, openssl::error::ErrorStack> {
        Ok(App {
            store,
            sessions: auth::Sessions::default(),
            attempts: auth::Attempts::default(),
            media: None,
            dummy_hash: auth::hash_secret(&auth::random_token())?,
            rules: Mutex::new(None),
            tried: tried::Tried::default(),
            active: Mutex::new(None),
        })
    }

    /// Whether an account exists and is not disabled (checked against the store every 5 s, and
    /// at once for a name the cached list lacks — an account added a moment ago signs in and
    /// stays signed in).
    pub fn is_active(&self, user_name: &str) -> Result<bool, api::ApiError> {
        let mut cached = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let age = |c: &Option<(std::time::Instant, std::collections::HashSet<String>)>| {
            c.as_ref().map(|(at, _)| at.elapsed())
        };
        let known = cached
            .as_ref()
            .is_some_and(|(_, names)| names.contains(user_name));
        let stale = match age(&cached) {
            None => true,
            Some(a) if known => a >= std::time::Duration::from_secs(5),
            Some(a) => a >= std::time::Duration::from_millis(200),
        };
        if stale {
            let names = self
                .store
                .accounts()?
                .into_iter()
                .filter(|a| !a.disabled)
                .map(|a| a.user_name)
                .collect();
            *cached = Some((std::time::Instant::now(), names));
        }
        Ok(cached
            .as_ref()
            .is_some_and(|(_, names)| names.contains(user_name)))
    }

    /// The current rules, loaded again when their version moved.
    pub fn rules(&self) -> Result<Arc<RuleSet>, api::ApiError> {
        self.with_rules(|c| c.rules.clone())
    }

    /// The current rules and their version.
    pub fn rules_of_version(&self) -> Result<(u64, Arc<RuleSet>), api::ApiError> {
        self.with_rules(|c| (c.version, c.rules.clone()))
    }

    /// What `session` may see under the current rules.
    pub fn view(&self, session: &auth::Session) -> Result<visibility::View, api::ApiError> {
        self.with_rules(|c| {
            let key = format!("{}\u{0}{}", session.role.as_str(), session.we_user_id);
            c.views
                .entry(key)
                .or_insert_with(|| visibility::View::of(session, &c.rules))
                .clone()
        })
    }

    /// Runs `f` on the cached rules, loading them again when their version moved.
    fn with_rules<T>(&self, f: impl FnOnce(&mut RulesCache) -> T) -> Result<T, api::ApiError> {
        let version = self.store.rules_version()?;
        let mut cached = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        if cached.as_ref().is_none_or(|c| c.version != version) {
            *cached = Some(RulesCache {
                version,
                rules: Arc::new(self.store.load_rules()?),
                views: Default::default(),
            });
        }
        match cached.as_mut() {
            Some(c) => Ok(f(c)),
            None => Err(api::ApiError::Internal("rules cache empty".into())),
        }
    }

    /// Drops the cached rules (after a write).
    pub fn forget_rules(&self) {
        *self.rules.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; media-src 'self'",
            ),
        ],
        Html(PAGE),
    )
}

/// The router over `app`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/session", post(api::sign_in).delete(api::sign_out))
        .route("/api/me", get(api::me))
        .route("/api/hits", get(hits::list::<hits::StrategyHits>))
        .route("/api/hits/{corp}/{msg_id}/{strategy}", get(hits::context))
        .route(
            "/api/hits/{corp}/{msg_id}/{strategy}/review",
            get(review::history::<hits::StrategyHits>).put(review::set::<hits::StrategyHits>),
        )
        .route(
            "/api/hits/export",
            get(hit_export::hits::<hits::StrategyHits>),
        )
        .route(
            "/api/behaviour-hits",
            get(hits::list::<hits::BehaviourHits>),
        )
        .route(
            "/api/behaviour-hits/{corp}/{msg_id}/{behaviour}/review",
            get(review::history::<hits::BehaviourHits>).put(review::set::<hits::BehaviourHits>),
        )
        .route(
            "/api/behaviour-hits/export",
            get(hit_export::hits::<hits::BehaviourHits>),
        )
        .route("/api/reviews", post(review::bulk))
        .route("/api/stats/daily", get(hits::daily))
        .route(
            "/api/strategies",
            get(strategies::list).post(strategies::create),
        )
        .route(
            "/api/strategies/try",
            axum::routing::post(strategies::try_text),
        )
        .route(
            "/api/strategies/{id}",
            put(strategies::update).delete(strategies::delete),
        )
        .route(
            "/api/export.csv",
            get(hit_export::hits::<hits::StrategyHits>),
        )
        .route("/api/conversations", get(archive::conversations))
        .route(
            "/api/conversations/{id}/messages",
            get(archive::conversation_messages),
        )
        .route(
            "/api/conversations/{id}/hits",
            get(archive::conversation_hits),
        )
        .route("/api/messages/{corp}/{msg_id}", get(archive::message))
        .route("/api/search", get(archive::search))
        .route("/api/media/{corp}/{msg_id}/{item}", get(media::media))
        .route("/api/conversations/{id}/export", get(export::conversation))
        .route("/api/search/export", get(export::search))
        .route("/api/openapi.json", get(api::openapi))
        .with_state(app)
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {addr}: {source} (is another server using it? try --listen 127.0.0.1:8081)"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the server's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot make the server's secrets: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

/// A bound server, not yet running (so callers learn the address before it serves).
pub struct Bound {
    pub addr: SocketAddr,
    listener: std::net::TcpListener,
    app: App,
}

/// Binds `addr` (port 0 picks a free one).
pub fn bind(store: Arc<dyn Store>, addr: SocketAddr) -> Result<Bound, ServeError> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    Ok(Bound {
        addr,
        listener,
        app: App::new(store)?,
    })
}

impl Bound {
    /// Serves attachments from `media` too.
    pub fn with_media(mut self, media: media::SharedMediaStore) -> Bound {
        self.app.media = Some(media);
        self
    }

    /// Serves until `shutdown` is requested.
    pub fn serve(self, shutdown: crate::runtime::Shutdown) -> Result<(), ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        runtime.block_on(async move {
            let listener =
                tokio::net::TcpListener::from_std(self.listener).map_err(ServeError::Serve)?;
            let service =
                router(Arc::new(self.app)).into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, service)
                .with_graceful_shutdown(async move { shutdown.requested().await })
                .await
                .map_err(ServeError::Serve)
        })
    }
}
