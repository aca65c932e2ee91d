//! The media archive end to end, through the emulator over FFI and the real daemon binary: every
//! attachment of a 5,000-message archive stored once and md5-verified with the dedup the archive
//! implies; chunk failures retried; expired (10010), unknown (10005) and never-matching-md5 media
//! kept as dead jobs, and stored by `media retry` once the cause is fixed; SIGKILLs during downloads
//! leave every job done exactly once and no partial or orphan file; peak RSS bounded while fetching
//! 8 MiB files; QR codes become 发送二维码 unless allowed; voice gets a playable copy (or later, from
//! `media playable`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use md5::{Digest, Md5};
use msgaudit::store::prelude::*;
use wework_finance_archive::{Archive, ArchiveOptions, Format, MediaFile, to_hex};

use crate::support::{emulator_path, key_path, wait_exit, wait_until};

const CORP: &str = "wwmedia";

/// A test's directory: config, secret, emulator options, store, media.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(emulator: serde_json::Value, media: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = Setup { dir };
        s.emulator(emulator);
        std::fs::write(s.path().join("secret"), "test-secret\n").expect("secret");
        let config = format!(
            "[store]\nurl = \"sqlite://store.db\"\n[sdk]\nlibrary = \"{}\"\ntimeout_secs = 5\n\
             [pull]\npoll_interval_secs = 1\nmax_backoff_secs = 1\n[alerts]\nenabled = false\n\
             [media]\nfirst_retry_ms = 20\nmax_retry_secs = 1\nmd5_attempts = 2\npoll_ms = 50\n{media}\n\
             [[corps]]\ncorp_id = \"{CORP}\"\nsecret_file = \"secret\"\nkeys = {{ 1 = \"{}\", 2 = \"{}\" }}\n",
            emulator_path().display(),
            key_path(1).display(),
            key_path(2).display(),
        );
        std::fs::write(s.config(), config).expect("config");
        s
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.path().join("msgaudit.toml")
    }

    fn db(&self) -> PathBuf {
        self.path().join("store.db")
    }

    fn media_dir(&self) -> PathBuf {
        self.path().join("media")
    }

    /// Rewrites the emulator's options for the corp (read at every SDK session's `Init`).
    fn emulator(&self, options: serde_json::Value) {
        let json = serde_json::json!({ "corps": { CORP: options } });
        std::fs::write(self.path().join("emulator.json"), json.to_string()).expect("emulator");
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_msgaudit"));
        cmd.args(args)
            .arg("--config")
            .arg(self.config())
            .env("WWEMU_CONFIG", self.path().join("emulator.json"))
            .env("RUST_LOG", "warn");
        cmd
    }

    fn spawn(&self, once: bool) -> Child {
        let mut cmd = self.command(&["run"]);
        if once {
            cmd.arg("--once");
        }
        cmd.spawn().expect("spawn the daemon")
    }

    fn run_once(&self) {
        let mut child = self.spawn(true);
        let status = wait_exit(&mut child, Duration::from_secs(600));
        assert!(status.success(), "run --once failed: {status}");
    }

    fn store(&self) -> msgaudit::store::SqliteStore {
        msgaudit::store::SqliteStore::open(self.db()).expect("store")
    }

    /// Every job: (msgid, item) → (status, dead reason, file md5, file size, note).
    fn jobs(&self) -> HashMap<(String, u32), Job> {
        self.try_jobs().expect("read the media jobs")
    }

    /// The jobs, or the error (no database or schema yet while a daemon starts).
    fn try_jobs(&self) -> rusqlite::Result<HashMap<(String, u32), Job>> {
        let conn = rusqlite::Connection::open(self.db())?;
        let mut stmt = conn.prepare(
            "SELECT msg_id, item, status, dead_reason, file_md5, file_size, note, attempts
             FROM we_chat_media_job",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (r.get(0)?, r.get(1)?),
                Job {
                    status: r.get(2)?,
                    dead_reason: r.get(3)?,
                    md5: r.get(4)?,
                    size: r.get::<_, i64>(5)? as u64,
                    note: r.get(6)?,
                    attempts: r.get(7)?,
                },
            ))
        })?;
        rows.collect()
    }

    /// Every object file under the media directory (staging excluded) → its bytes' md5.
    fn objects(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        let mut dirs = vec![self.media_dir()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("read dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    if e.file_name() != ".staging" {
                        dirs.push(p);
                    }
                    continue;
                }
                let bytes = std::fs::read(&p).expect("read object");
                let name = e.file_name().to_string_lossy().into_owned();
                out.insert(name, to_hex(&Md5::digest(&bytes)));
            }
        }
        out
    }

    fn staged(&self) -> usize {
        std::fs::read_dir(self.media_dir().join(".staging")).map_or(0, |d| d.count())
    }
}

