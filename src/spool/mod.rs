//! The durable spool: an on-disk queue of pulled batches between the pullers and the decode stage,
//! so that a slow or absent store never stops the daemon draining WeCom's archive.
//!
//! ```text
//!  pullers ──► appender thread ──► NNN.seg files (fsync'd) ──► reader thread ──► decode ─► store
//!                  ▲  waits while the backlog is at its limit                          │
//!                  └──────────── segments deleted once every record in them is stored ◄┘
//! ```
//!
//! - **Durable before pulled.** A batch counts as pulled once its record is fsync'd: a restart
//!   resumes pulling after the newest spooled seq, and replays the spooled batches the store does
//!   not have yet, in order.
//! - **Records** are `prost`-encoded, length-prefixed and CRC-32C checksummed ([`record`]); segments
//!   roll at `segment_bytes` ([`segment`]).
//! - **Recovery** ([`recover`]) truncates a torn tail of the newest segment and stops on any other
//!   damage with the file and offset. It never skips a record.
//! - **Bounded.** When the bytes not yet stored reach `max_bytes`, the appender waits and pulling
//!   pauses (back-pressure).
//! - **Private.** The directory is created 0700 and its files 0600. They hold only what WeCom sent
//!   (still encrypted with the corp's public key), never a secret or a private key.
//!
//! One process uses a spool directory at a time (an exclusive `flock` on `LOCK`).

mod append;
mod read;
pub mod record;
pub mod recover;
pub mod segment;
mod shared;

use std::path::PathBuf;
use std::sync::Arc;

pub use append::Appender;
pub use read::{ReadOutcome, Reader};
pub use recover::{CorpSpool, Recovered};
pub use shared::{Acker, Position};

use shared::Shared;

/// Something went wrong with the spool. Every variant names the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {action}: {source} (check the disk's space and permissions)")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "spool {dir} is in use by another msgaudit process; run one daemon per spool \
         (give each its own [spool] dir)"
    )]
    Locked { dir: PathBuf },
    #[error(
        "spool segment {path} is damaged at offset {offset}: {problem}. Nothing was skipped. Stop \
         the daemon, keep a copy of the spool for inspection, then move this segment and every \
         later one out of the spool directory: msgaudit pulls those messages again from each \
         corp's stored checkpoint (WeCom keeps about 5 days)"
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        problem: String,
    },
    #[error(
        "spool: corp {corp_id}'s batches jump from seq {expected} to a batch starting after seq \
         {from_seq} ({path} offset {offset}): seqs {expected}..={from_seq} are neither stored nor \
         spooled (a segment was removed, or the store was restored from an older copy). Move the \
         spool directory aside and restart: msgaudit pulls again from seq {expected} (WeCom keeps \
         about 5 days)"
    )]
    Gap {
        corp_id: String,
        expected: u64,
        from_seq: u64,
        path: PathBuf,
        offset: u64,
    },
    #[error(
        "spool {dir} holds {batches} unstored batch(es) of corp {corp_id} (seqs after \
         {from_seq} up to {checkpoint}), which is not configured: add the corp back to [[corps]] \
         so they are stored, or move the spool directory aside to give them up (they can be \
         pulled again only within WeCom's 5-day retention)"
    )]
    UnknownCorp {
        dir: PathBuf,
        corp_id: String,
        batches: usize,
        from_seq: u64,
        checkpoint: u64,
    },
}

/// Where the spool lives and how big it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    pub dir: PathBuf,
    /// Bytes of batches not yet stored at which pulling pauses.
    pub max_bytes: u64,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
}

impl SpoolSettings {
    /// Settings for `dir` bounded by `max_bytes`, with segments of a sixteenth of it (1–64 MiB).
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> SpoolSettings {
        SpoolSettings {
            dir: dir.into(),
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(1 << 20, 64 << 20),
        }
    }
}

/// An open spool: what recovery found, and the handles the stages use.
pub struct Spool {
    shared: Arc<Shared>,
    recovered: Recovered,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// Opens (creating if needed) and recovers the spool: locks the directory, checks every
    /// segment, truncates a torn tail of the newest one.
    pub fn open(settings: SpoolSettings) -> Result<Spool, SpoolError> {
        let (shared, recovered) = recover::open(settings)?;
        Ok(Spool {
            shared: Arc::new(shared),
            recovered,
        })
    }

    /// What was in the spool when it opened.
    pub fn recovered(&self) -> &Recovered {
        &self.recovered
    }

    pub fn settings(&self) -> &SpoolSettings {
        &self.shared.settings
    }

    /// The appender (one per spool).
    pub fn appender(&self) -> Appender {
        Appender::new(self.shared.clone())
    }

    /// The reader (one per spool), starting at the oldest record.
    pub fn reader(&self) -> Reader {
        Reader::new(self.shared.clone())
    }

    /// What the writer uses to say a record is stored.
    pub fn acker(&self) -> Acker {
        Acker::new(self.shared.clone())
    }

    /// Bytes of records not yet stored.
    pub fn backlog_bytes(&self) -> u64 {
        self.shared.backlog_bytes()
    }

    /// Deletes what is fully stored; when everything is, every segment. Called once the stages
    /// have stopped.
    pub fn tidy(&self) -> Result<(), SpoolError> {
        self.shared.tidy()
    }
}

fn io(path: impl Into<PathBuf>, action: &'static str) -> impl FnOnce(std::io::Error) -> SpoolError {
    let path = path.into();
    move |source| SpoolError::Io {
        path,
        action,
        source,
    }
}

#[cfg(test)]
mod tests;
