//! The media archive: every attachment of a stored message fetched, verified and kept once.
//!
//! - jobs are rows the store writes with their messages ([`crate::store::MediaJobStore`]);
//! - [`fetcher`] runs a bounded pool beside the pipeline, oldest message first, each worker with
//!   its own SDK sessions, reading due jobs from where the pending ones start ([`due_window`]); [`fetch`] is one attempt at one job (download into a staged file,
//!   verify, sniff, QR scan, playable voice, put);
//! - [`object`] is the content-addressed store's interface, with a local directory ([`local`]) and
//!   S3-compatible object storage ([`s3`]) behind it;
//! - [`qr`] finds QR codes in images (发送二维码), [`voice`] makes AMR playable with ffmpeg,
//!   [`sniff`] tells a file's type from its bytes.

pub mod due_window;
pub mod fetch;
pub mod fetcher;
pub mod local;
pub mod object;
pub mod qr;
pub mod s3;
pub mod sniff;
pub mod voice;

pub use fetch::AttemptPolicy;
pub use fetcher::{CurrentRules, FetcherParts, FetcherSettings};
pub use local::LocalMediaStore;
pub use object::{MediaStore, MediaStoreError, ObjectKey, Variant};
pub use voice::Transcoder;

/// Opens the media store a location names: a directory path (the default
/// `msgaudit-data/media/`), or `s3://bucket/prefix` with its settings.
pub fn open_store(
    location: &str,
    s3: Option<&s3::S3Settings>,
) -> Result<Box<dyn MediaStore>, MediaStoreError> {
    if location.starts_with("s3://") {
        let settings = s3.ok_or_else(|| MediaStoreError::Url {
            url: location.to_owned(),
            reason: "an s3:// media store needs its [media.s3] settings".into(),
        })?;
        return Ok(Box::new(s3::S3MediaStore::open(settings)?));
    }
    if location.contains("://") {
        return Err(MediaStoreError::Url {
            url: location.to_owned(),
            reason: "use a directory path or s3://bucket/prefix".into(),
        });
    }
    Ok(Box::new(LocalMediaStore::open(location)?))
}
