//! The emulator's per-corp options: what archive a corp serves and which vendor quirks it plays.
//!
//! Options arrive as text key/value pairs — from the corp's entry in the JSON file named by
//! `WWEMU_CONFIG`, then from a `?key=value&…` suffix on the corp id given to `Init` — and are
//! validated here into typed [`ArchiveOptions`]. Unknown keys are errors, so a typo fails at `Init`
//! instead of silently serving the wrong archive.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Why a set of options was refused.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("unknown emulator option `{0}` (see ffi/README.md for the list)")]
    Unknown(String),
    #[error("emulator option `{key}` = `{value}` is not a valid {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("cannot read emulator config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

/// Everything that shapes one corp's emulated archive. Defaults are documented per field.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveOptions {
    /// Generated archive size (`messages`, default 1000): seqs `1..=messages`.
    pub messages: u64,
    /// Generator seed (`seed`, default 1). Same seed, same archive.
    pub seed: u64,
    /// Serve this JSONL corpus instead of a generated archive (`corpus`).
    pub corpus: Option<PathBuf>,
    /// The archive secret `Init` must receive (`secret`); any other secret makes `GetChatData`
    /// return 0 with JSON errcode 48002. `None` accepts every secret.
    pub secret: Option<String>,
    /// First seq encrypted under key version 2 (`key_rotate_at`, default `messages / 2 + 1`).
    pub key_rotate_at: Option<u64>,
    /// Every n-th message is under key version 3, which tests keep out of the key ring
    /// (`missing_key_every`, 0 = never, the default).
    pub missing_key_every: u64,
    /// Every n-th message has a corrupt-base64 `encrypt_random_key` (`corrupt_key_every`).
    pub corrupt_key_every: u64,
    /// Every n-th message has a corrupt `encrypt_chat_msg` (`corrupt_msg_every`).
    pub corrupt_msg_every: u64,
    /// Every n-th text message carries raw control characters inside its JSON string
    /// (`control_chars_every`).
    pub control_chars_every: u64,
    /// Every n-th message decrypts to truncated, unparseable JSON (`bad_json_every`).
    pub bad_json_every: u64,
    /// Share of `GetChatData` calls failing with transient 10001/10002 (`transient_rate`, 0..=1).
    pub transient_rate: f64,
    /// Share of `GetMediaData` calls failing with transient 10001 (`media_fail_rate`, 0..=1).
    pub media_fail_rate: f64,
    /// This chunk index of every media file fails once per SDK handle (`media_fail_chunk`).
    pub media_fail_chunk: Option<u64>,
    /// Every `GetChatData` call takes this long (`delay_ms`); longer than the caller's timeout
    /// means a 10001 after the timeout.
    pub delay_ms: u64,
    /// Messages with seq below this are past retention: pulling from before it gives 10010
    /// (`expire_before_seq`, 0 = nothing expired).
    pub expire_before_seq: u64,
    /// Media of messages with seq below this is past retention: `GetMediaData` gives 10010
    /// (`media_expire_before_seq`, 0 = nothing expired).
    pub media_expire_before_seq: u64,
    /// The media of every n-th message arrives corrupted (one byte flipped), so its md5 never
    /// matches, as through a broken proxy (`media_corrupt_every`, 0 = never).
    pub media_corrupt_every: u64,
    /// Every n-th message carries an sdkfileid the server does not know: 10005
    /// (`media_bad_id_every`, 0 = never).
    pub media_bad_id_every: u64,
    /// Largest generated media file in bytes (`max_media`, default 8 MiB).
    pub max_media: u64,
    /// `msgtime` of seq 1, UTC epoch milliseconds (`start_ms`, default 2025-11-20T00:00:00Z).
    pub start_ms: u64,
    /// Draw each message's random key from this many keys encrypted once per key version instead
    /// of a fresh key per message (`key_pool`, 0 = fresh, the default). WeCom encrypts on its own
    /// servers; a pool keeps that cost out of a benchmark of the receiving side, which still
    /// decrypts every message's key.
    pub key_pool: u64,
    /// Generated media files kept in memory, MiB (`media_cache`, default 192): a bench that
    /// measures the receiving side's memory keeps the emulator's share small.
    pub media_cache_mb: u64,
    /// Milliseconds between two messages' `msgtime` (`spacing_ms`, default 1500; each message also
    /// gets up to two thirds of it as jitter, so `msgtime` rises with seq).
    pub spacing_ms: u64,
    /// Serve only messages whose `msgtime` has passed (`live`, 0 or 1, default 0): with `start_ms`
    /// near now the archive grows as a chatting corp's does, one message every `spacing_ms`.
    pub live: bool,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            messages: 1000,
            seed: 1,
            corpus: None,
            secret: None,
            key_rotate_at: None,
            missing_key_every: 0,
            corrupt_key_every: 0,
            corrupt_msg_every: 0,
            control_chars_every: 0,
            bad_json_every: 0,
            transient_rate: 0.0,
            media_fail_rate: 0.0,
            media_fail_chunk: None,
            delay_ms: 0,
            expire_before_seq: 0,
            media_expire_before_seq: 0,
            media_corrupt_every: 0,
            media_bad_id_every: 0,
            max_media: 8 * 1024 * 1024,
            start_ms: 1_763_596_800_000,
            key_pool: 0,
            media_cache_mb: 192,
            spacing_ms: 1_500,
            live: false,
        }
    }
}

