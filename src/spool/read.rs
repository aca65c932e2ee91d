//! The reader: hands on committed records in spool order, waiting for the appender when it has
//! caught up. It reads with positioned reads (never past what is committed, never through a buffer
//! that could hold a half-written frame) and checks every frame again: damage stops it with the file
//! and the offset.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;

use super::record::{FRAME_HEADER, Frame, SpoolRecord, read_frame};
use super::segment::{self, HEADER_LEN};
use super::shared::{Position, Shared};
use super::{SpoolError, io};

/// What [`Reader::next`] found.
#[derive(Debug)]
pub enum ReadOutcome {
    /// The next record; it stays in flight until acked.
    Record(Position, SpoolRecord),
    /// Nothing new within the wait.
    Waiting,
    /// The appender has closed and every record is read.
    Finished,
}

/// Reads records in order (one reader per spool).
pub struct Reader {
    shared: Arc<Shared>,
    file: Option<(u64, File)>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl Reader {
    pub(super) fn new(shared: Arc<Shared>) -> Reader {
        Reader { shared, file: None }
    }

    /// The next record, waiting up to `wait` for one to be committed.
    pub fn next(&mut self, wait: Duration) -> Result<ReadOutcome, SpoolError> {
        let (at, end) = {
            let mut s = self.shared.lock();
            let mut waited = false;
            loop {
                let read = s.read;
                let committed = s.segments.get(&read.segment).copied().unwrap_or(0);
                if read.offset < committed {
                    break (read, committed);
                }
                if let Some((&later, _)) = s.segments.range(read.segment + 1..).next() {
                    s.read = Position {
                        segment: later,
                        offset: HEADER_LEN,
                    };
                    continue;
                }
                if s.closed {
                    return Ok(ReadOutcome::Finished);
                }
                if waited {
                    return Ok(ReadOutcome::Waiting);
                }
                s = self.shared.wait(s, wait);
                waited = true;
            }
        };
        let (record, frame_len) = self.read_at(at, end)?;
        let mut s = self.shared.lock();
        s.in_flight.insert(at);
        s.read = Position {
            segment: at.segment,
            offset: at.offset + frame_len,
        };
        Ok(ReadOutcome::Record(at, record))
    }

    /// Reads and checks the frame at `at`, which must end by `end` (the committed length).
    fn read_at(&mut self, at: Position, end: u64) -> Result<(SpoolRecord, u64), SpoolError> {
        let path = segment::path(&self.shared.dir, at.segment);
        let file = match self.file.take() {
            Some((id, file)) if id == at.segment => file,
            _ => File::open(&path).map_err(io(&path, "opening a segment to read"))?,
        };
        let (_, file) = self.file.insert((at.segment, file));
        let corrupt = |problem: String| SpoolError::Corrupt {
            path: path.clone(),
            offset: at.offset,
            problem,
        };
        let mut head = [0u8; FRAME_HEADER];
        file.read_exact_at(&mut head, at.offset)
            .map_err(io(&path, "reading a record"))?;
        let payload_len = match read_frame(&head) {
            // The header alone: its checksum holds, only the payload is missing.
            Frame::Incomplete => {
                u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]))
            }
            Frame::Bad(why) => return Err(corrupt(why.into())),
            Frame::Good { .. } => 0,
        };
        let frame_len = FRAME_HEADER as u64 + payload_len;
        if at.offset + frame_len > end {
            return Err(corrupt(format!(
                "a record of {payload_len} bytes runs past the {end} committed"
            )));
        }
        let mut bytes = vec![0u8; frame_len as usize];
        file.read_exact_at(&mut bytes, at.offset)
            .map_err(io(&path, "reading a record"))?;
        let payload = match read_frame(&bytes) {
            Frame::Good { payload, .. } => payload,
            Frame::Incomplete => return Err(corrupt("an incomplete record".into())),
            Frame::Bad(why) => return Err(corrupt(why.into())),
        };
        let record = SpoolRecord::decode(payload)
            .map_err(|e| corrupt(format!("a record that does not decode: {e}")))?;
        Ok((record, frame_len))
    }
}