#[derive(Debug, Clone)]
struct Job {
    status: u8,
    dead_reason: String,
    md5: String,
    size: u64,
    note: String,
    attempts: u32,
}

/// What the archive implies: (msgid, item) → (md5, size) of every attachment of a readable message.
fn expected(options: &ArchiveOptions) -> HashMap<(String, u32), (String, u64)> {
    let archive = Archive::open(options.clone()).expect("archive");
    let mut out = HashMap::new();
    for m in archive.iter().filter(|m| !m.faults.unreadable()) {
        for r in &m.media {
            let item = item_of(&r.sdkfileid);
            out.insert((m.msgid.clone(), item), (r.file.md5_hex(), r.file.size));
        }
    }
    out
}

/// The `idx` field of an emulator sdkfileid: the attachment's item.
fn item_of(sdkfileid: &str) -> u32 {
    let fields: Vec<&str> = sdkfileid.split('.').collect();
    u32::from_str_radix(fields[fields.len() - 2], 16).expect("idx")
}

fn options(json: &serde_json::Value) -> ArchiveOptions {
    let pairs: Vec<(String, String)> = json
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string().trim_matches('"').to_owned()))
        .collect();
    ArchiveOptions::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .expect("options")
}

/// Every object on disk is named after its content (md5-size), and every file row has its object.
fn assert_store_consistent(s: &Setup) {
    let objects = s.objects();
    let store = s.store();
    for (name, md5) in &objects {
        let base = name.split('.').next().expect("name");
        let (named_md5, size) = base.split_once('-').expect("md5-size");
        if name.contains('.') {
            // A playable copy: its original's row says so.
            let file = store
                .media_file(named_md5, size.parse().expect("size"))
                .expect("read")
                .expect("a copy belongs to a stored file");
            assert!(!file.playable_type.is_empty(), "{name}");
        } else {
            assert_eq!(named_md5, md5, "{name}: content differs from its name");
            assert!(
                store
                    .media_file(named_md5, size.parse().expect("size"))
                    .expect("read")
                    .is_some(),
                "orphan object {name}"
            );
        }
    }
    let conn = rusqlite::Connection::open(s.db()).expect("db");
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM we_chat_media_file", [], |r| r.get(0))
        .expect("count");
    let originals = objects.keys().filter(|n| !n.contains('.')).count();
    assert_eq!(rows as usize, originals, "one object per file row");
}

