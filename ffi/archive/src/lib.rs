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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

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
                let now = self.options.live.then(now_ms);
                (first..=last)
                    .take(limit)
                    .map(|seq| generated_message(&self.options, seq))
                    .take_while(|m| now.is_none_or(|now| m.msgtime <= now))
                    .collect()
            }
        }
    }

    /// The largest seq served now: the last message, or in a live archive the last whose `msgtime`
    /// has passed (0: none yet).
    pub fn head(&self) -> u64 {
        let last = self.len();
        if !self.options.live || self.corpus.is_some() {
            return last;
        }
        let o = &self.options;
        // msgtime(seq) lies in [start + seq·spacing, start + (seq + 1)·spacing).
        let now = now_ms();
        let guess = now.saturating_sub(o.start_ms) / o.spacing_ms;
        (guess.saturating_sub(1)..=guess.saturating_add(1))
            .rev()
            .filter(|seq| (1..=last).contains(seq))
            .find(|seq| generated_message(o, *seq).msgtime <= now)
            .unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn live(start_ms: u64) -> Archive {
        let options = ArchiveOptions::from_pairs([
            ("messages", "1000"),
            ("live", "1"),
            ("spacing_ms", "200"),
            ("start_ms", &start_ms.to_string()),
        ])
        .expect("options");
        Archive::open(options).expect("archive")
    }

    #[test]
    fn a_live_archive_serves_only_messages_whose_time_has_come() {
        // Seq 1 is at start + 200 ms, seq 50 at start + 10 s: 49 or 50 are out.
        let archive = live(now_ms() - 10_000);
        let head = archive.head();
        assert!((48..=50).contains(&head), "{head}");
        let served = archive.after(0, 1000);
        assert_eq!(served.last().map(|m| m.seq), Some(head));
        assert!(served.iter().all(|m| m.msgtime <= now_ms()));
        assert!(served.windows(2).all(|w| w[0].msgtime < w[1].msgtime));
    }

    #[test]
    fn a_live_archive_not_started_is_empty_and_the_default_spacing_is_unchanged() {
        assert_eq!(live(now_ms() + 60_000).head(), 0);
        let plain = Archive::open(ArchiveOptions::default()).expect("archive");
        let m = plain.after(9, 1).pop().expect("seq 10");
        assert!((1_763_596_815_000..1_763_596_816_000).contains(&m.msgtime));
        assert_eq!(plain.head(), 1000);
    }
}
