//! Opening a spool: the directory (created 0700), its lock, and a check of every segment (a torn
//! tail of the newest is truncated and reported; anything else damaged stops the open). What is
//! found is summarised per corp, and [`Recovered::check_against`] decides, with the store's
//! checkpoints, where each corp resumes and whether anything is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use super::segment::{self, HEADER_LEN, RecordMeta, TornTail};
use super::shared::{Position, Shared, State};
use super::{SpoolError, SpoolSettings, io};

/// One corp's batches in the spool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpSpool {
    pub batches: usize,
    pub messages: u64,
    /// The seq the oldest batch was pulled after.
    pub from_seq: u64,
    /// The largest seq spooled: pulling resumes after it.
    pub checkpoint: u64,
    /// When the oldest batch was pulled, epoch ms.
    pub oldest_pulled_ms: i64,
}

/// What a spool held when it was opened.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    pub dir: PathBuf,
    /// (segment id, bytes) of every segment.
    pub segments: Vec<(u64, u64)>,
    /// Every record, in spool order, with its segment.
    pub records: Vec<(u64, RecordMeta)>,
    /// The torn tail truncated from the newest segment, if there was one.
    pub torn: Option<(PathBuf, TornTail)>,
    pub corps: BTreeMap<String, CorpSpool>,
}

impl Recovered {
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|(_, b)| b).sum()
    }

    /// Checks the spool against the store: `stored(corp)` is a corp's stored checkpoint and
    /// `configured(corp)` whether it is configured. Every corp's unstored batches must follow on
    /// from what is stored without a gap, and belong to a configured corp.
    pub fn check_against(
        &self,
        stored: &dyn Fn(&str) -> u64,
        configured: &dyn Fn(&str) -> bool,
    ) -> Result<(), SpoolError> {
        let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
        let mut unstored: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
        for (seg, r) in &self.records {
            let next = expected
                .entry(r.corp_id.as_str())
                .or_insert_with(|| stored(&r.corp_id));
            if r.checkpoint <= *next {
                continue;
            }
            if r.from_seq > *next {
                return Err(SpoolError::Gap {
                    corp_id: r.corp_id.clone(),
                    expected: *next,
                    from_seq: r.from_seq,
                    path: segment::path(&self.dir, *seg),
                    offset: r.offset,
                });
            }
            let u = unstored
                .entry(r.corp_id.as_str())
                .or_insert((0, *next, r.checkpoint));
            u.0 += 1;
            u.2 = r.checkpoint;
            *next = r.checkpoint;
        }
        if let Some((corp, (batches, from_seq, checkpoint))) =
            unstored.into_iter().find(|(c, _)| !configured(c))
        {
            return Err(SpoolError::UnknownCorp {
                dir: self.dir.clone(),
                corp_id: corp.to_owned(),
                batches,
                from_seq,
                checkpoint,
            });
        }
        Ok(())
    }
}

/// Creates the directory (0700) if needed; warns if others can read an existing one.
fn prepare_dir(dir: &Path) -> Result<(), SpoolError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir, "creating the spool directory"))?;
    if let Ok(meta) = std::fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(dir = %dir.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the spool directory is open to other users; chmod 700 it");
    }
    Ok(())
}

/// Takes the exclusive lock on `dir/LOCK`, held until the file is dropped: the daemon holds it
/// while it runs, and `msgaudit restore` takes it so that no daemon starts mid-restore.
pub fn lock(dir: &Path) -> Result<File, SpoolError> {
    use std::os::fd::AsRawFd;
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path, "opening the lock file"))?;
    // SAFETY: `file` owns a valid open descriptor for the duration of the call; flock has no other
    // memory effects.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Err(SpoolError::Locked {
                dir: dir.to_owned(),
            });
        }
        return Err(io(path, "locking the spool")(e));
    }
    Ok(file)
}

/// The segment ids in `dir`, oldest first.
pub fn segment_ids(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir, "listing the spool"))? {
        let entry = entry.map_err(io(dir, "listing the spool"))?;
        if let Some(id) = entry.file_name().to_str().and_then(segment::parse_name) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Reads and checks every segment of `dir` without changing anything (for `msgaudit spool`).
pub fn inspect(dir: &Path) -> Result<Recovered, SpoolError> {
    survey(dir, false)
}

fn survey(dir: &Path, truncate: bool) -> Result<Recovered, SpoolError> {
    let ids = segment_ids(dir)?;
    let mut found = Recovered {
        dir: dir.to_owned(),
        ..Recovered::default()
    };
    for (i, &id) in ids.iter().enumerate() {
        let path = segment::path(dir, id);
        let bytes = std::fs::read(&path).map_err(io(&path, "reading a segment"))?;
        let newest = i + 1 == ids.len();
        let scan = segment::scan(&path, &bytes, newest)?;
        if let Some(torn) = scan.torn.clone() {
            if truncate {
                tracing::warn!(segment = %path.display(), offset = torn.offset, bytes = torn.dropped,
                    why = torn.why, "spool: truncating a torn tail left by a crash (those batches were never counted as pulled)");
                if scan.valid_len < HEADER_LEN {
                    std::fs::remove_file(&path).map_err(io(&path, "removing a torn segment"))?;
                } else {
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io(&path, "truncating a torn tail"))?;
                    f.set_len(scan.valid_len)
                        .and_then(|()| f.sync_all())
                        .map_err(io(&path, "truncating a torn tail"))?;
                }
            }
            found.torn = Some((path.clone(), torn));
        }
        if scan.valid_len >= HEADER_LEN {
            found.segments.push((id, scan.valid_len));
        }
        for r in scan.records {
            let c = found.corps.entry(r.corp_id.clone()).or_insert(CorpSpool {
                from_seq: r.from_seq,
                oldest_pulled_ms: r.pulled_at_ms,
                ..CorpSpool::default()
            });
            c.batches += 1;
            c.messages += u64::from(r.count);
            c.checkpoint = c.checkpoint.max(r.checkpoint);
            found.records.push((id, r));
        }
    }
    Ok(found)
}

/// Opens the spool at `settings.dir`.
pub(super) fn open(settings: SpoolSettings) -> Result<(Shared, Recovered), SpoolError> {
    let dir = settings.dir.clone();
    prepare_dir(&dir)?;
    let lock = lock(&dir)?;
    let found = survey(&dir, true)?;
    let segments: BTreeMap<u64, u64> = found.segments.iter().copied().collect();
    let first = segments.keys().next().copied();
    let next = segments.keys().last().map_or(1, |id| id + 1);
    let state = State {
        read: Position {
            segment: first.unwrap_or(next),
            offset: HEADER_LEN,
        },
        segments,
        in_flight: BTreeSet::new(),
        closed: false,
    };
    Ok((
        Shared {
            dir,
            settings,
            state: Mutex::new(state),
            changed: Condvar::new(),
            _lock: lock,
        },
        found,
    ))
}
