//! The corp archive the SDK emulator serves, independent of the C ABI and of encryption.
//!
//! An [`Archive`] is either generated (message `seq` is a pure function of the options and `seq`, so
//! archives of any size cost no memory) or read from a JSONL corpus. Tests and benches use this crate
//! directly to know what the emulator will serve — the msgids to expect, which seqs are faulty, which
//! media exist — while the daemon only ever sees the archive through the emulator's C ABI.

mod corpus;
pub mod directory;
mod formats;
mod generate;
mod media;
mod options;
pub mod rng;

pub use corpus::{CorpusError, read_corpus};
pub use formats::{ALLOWED_DOMAIN, QR_PAYLOADS, qr_text};
pub use generate::{ArchiveMessage, Faults, MediaRef, all_types, faults, generated_message};
pub use media::{Class, Format, MediaFile, POOL_FILES, pool_file, to_hex};
pub use options::{ArchiveOptions, OptionsError, every};

/// Why an archive could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
}

/// One corp's archive.
#[derive(Debug)]
pub struct Archive {
    options: ArchiveOptions,
    corpus: Option<Vec<ArchiveMessage>>,
}

impl Archive {
    /// Opens the archive the options describe (reading the corpus file if one is named).
    pub fn open(options: ArchiveOptions) -> Result<Archive, ArchiveError> {
        let corpus = match &options.corpus {
            Some(path) => Some(read_corpus(path)?),
            None => None,
        };
        media::set_cache_budget(options.media_cache_mb);
        Ok(Archive { options, corpus })
    }

    pub fn options(&self) -> &ArchiveOptions {
        &self.options
    }

    /// Number of messages in the archive.
    pub fn len(&self) -> u64 {
        match &self.corpus {
            Some(c) => c.len() as u64,
            None => self.options.messages,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `limit` messages with seq greater than `after`, in seq order.
    pub fn after(&self, after: u64, limit: usize) -> Vec<ArchiveMessage> {
        match &self.corpus {
            Some(c) => {
                let start = c.partition_point(|m| m.seq <= after);
                c[start..].iter().take(limit).cloned().collect()
            }
            None => {
                let first = after.saturating_add(1).max(1);
                let last = self.options.messages;
                (first..=last)
                    .take(limit)
                    .map(|seq| generated_message(&self.options, seq))
                    .collect()
            }
        }
    }

    /// Every message, in seq order (for tests and benches that need the expected set).
    pub fn iter(&self) -> impl Iterator<Item = ArchiveMessage> + '_ {
        let mut next = 0;
        std::iter::from_fn(move || {
            let m = self.after(next, 1).pop()?;
            next = m.seq;
            Some(m)
        })
    }
}
