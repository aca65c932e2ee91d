//! `[metrics]`: where to serve Prometheus `/metrics`.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Serve Prometheus metrics at http://LISTEN/metrics (e.g. `127.0.0.1:9464`; default off).
    pub listen: Option<std::net::SocketAddr>,
}
