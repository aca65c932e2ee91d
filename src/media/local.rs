//! The local-directory media store (the default, `msgaudit-data/media/`): objects at
//! `ROOT/ab/cd/<md5>-<size>`, directories 0700 and files 0600; downloads staged in `ROOT/.staging/`
//! (same filesystem) and put by fsync + rename + directory fsync, so an object is either complete
//! or absent, whatever the moment of a crash.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::object::{MediaStore, MediaStoreError, ObjectKey, clear_staging};

/// Media in a local directory.
#[derive(Debug)]
pub struct LocalMediaStore {
    root: PathBuf,
    staging: PathBuf,
}

impl LocalMediaStore {
    /// Opens a stored object for reading.
    fn open_object(&self, key: &ObjectKey) -> Result<std::fs::File, MediaStoreError> {
        match std::fs::File::open(self.object_path(key)) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(MediaStoreError::NotFound {
                location: self.location(),
                key: key.path(),
            }),
            Err(e) => Err(self.io("opening an object")(e)),
        }
    }

    /// Opens (creating, 0700) the directory and clears what a crash left in its staging area.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalMediaStore, MediaStoreError> {
        let root = root.into();
        let staging = root.join(".staging");
        let store = LocalMediaStore { root, staging };
        store
            .private_dir(&store.staging)
            .and_then(|()| {
                // A root that existed before (made by hand, or by an older version) is tightened too.
                std::fs::set_permissions(&store.root, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(store.io("creating the directory"))?;
        let cleared = clear_staging(&store.staging);
        if cleared > 0 {
            tracing::info!(cleared, dir = %store.staging.display(), "removed partial media downloads a stop left behind");
        }
        Ok(store)
    }

    fn io(&self, context: &str) -> impl FnOnce(std::io::Error) -> MediaStoreError {
        let (location, context) = (self.location(), context.to_owned());
        move |source| MediaStoreError::Io {
            location,
            context,
            source,
        }
    }

    /// Creates `dir` and its missing parents under the root, each 0700.
    fn private_dir(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }

    fn object_path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.path())
    }
}

impl MediaStore for LocalMediaStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn staging_dir(&self) -> &Path {
        &self.staging
    }

    fn contains(&self, key: &ObjectKey) -> Result<bool, MediaStoreError> {
        match std::fs::metadata(self.object_path(key)) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io("looking for an object")(e)),
        }
    }

    fn put(&self, staged: &Path, key: &ObjectKey) -> Result<bool, MediaStoreError> {
        let target = self.object_path(key);
        if self.contains(key)? {
            let _ = std::fs::remove_file(staged);
            return Ok(false);
        }
        let parent = target.parent().unwrap_or(&self.root).to_owned();
        self.private_dir(&parent)
            .map_err(self.io("creating an object's directory"))?;
        let file = std::fs::File::open(staged).map_err(self.io("opening a staged download"))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(self.io("restricting a staged download"))?;
        file.sync_all()
            .map_err(self.io("syncing a staged download"))?;
        std::fs::rename(staged, &target).map_err(self.io("moving a download into place"))?;
        std::fs::File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(self.io("syncing an object's directory"))?;
        Ok(true)
    }

    fn get(&self, key: &ObjectKey, out: &mut dyn Write) -> Result<u64, MediaStoreError> {
        let mut f = self.open_object(key)?;
        std::io::copy(&mut f, out).map_err(self.io("reading an object"))
    }

    fn object_len(&self, key: &ObjectKey) -> Result<Option<u64>, MediaStoreError> {
        match std::fs::metadata(self.object_path(key)) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("looking for an object")(e)),
        }
    }

    fn get_range(
        &self,
        key: &ObjectKey,
        offset: u64,
        len: u64,
        out: &mut dyn Write,
    ) -> Result<u64, MediaStoreError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = self.open_object(key)?;
        f.seek(SeekFrom::Start(offset))
            .map_err(self.io("reading an object"))?;
        std::io::copy(&mut f.take(len), out).map_err(self.io("reading an object"))
    }
}
