//! The media store's contract, run against both backends: the local directory, and S3 through a
//! real S3-compatible server (`s3s-fs` from crates.io, started on 127.0.0.1 for each test; `.ci/run`
//! installs it). Then the daemon archiving into a bucket end to end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use msgaudit::media::object::Staged;
use msgaudit::media::s3::{S3MediaStore, S3Settings};
use msgaudit::media::{LocalMediaStore, MediaStore, MediaStoreError, ObjectKey};
use msgaudit::secret::Secret;

use crate::support::{free_port, wait_until};

const ACCESS_KEY: &str = "msgaudit-test";
const SECRET_KEY: &str = "msgaudit-test-secret";

/// An `s3s-fs` server on a free loopback port, serving a temporary directory; killed on drop.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub root: tempfile::TempDir,
}

impl S3Server {
    /// Starts the server with one bucket, `bucket`.
    pub fn start(bucket: &str) -> S3Server {
        let root = tempfile::tempdir().expect("root");
        std::fs::create_dir(root.path().join(bucket)).expect("bucket");
        let port = free_port();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start s3s-fs ({e}): the S3 tests need it on PATH: \
                     cargo install s3s-fs@0.14.1 --features binary --locked   (or run .ci/run)"
                )
            });
        wait_until("s3s-fs listening", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
        }
    }

    pub fn settings(&self, url: &str, staging: &Path) -> S3Settings {
        S3Settings {
            url: url.to_owned(),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: Secret::new(SECRET_KEY),
            staging: staging.to_owned(),
        }
    }

    /// The `[media]` section of a daemon config archiving into `s3://bucket/prefix` here.
    pub fn media_config(&self, url: &str) -> String {
        format!(
            "[media]\nstore = \"{url}\"\n[media.s3]\nendpoint = \"{}\"\naccess_key_id = \"{ACCESS_KEY}\"\n\
             secret_access_key_env = \"MSGAUDIT_TEST_S3_SECRET\"\n",
            self.endpoint
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A staged file of `len` deterministic bytes in the store's staging directory.
fn stage(store: &dyn MediaStore, len: usize, salt: u8) -> (PathBuf, Vec<u8>) {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ salt)
        .collect();
    let (staged, mut file) = Staged::create(store.staging_dir()).expect("stage");
    std::io::Write::write_all(&mut file, &bytes).expect("write");
    let path = staged.path.clone();
    std::mem::forget(staged); // the store takes it over
    (path, bytes)
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    wework_finance_archive::to_hex(&md5::Md5::digest(bytes))
}

/// The contract every media store keeps.
fn contract(store: &dyn MediaStore) {
    // Absent until put; a put file is complete, readable, and its staging file is gone.
    let (staged, bytes) = stage(store, 100_000, 1);
    let key = ObjectKey::original(&md5_hex(&bytes), bytes.len() as u64);
    assert!(!store.contains(&key).expect("contains"));
    let mut out = Vec::new();
    assert!(matches!(
        store.get(&key, &mut out),
        Err(MediaStoreError::NotFound { .. })
    ));
    assert!(store.put(&staged, &key).expect("put"), "a new object");
    assert!(!staged.exists(), "the staging file is taken over");
    assert!(store.contains(&key).expect("contains"));
    let mut out = Vec::new();
    assert_eq!(store.get(&key, &mut out).expect("get"), bytes.len() as u64);
    assert!(out == bytes, "the same bytes come back");

    // The same content again: one object, the second staging file removed.
    let (again, _) = stage(store, 100_000, 1);
    assert!(
        !store.put(&again, &key).expect("put again"),
        "already stored"
    );
    assert!(!again.exists());

    // A copy is another object beside its original.
    let copy = ObjectKey::copy(&key.md5, key.size, "mp3");
    assert!(!store.contains(&copy).expect("contains"));
    let (staged, copy_bytes) = stage(store, 10, 9);
    store.put(&staged, &copy).expect("put copy");
    let mut out = Vec::new();
    store.get(&copy, &mut out).expect("get copy");
    assert_eq!(out, copy_bytes);

    // A file larger than an S3 part: multipart, streamed, the same bytes back.
    let (staged, big) = stage(store, 20 * 1024 * 1024 + 17, 3);
    let big_key = ObjectKey::original(&md5_hex(&big), big.len() as u64);
    store.put(&staged, &big_key).expect("put big");
    let mut out = Vec::with_capacity(big.len());
    assert_eq!(
        store.get(&big_key, &mut out).expect("get big"),
        big.len() as u64
    );
    assert!(out == big, "the multipart object is whole");

    // An empty file is a file too.
    let (staged, empty) = stage(store, 0, 0);
    let empty_key = ObjectKey::original(&md5_hex(&empty), 0);
    store.put(&staged, &empty_key).expect("put empty");
    assert!(store.contains(&empty_key).expect("contains"));
}

#[test]
fn the_directory_backend_keeps_the_contract_with_private_modes() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("media");
    let store = LocalMediaStore::open(&root).expect("open");
    contract(&store);
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    let mut files = 0;
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read").flatten() {
            if e.path().is_dir() {
                assert_eq!(mode(&e.path()), 0o700, "{}", e.path().display());
                dirs.push(e.path());
            } else {
                assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
                files += 1;
            }
        }
    }
    assert_eq!(files, 4, "four objects, nothing left in staging");
    // A crash's leftovers in staging are cleared at the next open.
    std::fs::write(root.join(".staging/123-1-1.part"), b"partial").expect("leftover");
    LocalMediaStore::open(&root).expect("reopen");
    assert_eq!(
        std::fs::read_dir(root.join(".staging"))
            .expect("staging")
            .count(),
        0
    );
}

