//! Times as people see and type them. Stored times are UTC epoch milliseconds; every time shown
//! or typed — page, API strings, CLI, CSV and alert posts — is in the display time zone
//! (`[display] timezone`, default `Asia/Shanghai`), set once at start ([`set_display_zone`]).
//! [`format_utc`] and the civil-from-days arithmetic below it serve what must stay UTC.

use std::sync::OnceLock;

/// The zone every shown or typed time is in unless configured otherwise.
pub const DEFAULT_ZONE: &str = "Asia/Shanghai";

/// A time zone, by its IANA name (the system's tz database, or the copy compiled in).
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: jiff::tz::TimeZone,
}

/// A time zone name nobody knows.
#[derive(Debug, thiserror::Error)]
#[error("unknown time zone `{0}`: use an IANA name such as Asia/Shanghai, Asia/Hong_Kong or UTC")]
pub struct UnknownZone(pub String);

impl Zone {
    /// The zone an IANA name names (`Asia/Shanghai`, `UTC`).
    pub fn named(name: &str) -> Result<Zone, UnknownZone> {
        let name = name.trim();
        jiff::tz::TimeZone::get(name)
            .map(|tz| Zone {
                name: name.to_owned(),
                tz,
            })
            .map_err(|_| UnknownZone(name.to_owned()))
    }

    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `2025-11-20 16:30:00` in this zone, for epoch milliseconds.
    pub fn format(&self, ms: i64) -> String {
        match jiff::Timestamp::from_millisecond(ms) {
            Ok(t) => t
                .to_zoned(self.tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string(),
            Err(_) => format_utc(ms),
        }
    }

    /// The calendar day (`YYYY-MM-DD`) of epoch milliseconds in this zone.
    pub fn day(&self, ms: i64) -> String {
        self.format(ms).chars().take(10).collect()
    }

    /// The calendar day of epoch milliseconds in this zone, as days since 1970-01-01 (for
    /// grouping by day in SQL; [`day_name`] writes it out).
    pub fn day_number(&self, ms: i64) -> i64 {
        let secs = ms.div_euclid(1000);
        let offset = jiff::Timestamp::from_second(secs)
            .map_or(0, |t| i64::from(self.tz.to_offset(t).seconds()));
        (secs + offset).div_euclid(86_400)
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DDTHH:MM[:SS]` as a time in this
    /// zone (a trailing `Z` means UTC), or epoch milliseconds.
    pub fn parse(&self, text: &str) -> Option<i64> {
        let t = text.trim();
        if t.ends_with('Z') || (t.len() > 8 && t.bytes().all(|b| b.is_ascii_digit())) {
            return parse_utc(t);
        }
        // Read the wall-clock time as if UTC, then find the instant it names in this zone.
        let wall = parse_utc(t)?;
        let civil = jiff::Timestamp::from_millisecond(wall)
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .datetime();
        let zoned = civil.to_zoned(self.tz.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }
}

static DISPLAY: OnceLock<Zone> = OnceLock::new();

/// Sets the display zone for this process (the first call wins; later calls with another zone are
/// ignored and say so).
pub fn set_display_zone(zone: Zone) -> bool {
    let name = zone.name.clone();
    DISPLAY.set(zone).is_ok() || display_zone().name == name
}

/// The display zone: as set, else [`DEFAULT_ZONE`] (UTC should the tz database lack it).
pub fn display_zone() -> &'static Zone {
    DISPLAY.get_or_init(|| Zone::named(DEFAULT_ZONE).unwrap_or_else(|_| Zone::utc()))
}

/// Epoch milliseconds as a time in the display zone: `2025-11-20 16:30:00`.
pub fn format_ms(ms: i64) -> String {
    display_zone().format(ms)
}

/// A time typed in the display zone (see [`Zone::parse`]) as epoch milliseconds.
pub fn parse_ms(text: &str) -> Option<i64> {
    display_zone().parse(text)
}

/// Now, as UTC epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
pub fn day_name(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2025-11-20 08:30:00` (UTC) for epoch milliseconds.
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`, `YYYY-MM-DDTHH:MM[:SS]` (UTC) or epoch milliseconds.
pub fn parse_utc(text: &str) -> Option<i64> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.len() > 8 {
        return t.parse().ok();
    }
    let (date, time) = match t.split_once([' ', 'T']) {
        Some((d, tm)) => (d, tm.trim_end_matches('Z')),
        None => (t, "00:00:00"),
    };
    let mut dp = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (dp.next()??, dp.next()??, dp.next()??);
    if dp.next().is_some()
        || !(1..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let mut tp = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi) = (tp.next()??, tp.next()??);
    let s = tp.next().flatten().unwrap_or(0);
    if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..61).contains(&s) {
        return None;
    }
    let days = days_from_civil(y, m as u32, d as u32);
    if civil_from_days(days) != (y, m as u32, d as u32) {
        return None; // 2025-02-30
    }
    Some(((days * 86_400) + h * 3600 + mi * 60 + s) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_round_trips() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_763_596_800_000), "2025-11-20 00:00:00");
        assert_eq!(parse_utc("2025-11-20"), Some(1_763_596_800_000));
        assert_eq!(parse_utc("2025-11-20T00:00:01Z"), Some(1_763_596_801_000));
        assert_eq!(parse_utc("2024-02-29 23:59"), Some(1_709_251_140_000));
        assert_eq!(parse_utc("1763596800000"), Some(1_763_596_800_000));
        assert_eq!(parse_utc("2025-13-01"), None);
        assert_eq!(parse_utc("yesterday"), None);
        assert_eq!(
            parse_utc("99999999999999-01-01"),
            None,
            "absurd years are refused, not overflowed"
        );
        for ms in [0, 951_782_400_000, 1_709_251_199_000, 4_102_444_800_000] {
            assert_eq!(parse_utc(&format_utc(ms)), Some(ms));
        }
    }

    #[test]
    fn zones_show_and_read_local_time() {
        let shanghai = Zone::named("Asia/Shanghai").expect("zone");
        assert_eq!(shanghai.format(1_763_596_800_000), "2025-11-20 08:00:00");
        assert_eq!(shanghai.day(1_763_596_800_000 - 1), "2025-11-20");
        assert_eq!(
            shanghai.parse("2025-11-20"),
            Some(1_763_596_800_000 - 8 * 3_600_000)
        );
        assert_eq!(shanghai.parse("2025-11-20 08:00"), Some(1_763_596_800_000));
        assert_eq!(
            shanghai.parse("2025-11-20T00:00:00Z"),
            Some(1_763_596_800_000),
            "an explicit Z is UTC"
        );
        assert_eq!(shanghai.parse("1763596800000"), Some(1_763_596_800_000));
        assert_eq!(shanghai.parse("2025-02-30"), None);
        let berlin = Zone::named("Europe/Berlin").expect("zone");
        assert_eq!(
            berlin.format(1_751_328_000_000),
            "2025-07-01 02:00:00",
            "summer time"
        );
        assert_eq!(berlin.format(1_763_596_800_000), "2025-11-20 01:00:00");
        for ms in [0, 951_782_400_000, 1_709_251_199_000, 4_102_444_800_000] {
            assert_eq!(shanghai.parse(&shanghai.format(ms)), Some(ms));
            assert_eq!(Zone::utc().parse(&Zone::utc().format(ms)), Some(ms));
        }
        assert!(Zone::named("Mars/Olympus").is_err());
    }

    #[test]
    fn day_numbers_name_the_local_day() {
        let zones = [
            "Asia/Shanghai",
            "UTC",
            "America/New_York",
            "Australia/Lord_Howe",
        ];
        for zone in zones.map(|z| Zone::named(z).expect("zone")) {
            // Around midnight in winter and summer, before 1970, and far ahead.
            for base in [
                1_704_067_200_000i64,
                1_719_792_000_000,
                -86_400_000,
                4_102_444_800_000,
            ] {
                for minutes in (-26 * 60..=26 * 60).step_by(29) {
                    let ms = base + minutes * 60_000 + 17;
                    assert_eq!(
                        day_name(zone.day_number(ms)),
                        zone.day(ms),
                        "{} at {ms}",
                        zone.name()
                    );
                }
            }
        }
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_name(-1), "1969-12-31");
    }
}