impl ArchiveOptions {
    /// Builds options from text pairs, later pairs overriding earlier ones.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, OptionsError> {
        let mut o = ArchiveOptions::default();
        for (key, value) in pairs {
            o.set(key, value)?;
        }
        Ok(o)
    }

    /// Splits `ww123?messages=10&seed=2` into the corp id and its option pairs.
    pub fn split_corp_id(corp_id: &str) -> (&str, Vec<(&str, &str)>) {
        match corp_id.split_once('?') {
            None => (corp_id, Vec::new()),
            Some((id, query)) => {
                let pairs = query
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.split_once('=').unwrap_or((p, "")))
                    .collect();
                (id, pairs)
            }
        }
    }

    /// Resolves a corp id as `Init` receives it: the file named by `config_file` (if any) gives the
    /// corp's base options (entry `corps.<id>`, else `default`), the `?…` suffix overrides them.
    pub fn resolve(
        corp_id: &str,
        config_file: Option<&std::path::Path>,
    ) -> Result<Self, OptionsError> {
        let (id, query) = Self::split_corp_id(corp_id);
        let mut file_pairs: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = config_file {
            file_pairs = file_options(path, id)?;
        }
        let pairs = file_pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(query);
        Self::from_pairs(pairs)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), OptionsError> {
        match key {
            "messages" => self.messages = int(key, value)?,
            "seed" => self.seed = int(key, value)?,
            "corpus" => self.corpus = Some(PathBuf::from(value)),
            "secret" => self.secret = Some(value.to_owned()),
            "key_rotate_at" => self.key_rotate_at = Some(int(key, value)?),
            "missing_key_every" => self.missing_key_every = int(key, value)?,
            "corrupt_key_every" => self.corrupt_key_every = int(key, value)?,
            "corrupt_msg_every" => self.corrupt_msg_every = int(key, value)?,
            "control_chars_every" => self.control_chars_every = int(key, value)?,
            "bad_json_every" => self.bad_json_every = int(key, value)?,
            "transient_rate" => self.transient_rate = rate(key, value)?,
            "media_fail_rate" => self.media_fail_rate = rate(key, value)?,
            "media_fail_chunk" => self.media_fail_chunk = Some(int(key, value)?),
            "delay_ms" => self.delay_ms = int(key, value)?,
            "expire_before_seq" => self.expire_before_seq = int(key, value)?,
            "media_expire_before_seq" => self.media_expire_before_seq = int(key, value)?,
            "media_corrupt_every" => self.media_corrupt_every = int(key, value)?,
            "media_bad_id_every" => self.media_bad_id_every = int(key, value)?,
            "max_media" => self.max_media = int(key, value)?.max(1),
            "start_ms" => self.start_ms = int(key, value)?,
            "key_pool" => self.key_pool = int(key, value)?,
            "media_cache" => self.media_cache_mb = int(key, value)?,
            "spacing_ms" => self.spacing_ms = int(key, value)?.max(1),
            "live" => self.live = int(key, value)? != 0,
            _ => return Err(OptionsError::Unknown(key.to_owned())),
        }
        Ok(())
    }

    /// The key version that encrypts the random key of message `seq`.
    pub fn key_version(&self, seq: u64) -> u32 {
        if every(self.missing_key_every, seq, 0) {
            return 3;
        }
        let rotate = self.key_rotate_at.unwrap_or(self.messages / 2 + 1);
        if seq >= rotate { 2 } else { 1 }
    }
}