#[test]
fn the_s3_backend_keeps_the_same_contract_against_a_real_server() {
    let server = S3Server::start("media");
    let staging = tempfile::tempdir().expect("staging");
    let store = S3MediaStore::open(&server.settings("s3://media/archive/ww1", staging.path()))
        .expect("open");
    contract(&store);
    // The objects sit under the prefix, fanned out like the directory backend's.
    let under = server.root.path().join("media/archive/ww1");
    assert!(under.is_dir(), "objects under the prefix");
}

#[test]
fn a_wrong_s3_secret_is_a_clear_error_that_names_the_fix() {
    let server = S3Server::start("media");
    let staging = tempfile::tempdir().expect("staging");
    let mut settings = server.settings("s3://media", staging.path());
    settings.secret_access_key = Secret::new("not-the-secret");
    let store = S3MediaStore::open(&settings).expect("open (nothing sent yet)");
    let key = ObjectKey::original("00112233445566778899aabbccddeeff", 1);
    let err = store.contains(&key).expect_err("refused");
    let text = err.to_string();
    assert!(
        !text.contains("not-the-secret"),
        "no secret in errors: {text}"
    );
    assert!(text.contains("bucket media"), "{text}");
}

#[test]
fn the_daemon_archives_media_into_a_bucket() {
    let server = S3Server::start("archive");
    let dir = tempfile::tempdir().expect("dir");
    let config = crate::support::write_config(
        dir.path(),
        "messages=300&seed=21&max_media=2097152",
        &[1, 2],
        &server.media_config("s3://archive/msgaudit"),
    );
    let status = Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["run", "--once", "--config"])
        .arg(&config)
        .env("MSGAUDIT_TEST_S3_SECRET", SECRET_KEY)
        .env("RUST_LOG", "warn")
        .status()
        .expect("run");
    assert!(status.success());
    let store = msgaudit::store::SqliteStore::open(dir.path().join("store.db")).expect("store");
    use msgaudit::store::prelude::*;
    let summary = store.media_summary().expect("summary");
    assert!(
        summary.done > 0 && summary.pending == 0 && summary.dead == 0,
        "{summary:?}"
    );
    // Every stored file is in the bucket, whole.
    let conn = rusqlite::Connection::open(dir.path().join("store.db")).expect("db");
    let (msgid, md5): (String, String) = conn
        .query_row(
            "SELECT msg_id, file_md5 FROM we_chat_media_job WHERE status = 1 ORDER BY file_size DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a job");
    let out = dir.path().join("got");
    let got = Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["media", "get", "--msgid", &msgid, "--out"])
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .env("MSGAUDIT_TEST_S3_SECRET", SECRET_KEY)
        .output()
        .expect("media get");
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(md5_hex(&std::fs::read(&out).expect("file")), md5);
    let objects = walk(&server.root.path().join("archive/msgaudit"));
    assert_eq!(
        objects as u64,
        summary.files + store_copies(&conn),
        "one object per file (and copy)"
    );
}

fn store_copies(conn: &rusqlite::Connection) -> u64 {
    conn.query_row(
        "SELECT COUNT(*) FROM we_chat_media_file WHERE playable_type <> ''",
        [],
        |r| r.get::<_, i64>(0),
    )
    .expect("copies") as u64
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}
