//! Media download through the wrapper: chunking, a failing chunk retried from its own index, md5
//! verification, streaming, and a bad sdkfileid.

use std::io::Write;
use std::time::Duration;

use msgaudit::sdk::{MediaError, RetryPolicy, code};
use wework_finance_archive::MediaFile;

use crate::support::{emulator, session};

const SIX_MIB: u64 = 6 * 1024 * 1024 + 12_345;

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        chunk_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }
}

/// A writer that records what it got and the largest single write.
#[derive(Default)]
struct Recorder {
    bytes: Vec<u8>,
    largest_write: usize,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.largest_write = self.largest_write.max(buf.len());
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_6_mib_file_is_reassembled_and_verified_with_one_chunk_failing_once() {
    let lib = emulator();
    let mut s = session(&lib, "messages=1&media_fail_chunk=5");
    let file = MediaFile::raw(1, 77, SIX_MIB);
    let mut out = Recorder::default();
    let got = s
        .download_media(
            &file.sdkfileid(1, 0),
            &file.md5_hex(),
            Duration::from_secs(5),
            &quick_retry(),
            &mut out,
        )
        .expect("download");
    assert_eq!(got.bytes, SIX_MIB);
    assert_eq!(got.chunks, 13, "6 MiB + a bit is 13 chunks of 512 KiB");
    assert_eq!(
        got.retries, 1,
        "chunk 5 failed exactly once and was retried from its own index"
    );
    assert_eq!(got.md5, file.md5_hex());
    assert!(
        out.bytes == file.bytes(0, SIX_MIB as usize),
        "bytes differ from the emulated file"
    );
    assert!(
        out.bytes.contains(&0),
        "binary media with NULs arrives intact"
    );
    assert!(
        out.largest_write <= 512 * 1024,
        "streamed chunk by chunk, never whole"
    );
}

#[test]
fn tiny_empty_md5_and_mismatching_md5_files() {
    let lib = emulator();
    let mut s = session(&lib, "messages=1");
    let tiny = MediaFile::raw(2, 1, 3);
    let mut out = Vec::new();
    let got = s
        .download_media(
            &tiny.sdkfileid(9, 0),
            "",
            Duration::from_secs(5),
            &quick_retry(),
            &mut out,
        )
        .expect("an empty md5sum skips verification");
    assert_eq!((got.bytes, got.chunks), (3, 1));
    let e = s
        .download_media(
            &tiny.sdkfileid(9, 0),
            "00000000000000000000000000000000",
            Duration::from_secs(5),
            &quick_retry(),
            &mut Vec::new(),
        )
        .expect_err("mismatch");
    assert!(
        matches!(e, MediaError::Md5Mismatch { bytes: 3, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("download it again"));
}

#[test]
fn a_bad_sdkfileid_is_10005_and_not_retried() {
    let lib = emulator();
    let mut s = session(&lib, "messages=1");
    let e = s
        .download_media(
            "EMUFILE.made.up",
            "",
            Duration::from_secs(5),
            &quick_retry(),
            &mut Vec::new(),
        )
        .expect_err("bad id");
    match e {
        MediaError::Chunk {
            attempts, source, ..
        } => {
            assert_eq!(attempts, 1);
            assert_eq!(source.code(), Some(i64::from(code::BAD_FILE_ID)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_chunk_failing_beyond_the_budget_names_its_index() {
    let lib = emulator();
    let mut s = session(&lib, "messages=1&media_fail_rate=1");
    let file = MediaFile::raw(1, 5, 1000);
    let e = s
        .download_media(
            &file.sdkfileid(1, 0),
            "",
            Duration::from_secs(5),
            &quick_retry(),
            &mut Vec::new(),
        )
        .expect_err("always failing");
    match e {
        MediaError::Chunk {
            attempts,
            source,
            index,
            ..
        } => {
            assert_eq!((attempts, index.as_str()), (3, ""));
            assert!(source.is_transient());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_media_reference_in_a_generated_archive_downloads_and_verifies() {
    let lib = emulator();
    let opts = "messages=300&seed=8&max_media=700000";
    let mut s = session(&lib, opts);
    let mut checked = 0;
    for m in crate::support::archive(opts).iter() {
        for media in &m.media {
            let got = s
                .download_media(
                    &media.sdkfileid,
                    &media.md5sum,
                    Duration::from_secs(5),
                    &quick_retry(),
                    &mut std::io::sink(),
                )
                .expect("download");
            assert_eq!(got.bytes, media.file.size);
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} media references");
}