/// Whether seq is one of "every n-th" (n = 0 means never). `phase` staggers different faults so
/// that they do not land on the same messages.
pub fn every(n: u64, seq: u64, phase: u64) -> bool {
    n != 0 && (seq + phase) % n == 0
}

fn int(key: &str, value: &str) -> Result<u64, OptionsError> {
    value.trim().parse().map_err(|_| OptionsError::Invalid {
        key: key.to_owned(),
        value: value.to_owned(),
        expected: "non-negative integer",
    })
}

fn rate(key: &str, value: &str) -> Result<f64, OptionsError> {
    match value.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(OptionsError::Invalid {
            key: key.to_owned(),
            value: value.to_owned(),
            expected: "rate between 0 and 1",
        }),
    }
}

fn file_options(
    path: &std::path::Path,
    corp: &str,
) -> Result<BTreeMap<String, String>, OptionsError> {
    let fail = |reason: String| OptionsError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let root: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let entry = root
        .get("corps")
        .and_then(|c| c.get(corp))
        .or_else(|| root.get("default"));
    let mut out = BTreeMap::new();
    if let Some(serde_json::Value::Object(map)) = entry {
        for (k, v) in map {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(k.clone(), text);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corp_id_suffix_sets_options() {
        let o = ArchiveOptions::resolve("wwabc?messages=5000&seed=9&transient_rate=0.25", None)
            .expect("valid options");
        assert_eq!(o.messages, 5000);
        assert_eq!(o.seed, 9);
        assert_eq!(o.transient_rate, 0.25);
    }

    #[test]
    fn unknown_and_invalid_options_are_refused() {
        assert!(matches!(
            ArchiveOptions::resolve("ww?mesages=1", None),
            Err(OptionsError::Unknown(k)) if k == "mesages"
        ));
        assert!(matches!(
            ArchiveOptions::resolve("ww?transient_rate=2", None),
            Err(OptionsError::Invalid { .. })
        ));
    }

    #[test]
    fn file_entry_is_overridden_by_suffix() {
        let dir = std::env::temp_dir().join(format!("wwemu-opt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("emu.json");
        std::fs::write(&path, r#"{"corps":{"wwdemo":{"messages":20,"seed":"3"}}}"#).expect("write");
        let o = ArchiveOptions::resolve("wwdemo?seed=4", Some(&path)).expect("valid");
        assert_eq!((o.messages, o.seed), (20, 4));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn key_versions_rotate_and_go_missing() {
        let o = ArchiveOptions::from_pairs([("messages", "10"), ("missing_key_every", "4")])
            .expect("valid");
        let versions: Vec<u32> = (1..=10).map(|s| o.key_version(s)).collect();
        assert_eq!(versions, [1, 1, 1, 3, 1, 2, 2, 3, 2, 2]);
    }
}
