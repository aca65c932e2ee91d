//! The state the appender, the reader and the acker share: which segments exist and how much of
//! each is committed, where the reader is, which records are handed on but not yet stored. From
//! these follow the *frontier* (the oldest record not yet stored), the backlog in bytes, and which
//! segments can go.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::segment::{self, HEADER_LEN};
use super::{SpoolError, SpoolSettings, io};

/// A record's place: its segment and the offset of its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

#[derive(Debug)]
pub(super) struct State {
    /// Segment id → committed length (header and whole, fsync'd records).
    pub segments: BTreeMap<u64, u64>,
    /// Where the reader reads next.
    pub read: Position,
    /// Records the reader handed on that are not stored yet.
    pub in_flight: BTreeSet<Position>,
    /// The appender has finished; nothing more will be committed.
    pub closed: bool,
}

impl State {
    /// The oldest record not yet stored: everything before it can be deleted.
    pub fn frontier(&self) -> Position {
        self.in_flight.first().copied().unwrap_or(self.read)
    }

    /// Bytes from the frontier to the end of what is committed.
    pub fn backlog(&self) -> u64 {
        let f = self.frontier();
        self.segments
            .range(f.segment..)
            .map(|(&id, &len)| {
                if id == f.segment {
                    len.saturating_sub(f.offset)
                } else {
                    len.saturating_sub(HEADER_LEN)
                }
            })
            .sum()
    }

    /// Removes, from the map, segments wholly before the frontier; returns their ids.
    fn release(&mut self) -> Vec<u64> {
        let f = self.frontier();
        let gone: Vec<u64> = self
            .segments
            .range(..f.segment)
            .map(|(&id, _)| id)
            .collect();
        for id in &gone {
            self.segments.remove(id);
        }
        gone
    }
}

pub(super) struct Shared {
    pub dir: PathBuf,
    pub settings: SpoolSettings,
    pub state: Mutex<State>,
    /// Signalled whenever something is committed, stored or closed.
    pub changed: Condvar,
    /// Held for the spool's life: the exclusive lock on `LOCK`.
    pub _lock: File,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data kept consistent under the lock; a panicking holder leaves it usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a change, at most `d`.
    pub fn wait<'a>(&self, guard: MutexGuard<'a, State>, d: Duration) -> MutexGuard<'a, State> {
        match self.changed.wait_timeout(guard, d) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        }
    }

    pub fn backlog_bytes(&self) -> u64 {
        self.lock().backlog()
    }

    /// Deletes segment files (already removed from the map).
    pub fn delete(&self, ids: &[u64]) -> Result<(), SpoolError> {
        for &id in ids {
            let path = segment::path(&self.dir, id);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(path, "deleting a stored segment")(e)),
            }
        }
        Ok(())
    }

    pub fn tidy(&self) -> Result<(), SpoolError> {
        let gone = {
            let mut s = self.lock();
            let mut gone = s.release();
            let end = s.segments.last_key_value().map(|(&id, &len)| Position {
                segment: id,
                offset: len,
            });
            let drained = s.in_flight.is_empty() && end.is_none_or(|e| s.read >= e);
            if s.closed && drained {
                gone.extend(s.segments.keys().copied());
                s.segments.clear();
            }
            gone
        };
        self.delete(&gone)
    }
}

/// Tells the spool that records are stored, so that their segments can go.
#[derive(Clone)]
pub struct Acker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Acker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acker").finish_non_exhaustive()
    }
}

impl Acker {
    pub(super) fn new(shared: Arc<Shared>) -> Acker {
        Acker { shared }
    }

    /// The record at `at` is stored (or was already): it no longer holds its segment, which goes
    /// once nothing before the frontier is left in it. Returns the bytes still waiting.
    pub fn stored(&self, at: Position) -> Result<u64, SpoolError> {
        let (gone, backlog) = {
            let mut s = self.shared.lock();
            s.in_flight.remove(&at);
            (s.release(), s.backlog())
        };
        self.shared.changed.notify_all();
        self.shared.delete(&gone)?;
        Ok(backlog)
    }
}
