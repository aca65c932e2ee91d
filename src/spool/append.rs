//! The appender: writes records to the newest segment, rolls to a new segment past
//! `segment_bytes`, and makes a group of records durable with one fsync before anyone can read
//! them. A failed write is cut back to what was committed, so a retry starts clean.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;

use super::record::{FRAME_HEADER, SpoolRecord, encode_frame};
use super::segment::{self, HEADER_LEN};
use super::shared::Shared;
use super::{SpoolError, io};

/// The segment being written.
struct Active {
    id: u64,
    file: File,
    /// Bytes written (committed or not).
    len: u64,
    /// Bytes committed.
    committed: u64,
}

/// Writes records (one appender per spool).
pub struct Appender {
    shared: Arc<Shared>,
    active: Option<Active>,
    next_id: u64,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender").finish_non_exhaustive()
    }
}

impl Appender {
    pub(super) fn new(shared: Arc<Shared>) -> Appender {
        let next_id = shared
            .lock()
            .segments
            .last_key_value()
            .map_or(1, |(&id, _)| id + 1);
        Appender {
            shared,
            active: None,
            next_id,
            buf: Vec::new(),
        }
    }

    /// Whether the backlog is under the limit; waits up to `d` for it to get there.
    pub fn wait_for_room(&self, d: Duration) -> bool {
        let limit = self.shared.settings.max_bytes;
        let mut s = self.shared.lock();
        if s.backlog() < limit {
            return true;
        }
        s = self.shared.wait(s, d);
        s.backlog() < limit
    }

    /// Bytes of records not yet stored.
    pub fn backlog_bytes(&self) -> u64 {
        self.shared.backlog_bytes()
    }

    /// Makes `records` durable: written, fsync'd and then visible to the reader, in order. Returns
    /// the bytes written. On an error the segment is cut back to what was committed; records
    /// committed before a segment roll in this call stay, and a retry writes them again (the reader
    /// passes over a batch whose seqs it has already handed on).
    pub fn append(&mut self, records: &[SpoolRecord]) -> Result<u64, SpoolError> {
        let mut written = 0;
        for r in records {
            let frame = (FRAME_HEADER + r.encoded_len()) as u64;
            let full = self.active.as_ref().is_some_and(|a| {
                a.len > HEADER_LEN && a.len + frame > self.shared.settings.segment_bytes
            });
            if full {
                self.commit()?;
                self.active = None;
            }
            let active = match self.active {
                Some(ref mut a) => a,
                None => {
                    let next = self.start_segment()?;
                    self.active.insert(next)
                }
            };
            self.buf.clear();
            encode_frame(r, active.committed, &mut self.buf);
            if let Err(e) = active.file.write_all(&self.buf) {
                let path = segment::path(&self.shared.dir, active.id);
                self.cut_back();
                return Err(io(path, "writing a record")(e));
            }
            active.len += frame;
            written += frame;
        }
        self.commit()?;
        Ok(written)
    }

    /// fsyncs the active segment and publishes its new length.
    fn commit(&mut self) -> Result<(), SpoolError> {
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        if active.len == active.committed {
            return Ok(());
        }
        if let Err(e) = active.file.sync_data() {
            let path = segment::path(&self.shared.dir, active.id);
            self.cut_back();
            return Err(io(path, "syncing a segment")(e));
        }
        active.committed = active.len;
        let (id, len) = (active.id, active.len);
        self.shared.lock().segments.insert(id, len);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// After a failed write: drops what was not committed. If even that fails the segment is left
    /// behind (closed at its committed length) and the next record starts a new one.
    fn cut_back(&mut self) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let ok = active.file.set_len(active.committed).is_ok()
            && std::io::Seek::seek(&mut active.file, std::io::SeekFrom::Start(active.committed))
                .is_ok();
        if ok {
            active.len = active.committed;
        } else {
            tracing::error!(segment = %segment::path(&self.shared.dir, active.id).display(),
                "cannot cut a failed write back; starting a new segment");
            self.active = None;
        }
    }

    /// Creates the next segment: header written and fsync'd, the directory fsync'd, then listed.
    fn start_segment(&mut self) -> Result<Active, SpoolError> {
        let id = self.next_id;
        let path = segment::path(&self.shared.dir, id);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path, "creating a segment"))?;
        let header = segment::header();
        let synced = file.write_all(&header).and_then(|()| file.sync_all());
        let dir_synced = synced.and_then(|()| File::open(&self.shared.dir)?.sync_all());
        if let Err(e) = dir_synced {
            let _ = std::fs::remove_file(&path);
            return Err(io(path, "starting a segment")(e));
        }
        self.next_id += 1;
        self.shared.lock().segments.insert(id, HEADER_LEN);
        Ok(Active {
            id,
            file,
            len: HEADER_LEN,
            committed: HEADER_LEN,
        })
    }

    /// No more records: the reader finishes once it has read everything.
    pub fn close(mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        self.active = None;
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}