#[test]
fn a_5000_message_archive_has_all_its_media_stored_once_and_verified() {
    let emu = serde_json::json!({"messages": 5000, "seed": 11, "max_media": 3 << 20,
        "missing_key_every": 97, "media_fail_rate": 0.05});
    // One full look over the pending jobs, at the start: every job after it is found only from
    // the messages the writer notes as stored (a run that missed one would never end).
    let s = Setup::new(emu.clone(), "concurrency = 3\nfull_look_secs = 3600");
    s.run_once();
    let want = expected(&options(&emu));
    let jobs = s.jobs();
    assert_eq!(
        jobs.len(),
        want.len(),
        "one job per attachment of a readable message"
    );
    let mut distinct = HashSet::new();
    for (key, (md5, size)) in &want {
        let job = jobs
            .get(key)
            .unwrap_or_else(|| panic!("no job for {key:?}"));
        assert_eq!(job.status, 1, "{key:?}: {job:?}");
        assert_eq!((&job.md5, job.size), (md5, *size), "{key:?}");
        distinct.insert((md5.clone(), *size));
    }
    let summary = s.store().media_summary().expect("summary");
    assert_eq!(
        summary.files as usize,
        distinct.len(),
        "one file per distinct (md5, size): {} attachments share {} files",
        want.len(),
        distinct.len()
    );
    assert!(distinct.len() < want.len(), "the archive forwards files");
    assert_store_consistent(&s);
    assert_eq!(s.staged(), 0, "nothing left in staging");
    // Replaying the store step creates no second job.
    let mut cmd = s.command(&["run", "--once"]);
    assert!(cmd.status().expect("rerun").success());
    assert_eq!(s.jobs().len(), want.len());

    // The archive grows. The next run's full look finds nothing pending, so the new messages'
    // jobs are found only because the writer notes what it stored.
    let more = serde_json::json!({"messages": 5600, "seed": 11, "max_media": 3 << 20,
        "missing_key_every": 97, "media_fail_rate": 0.05});
    s.emulator(more.clone());
    s.run_once();
    let want = expected(&options(&more));
    let jobs = s.jobs();
    assert_eq!(jobs.len(), want.len(), "the new messages' jobs too");
    let undone: Vec<_> = jobs.iter().filter(|(_, j)| j.status != 1).collect();
    assert!(undone.is_empty(), "not done: {undone:?}");
}

#[test]
fn failing_chunks_are_retried_and_the_files_still_verify() {
    let emu = serde_json::json!({"messages": 400, "seed": 12, "max_media": 2 << 20,
        "media_fail_chunk": 0, "media_fail_rate": 0.2});
    let s = Setup::new(emu.clone(), "chunk_attempts = 3");
    s.run_once();
    let want = expected(&options(&emu));
    let jobs = s.jobs();
    assert_eq!(jobs.len(), want.len());
    for (key, (md5, size)) in &want {
        let job = &jobs[key];
        assert_eq!(
            (job.status, &job.md5, job.size),
            (1, md5, *size),
            "{key:?} {job:?}"
        );
    }
    assert!(
        jobs.values().any(|j| j.attempts > 1),
        "with 20 % of calls failing some job needed a second attempt"
    );
    assert_store_consistent(&s);
}

#[test]
fn expired_unknown_and_corrupted_media_end_dead_with_reasons_and_retry_stores_them() {
    let emu = serde_json::json!({"messages": 400, "seed": 13, "max_media": 1 << 20,
        "media_expire_before_seq": 150, "media_corrupt_every": 5, "media_bad_id_every": 11});
    let s = Setup::new(emu.clone(), "");
    s.run_once();
    let archive = Archive::open(options(&emu)).expect("archive");
    let mut reasons: HashMap<String, usize> = HashMap::new();
    let jobs = s.jobs();
    for m in archive.iter().filter(|m| !m.faults.unreadable()) {
        for r in &m.media {
            let job = &jobs[&(m.msgid.clone(), item_of(&r.sdkfileid))];
            let expect = if r.sdkfileid.ends_with("-unknown") {
                Some("bad_file_id")
            } else if m.seq < 150 {
                Some("expired")
            } else if m.seq % 5 == 0 && !r.md5sum.is_empty() {
                Some("md5_mismatch")
            } else {
                None
            };
            match expect {
                // Unless the same file (md5 and size) came in another message and is stored.
                Some(_) if job.status == 1 => {
                    assert!(job.note.contains("already stored"), "{job:?}")
                }
                Some(reason) => {
                    assert_eq!(
                        (job.status, job.dead_reason.as_str()),
                        (2, reason),
                        "seq {}",
                        m.seq
                    );
                    *reasons.entry(reason.to_owned()).or_default() += 1;
                }
                None => assert_eq!(job.status, 1, "seq {} {job:?}", m.seq),
            }
        }
    }
    for r in ["bad_file_id", "expired", "md5_mismatch"] {
        assert!(
            reasons.get(r).copied().unwrap_or(0) > 0,
            "no {r} in {reasons:?}"
        );
    }
    let out = s
        .command(&["media", "list", "--status", "dead"])
        .output()
        .expect("media list");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("expired") && text.contains("WeCom keeps media"),
        "{text}"
    );

    // The cause fixed (the path repaired, the files served again): retry, run, stored.
    s.emulator(
        serde_json::json!({"messages": 400, "seed": 13, "max_media": 1 << 20,
        "media_bad_id_every": 11}),
    );
    let out = s
        .command(&["media", "retry"])
        .output()
        .expect("media retry");
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    let dead: usize = reasons.values().sum();
    assert!(
        said.contains(&format!("{dead} dead media job(s) put back")),
        "{said}"
    );
    s.run_once();
    let jobs = s.jobs();
    for job in jobs.values() {
        if job.status != 1 {
            assert_eq!(
                (job.status, job.dead_reason.as_str()),
                (2, "bad_file_id"),
                "only ids WeCom never knew stay dead"
            );
        }
    }
    let still_dead = jobs.values().filter(|j| j.status == 2).count();
    assert!(
        still_dead > 0 && still_dead <= reasons["bad_file_id"],
        "{still_dead} of {} unknown ids stay dead (the others' files were stored from other messages)",
        reasons["bad_file_id"]
    );
    assert_store_consistent(&s);
}

