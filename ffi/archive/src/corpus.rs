//! Corpus archives: a JSONL file of plaintext messages served instead of a generated archive.
//!
//! Each line is one message: `{"seq": 7, "publickey_ver": 1, "msg": {…WeCom message…}}`, or with
//! `"plaintext": "…"` (a string holding the exact bytes `DecryptData` must return — for raw control
//! characters or broken JSON) in place of `msg`. Blank lines and lines starting with `#` are skipped.

use std::path::Path;

use serde::Deserialize;

use crate::generate::{ArchiveMessage, Faults};

/// Why a corpus file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read corpus {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("corpus {path} line {line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
}

#[derive(Deserialize)]
struct Line {
    seq: u64,
    #[serde(default = "one")]
    publickey_ver: u32,
    msg: Option<serde_json::Value>,
    plaintext: Option<String>,
}

fn one() -> u32 {
    1
}

/// Finds `"msgid":"…"` in a plaintext that is not valid JSON (raw control characters, truncation).
fn scan_msgid(plaintext: &str) -> Option<String> {
    let start = plaintext.find("\"msgid\"")? + "\"msgid\"".len();
    let rest = plaintext[start..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// Reads a corpus file into messages sorted by seq (seqs must be unique).
pub fn read_corpus(path: &Path) -> Result<Vec<ArchiveMessage>, CorpusError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let fail = |reason: String| CorpusError::Line {
            path: shown.clone(),
            line: i + 1,
            reason,
        };
        let line: Line = serde_json::from_str(raw).map_err(|e| fail(e.to_string()))?;
        let (plaintext, value) = match (line.plaintext, line.msg) {
            (Some(p), _) => {
                let v = serde_json::from_str(&p).ok();
                (p, v)
            }
            (None, Some(v)) => (v.to_string(), Some(v)),
            (None, None) => return Err(fail("needs `msg` or `plaintext`".into())),
        };
        let field = |k: &str| {
            value
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let msgtype = if field("action").as_deref() == Some("switch") {
            "switch".to_owned()
        } else {
            field("msgtype").unwrap_or_default()
        };
        let msgid = field("msgid")
            .or_else(|| scan_msgid(&plaintext))
            .unwrap_or_else(|| format!("corpus-{}", line.seq));
        out.push(ArchiveMessage {
            seq: line.seq,
            msgid,
            publickey_ver: line.publickey_ver,
            msgtime: value
                .as_ref()
                .and_then(|v| v.get("msgtime"))
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            msgtype,
            plaintext,
            media: Vec::new(),
            faults: Faults::default(),
        });
    }
    out.sort_by_key(|m| m.seq);
    if let Some(w) = out.windows(2).find(|w| w[0].seq == w[1].seq) {
        return Err(CorpusError::Line {
            path: shown,
            line: 0,
            reason: format!("seq {} appears twice", w[0].seq),
        });
    }
    Ok(out)
}
