//! `[display]`: how times are shown and read — the time zone of every time on the page, in the
//! API's strings, the CLI, CSV and XLSX exports and alert posts. Stored times stay UTC.

use serde::Deserialize;

use super::{ConfigError, field};
use crate::timefmt::{DEFAULT_ZONE, Zone};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDisplay {
    /// IANA time zone name (default `Asia/Shanghai`).
    pub timezone: Option<String>,
}

/// The display zone a `[display]` section names.
pub fn display_zone(raw: &RawDisplay) -> Result<Zone, ConfigError> {
    let name = raw.timezone.as_deref().unwrap_or(DEFAULT_ZONE);
    Zone::named(name).map_err(|e| field("display.timezone", e.to_string()))
}