#[test]
fn sigkill_during_downloads_leaves_every_job_done_once_and_no_partial_file() {
    let emu = serde_json::json!({"messages": 1200, "seed": 14, "max_media": 4 << 20});
    let s = Setup::new(emu.clone(), "concurrency = 2");
    for round in 0..5 {
        let mut child = s.spawn(false);
        // Let it get into the downloads, then kill it without warning.
        let done = || {
            s.try_jobs()
                .map_or(0, |j| j.values().filter(|j| j.status == 1).count())
        };
        let before = done();
        wait_until("downloads under way", Duration::from_secs(120), || {
            done() > before + 5
        });
        std::thread::sleep(Duration::from_millis(150 + 70 * round));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }
    s.run_once();
    let want = expected(&options(&emu));
    let jobs = s.jobs();
    assert_eq!(jobs.len(), want.len(), "no job lost or doubled");
    for (key, (md5, size)) in &want {
        let job = &jobs[key];
        assert_eq!((job.status, &job.md5, job.size), (1, md5, *size), "{key:?}");
    }
    assert_store_consistent(&s);
    assert_eq!(s.staged(), 0, "partial downloads are cleared");
}

/// A corpus line: an image (or voice) message from `from` to `to` in `room`, carrying `file`.
fn corpus_line(seq: u64, from: &str, to: &str, room: &str, kind: &str, file: &MediaFile) -> String {
    let msgid = format!(
        "media{seq}{}",
        if to.starts_with("wm") {
            "_external"
        } else {
            ""
        }
    );
    let body = match kind {
        "voice" => serde_json::json!({"md5sum": file.md5_hex(), "voice_size": file.size,
            "play_length": file.voice_seconds(), "sdkfileid": file.sdkfileid(seq, 0)}),
        _ => serde_json::json!({"md5sum": file.md5_hex(), "filesize": file.size,
            "sdkfileid": file.sdkfileid(seq, 0)}),
    };
    let mut msg = serde_json::json!({"msgid": msgid, "action": "send", "from": from,
        "tolist": [to], "roomid": room, "msgtime": 1_763_596_800_000u64 + seq * 1000,
        "msgtype": kind});
    msg[kind] = body;
    serde_json::json!({"seq": seq, "publickey_ver": 1, "msg": msg}).to_string()
}

#[test]
fn qr_codes_in_images_become_a_behaviour_unless_their_url_is_allowed() {
    // QR payload n % 4: 0 a personal contact, 1 WeChat pay, 2 Alipay, 3 the allowed corp site.
    let qr = |n: u64, jpeg: bool| {
        MediaFile::typed(5, if jpeg { Format::QrJpeg } else { Format::QrPng }, n, 0)
    };
    let photo = MediaFile::typed(5, Format::PhotoPng, 1, 0);
    let lines = [
        corpus_line(1, "zhangsan", "wmCustomerA", "", "image", &qr(0, false)),
        corpus_line(2, "zhangsan", "wmCustomerA", "", "image", &qr(3, false)),
        corpus_line(3, "wmCustomerA", "zhangsan", "", "image", &qr(4, false)),
        corpus_line(4, "lisi", "wmCustomerB", "wrRoom1", "image", &qr(1, true)),
        corpus_line(5, "zhangsan", "wmCustomerA", "", "image", &photo),
        corpus_line(6, "zhangsan", "lisi", "", "image", &qr(2, false)),
    ];
    let dir = tempfile::tempdir().expect("dir");
    let corpus = dir.path().join("qr.jsonl");
    std::fs::write(&corpus, lines.join("\n")).expect("corpus");
    let s = Setup::new(
        serde_json::json!({"corpus": corpus.display().to_string()}),
        "",
    );
    let mut rules = msgaudit::audit::RuleSet::from_json(
        &std::fs::read_to_string(crate::support::root().join("fixtures/rules.json"))
            .expect("rules"),
    )
    .expect("rules parse");
    rules.url_allow = vec![wework_finance_archive::ALLOWED_DOMAIN.to_owned()];
    s.store().save_rules(&rules).expect("rules");
    s.run_once();
    let conn = rusqlite::Connection::open(s.db()).expect("db");
    let mut stmt = conn
        .prepare("SELECT msg_id, operator_id, operate_target_id, detail FROM we_sensitive_act_hit WHERE sensitive_act_id = 8 ORDER BY msg_id")
        .expect("prepare");
    let hits: Vec<(String, String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(
        hits,
        vec![
            (
                "media1_external".into(),
                "zhangsan".into(),
                "wmCustomerA".into(),
                qr(0, false).qr_text().expect("qr")
            ),
            (
                "media4_external".into(),
                "lisi".into(),
                "wrRoom1".into(),
                qr(1, true).qr_text().expect("qr")
            ),
        ],
        "a personal code to a customer and a pay code in a room are hits; the allowed site, a \
         customer's own code, a photo and a code between colleagues are not"
    );
}

#[test]
fn voice_gets_a_playable_copy_with_ffmpeg_and_a_clear_note_without() {
    let voice = MediaFile::typed(6, Format::Amr, 1, 6 + 32 * 50 * 3);
    let dir = tempfile::tempdir().expect("dir");
    let corpus = dir.path().join("voice.jsonl");
    std::fs::write(
        &corpus,
        corpus_line(1, "zhangsan", "wmC", "", "voice", &voice),
    )
    .expect("corpus");
    let emu = serde_json::json!({"corpus": corpus.display().to_string()});

    let ffmpeg = ["/usr/bin/ffmpeg", "/usr/local/bin/ffmpeg"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("ffmpeg (apt-get install ffmpeg)");
    let without = Setup::new(emu.clone(), "ffmpeg = \"/nonexistent/ffmpeg\"");
    without.run_once();
    let job = without.jobs().into_values().next().expect("a job");
    assert_eq!(job.status, 1, "the original is kept: {job:?}");
    assert!(job.note.contains("ffmpeg was not found"), "{}", job.note);
    assert!(job.note.contains("msgaudit media playable"), "{}", job.note);
    assert!(!without.objects().keys().any(|k| k.ends_with(".mp3")));

    // Installed later: `media playable` makes the copy of the voice stored before.
    let out = without
        .command(&["media", "playable", "--dry-run"])
        .output()
        .expect("dry run");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 voice file(s) have no playable copy"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = without
        .command(&["media", "playable"])
        .output()
        .expect("without ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("ffmpeg was not found") && err.contains("apt-get"),
        "{err}"
    );
    let config = std::fs::read_to_string(without.config()).expect("config");
    std::fs::write(
        without.config(),
        config.replace("/nonexistent/ffmpeg", ffmpeg),
    )
    .expect("config");
    let check = |what: &str| {
        let out = without
            .command(&["check", "--offline"])
            .output()
            .expect("check");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains(what), "{text}");
    };
    check("1 voice file(s) stored before have none: run `msgaudit media playable`");
    let out = without
        .command(&["media", "playable"])
        .output()
        .expect("media playable");
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("made 1 playable copies"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    check("found: voice gets a playable MP3 copy");
    let job = without.jobs().into_values().next().expect("a job");
    assert_eq!(job.note, "", "the note that said there was no copy is gone");
    assert!(
        without
            .objects()
            .contains_key(&format!("{}-{}.mp3", job.md5, job.size)),
        "{:?}",
        without.objects()
    );
    let file = without
        .store()
        .media_file(&job.md5, job.size)
        .expect("read");
    assert_eq!(file.map(|f| f.playable_type), Some("audio/mpeg".into()));
    let out = without
        .command(&["media", "playable"])
        .output()
        .expect("again");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("nothing to do"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let with = Setup::new(emu.clone(), "");
    with.run_once();
    let job = with.jobs().into_values().next().expect("a job");
    assert_eq!(job.status, 1);
    let mp3 = format!("{}-{}.mp3", job.md5, job.size);
    assert!(with.objects().contains_key(&mp3), "{:?}", with.objects());
    let file = with
        .store()
        .media_file(&job.md5, job.size)
        .expect("read")
        .expect("file row");
    assert_eq!(
        (file.content_type.as_str(), file.playable_type.as_str()),
        ("audio/amr", "audio/mpeg")
    );
    let target = with.path().join("v.mp3");
    let out = with
        .command(&[
            "media",
            "get",
            "--msgid",
            "media1_external",
            "--playable",
            "--out",
            &target.display().to_string(),
        ])
        .output()
        .expect("media get");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(with.path().join("v.mp3")).expect("mp3");
    assert!(
        bytes.starts_with(b"ID3") || bytes.first() == Some(&0xFF),
        "an MP3"
    );

    // An ffmpeg stopped by a signal (killed under memory pressure) is not the file's fault: the
    // job is tried again and the voice still gets its copy. An ffmpeg that refuses the file is
    // not tried again: the original is stored with the note.
    let (killed_once, runs) = with_ffmpeg_script(
        &dir,
        &emu,
        "killed-once",
        &format!("if [ $(wc -l < \"$RUNS\") -eq 1 ]; then kill -9 $$; fi\nexec {ffmpeg} \"$@\""),
    );
    killed_once.run_once();
    let job = killed_once.jobs().into_values().next().expect("a job");
    assert_eq!((job.status, job.note.as_str()), (1, ""), "{job:?}");
    let file = killed_once
        .store()
        .media_file(&job.md5, job.size)
        .expect("read")
        .expect("file row");
    assert_eq!(file.playable_type, "audio/mpeg", "the copy after the retry");
    assert_eq!(runs(), 2, "ffmpeg ran again after it was stopped");

    let (refusing, runs) = with_ffmpeg_script(
        &dir,
        &emu,
        "refusing",
        "echo 'Invalid data found when processing input' >&2\nexit 1",
    );
    refusing.run_once();
    let job = refusing.jobs().into_values().next().expect("a job");
    assert_eq!(job.status, 1, "the original is kept: {job:?}");
    assert!(
        job.note.contains("ffmpeg failed") && job.note.contains("Invalid data"),
        "{}",
        job.note
    );
    assert_eq!(runs(), 1, "a file ffmpeg refuses is not tried again");
    // `media playable` tries it once more, and says why it still has no copy.
    let out = refusing
        .command(&["media", "playable"])
        .output()
        .expect("media playable");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("1 voice file(s) got no playable copy")
            && err.contains("Invalid data"),
        "{err}"
    );
    assert_eq!(runs(), 2);
}

/// A setup whose `ffmpeg` is a shell script named `name` in `dir` running `body` (with `$RUNS`, a
/// file it appends a line to each time it runs), and a reader of how many times it ran.
fn with_ffmpeg_script(
    dir: &tempfile::TempDir,
    emulator: &serde_json::Value,
    name: &str,
    body: &str,
) -> (Setup, impl Fn() -> usize + use<>) {
    use std::os::unix::fs::PermissionsExt;
    let runs = dir.path().join(format!("{name}-runs"));
    let script = dir.path().join(format!("ffmpeg-{name}"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nRUNS='{}'\necho run >> \"$RUNS\"\n{body}\n",
            runs.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let setup = Setup::new(
        emulator.clone(),
        &format!("ffmpeg = \"{}\"", script.display()),
    );
    let count = move || {
        std::fs::read_to_string(&runs)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    (setup, count)
}

#[test]
fn fetching_8_mib_files_keeps_peak_memory_bounded() {
    const FILES: u64 = 40;
    const SIZE: u64 = 8 << 20;
    let lines: Vec<String> = (1..=FILES)
        .map(|seq| {
            let file = MediaFile::raw(9, seq, SIZE);
            corpus_line(seq, "zhangsan", "lisi", "", "image", &file)
        })
        .collect();
    let dir = tempfile::tempdir().expect("dir");
    let corpus = dir.path().join("big.jsonl");
    std::fs::write(&corpus, lines.join("\n")).expect("corpus");
    let s = Setup::new(
        serde_json::json!({"corpus": corpus.display().to_string()}),
        "concurrency = 4",
    );
    let mut child = s.spawn(true);
    let pid = child.id();
    let mut peak = 0;
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        peak = peak.max((msgaudit::bench::peak_rss_mb_of(&pid.to_string()) * 1024.0) as u64);
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "took too long"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let jobs = s.jobs();
    assert_eq!(
        jobs.values().filter(|j| j.status == 1).count() as u64,
        FILES
    );
    let fetched_mib = (FILES * SIZE) >> 20;
    eprintln!(
        "peak RSS {} MiB while fetching {fetched_mib} MiB in 8 MiB files",
        peak / 1024
    );
    assert!(
        peak < 160 * 1024,
        "peak RSS {} MiB: files must stream in chunks, never whole ({fetched_mib} MiB fetched)",
        peak / 1024
    );
}

#[test]
fn at_the_quota_fetching_pauses_and_text_ingestion_goes_on() {
    let emu = serde_json::json!({"messages": 600, "seed": 15, "max_media": 2 << 20});
    let s = Setup::new(emu.clone(), "quota_mb = 1\nconcurrency = 1");
    let mut child = s.spawn(true);
    let status = wait_exit(&mut child, Duration::from_secs(300));
    assert!(status.success(), "run --once ends at the quota: {status}");
    let archive = Archive::open(options(&emu)).expect("archive");
    let readable = archive.iter().filter(|m| !m.faults.unreadable()).count() as u64;
    let stored = crate::support::max_seq_and_count(&s.db()).1;
    assert_eq!(
        stored, readable,
        "every message is stored whatever the media quota"
    );
    let summary = s.store().media_summary().expect("summary");
    assert!(summary.pending > 0, "media waits for space: {summary:?}");
    assert!(
        summary.bytes >= 1 << 20 && summary.bytes < (1 << 20) + 4 * (2 << 20),
        "fetching stopped at the quota (give or take the files in flight): {summary:?}"
    );
    let out = s.command(&["status"]).output().expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pending (oldest"), "{text}");
}

#[test]
fn jobs_of_a_corp_no_longer_archived_wait_without_holding_up_the_others() {
    let emu = serde_json::json!({"messages": 200, "seed": 16, "max_media": 1 << 20});
    let s = Setup::new(emu.clone(), "concurrency = 1");
    // An older corp's backlog, older than every message of the configured one.
    let mut gone = msgaudit::store::StoreBatch {
        corp_id: "wwgone".into(),
        checkpoint: 50,
        ..Default::default()
    };
    for seq in 1..=50 {
        let mut m = crate::support::message_row("wwgone", &format!("g{seq}"), seq);
        m.msg_time = 1_000 + seq as i64;
        m.attachments = vec![msgaudit::message::Attachment {
            item: 0,
            kind: msgaudit::message::MediaKind::Image,
            sdkfileid: format!("G{seq}"),
            md5sum: String::new(),
            size: 10,
            file_name: String::new(),
        }];
        gone.messages.push(m);
    }
    s.store().store_batch(&gone).expect("the old corp's batch");
    s.run_once();
    let want = expected(&options(&emu));
    let jobs = s.jobs();
    for key in want.keys() {
        assert_eq!(
            jobs[key].status, 1,
            "{key:?}: the configured corp's media is all fetched"
        );
    }
    let waiting = jobs
        .iter()
        .filter(|((m, _), j)| m.starts_with('g') && j.status == 0)
        .count();
    assert_eq!(
        waiting, 50,
        "the other corp's jobs wait, untouched, for when it is archived again"
    );
}
