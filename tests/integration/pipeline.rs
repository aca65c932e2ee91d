//! The ingestion pipeline in-process, against the emulator through FFI and a real SQLite file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use msgaudit::message::DeadReason;
use msgaudit::pipeline::{
    self, Corp, PipelineSettings, PullConfig, PullSettings, RunSummary, audit::NoAudit,
};
use msgaudit::runtime::{Shutdown, Stats};
use msgaudit::sdk::FinanceLibrary;
use msgaudit::secret::Secret;
use msgaudit::store::prelude::*;
use msgaudit::store::{DeadLetterQuery, SqliteStore};
use wework_finance_archive::Faults;

use crate::support::{archive, corp_id, emulator, good_msgids, keys, stored_msgids};

struct Run {
    summary: RunSummary,
    stats: Arc<Stats>,
    store: Arc<SqliteStore>,
}

fn settings(once: bool, limit: u32) -> PipelineSettings {
    PipelineSettings {
        pull: PullSettings {
            pull: PullConfig {
                batch_limit: limit,
                min_call_interval: Duration::from_millis(1),
                poll_interval: Duration::from_millis(50),
                max_backoff: Duration::from_millis(20),
                workers: 0,
                max_in_flight: 4,
            },
            timeout: Duration::from_secs(5),
            once,
        },
        network: Default::default(),
        threads: 0,
        queue_batches: 4,
        max_store_backoff: Duration::from_millis(50),
        spool: None,
    }
}

fn corp(options: &str, versions: &[u32]) -> Corp {
    Corp {
        corp_id: corp_id(options),
        secret: Secret::new("test-secret"),
        keys: Arc::new(keys(versions)),
    }
}

/// The pipeline's parts over `store`, without an audit.
fn unaudited(
    lib: &FinanceLibrary,
    store: Arc<SqliteStore>,
    stats: Arc<Stats>,
    shutdown: Shutdown,
) -> pipeline::Parts<'_> {
    pipeline::Parts {
        lib,
        decryptor: lib.decryptor(),
        rsa: msgaudit::sdk::RsaBackend::OpenSsl,
        store,
        audit: Arc::new(NoAudit),
        stats,
        shutdown,
        changes: None,
        idle_at_start: false,
        fence: None,
    }
}

fn run_once(db: &std::path::Path, options: &str, versions: &[u32], limit: u32) -> Run {
    run_with(
        db,
        options,
        versions,
        limit,
        msgaudit::sdk::RsaBackend::OpenSsl,
    )
}

fn run_with(
    db: &std::path::Path,
    options: &str,
    versions: &[u32],
    limit: u32,
    rsa: msgaudit::sdk::RsaBackend,
) -> Run {
    let store = Arc::new(SqliteStore::open(db).expect("open store"));
    let lib = emulator();
    let stats = Arc::new(Stats::default());
    let mut parts = unaudited(&lib, store.clone(), stats.clone(), Shutdown::new());
    parts.rsa = rsa;
    let summary = pipeline::run(parts, &[corp(options, versions)], &settings(true, limit))
        .expect("pipeline runs");
    Run {
        summary,
        stats,
        store,
    }
}

#[test]
fn a_50000_message_drain_stores_every_msgid_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let opts = "messages=50000&seed=50";
    let run = run_once(&db, opts, &[1, 2], 1000);
    assert!(run.summary.failures.is_empty());
    assert_eq!(
        stored_msgids(&db),
        good_msgids(&archive(opts)),
        "every archive msgid exactly once"
    );
    assert_eq!(
        run.store.checkpoint(&corp_id(opts)).expect("checkpoint"),
        Some(50_000)
    );
    assert_eq!(
        (
            Stats::get(&run.stats.stored),
            Stats::get(&run.stats.duplicates)
        ),
        (50_000, 0)
    );
}

/// Every stored row of a store, by msgid (what a backend changes, if anything), and every dead
/// letter by seq with its reason and detail.
type Stored = (Vec<(String, String, String)>, Vec<(i64, String, String)>);

fn stored_everything(db: &std::path::Path) -> Stored {
    let conn = rusqlite::Connection::open(db).expect("open store");
    let rows = conn
        .prepare("SELECT msg_id, plain_text, contact FROM we_chat_contact_msg ORDER BY msg_id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    let dead = conn
        .prepare("SELECT seq, reason, detail FROM we_chat_msg_dead_letter ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("dead letters");
    (rows, dead)
}

#[test]
fn a_drain_with_crypto_mb_stores_exactly_what_openssl_stores() {
    let Some(mb) = crate::crypto_mb::crypto_mb_backend() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = "messages=4000&seed=21&missing_key_every=97&corrupt_key_every=89&corrupt_msg_every=83&bad_json_every=79";
    let with_openssl = dir.path().join("openssl.db");
    let with_mb = dir.path().join("crypto_mb.db");
    // Odd batch sizes: groups of eight per key version with leftovers in every batch.
    let a = run_with(
        &with_openssl,
        opts,
        &[1, 2],
        301,
        msgaudit::sdk::RsaBackend::OpenSsl,
    );
    let b = run_with(&with_mb, opts, &[1, 2], 301, mb);
    assert!(a.summary.failures.is_empty() && b.summary.failures.is_empty());
    let (rows_a, dead_a) = stored_everything(&with_openssl);
    let (rows_b, dead_b) = stored_everything(&with_mb);
    assert_eq!(rows_a.len(), rows_b.len());
    assert!(rows_a == rows_b, "the same messages, the same text");
    assert_eq!(dead_a, dead_b, "the same dead letters, reasons and details");
    assert!(
        dead_a
            .iter()
            .any(|d| d.1 == "rsa_decrypt" || d.1 == "corrupt_base64")
    );
    assert_eq!(stored_msgids(&with_mb), good_msgids(&archive(opts)));
}

#[test]
fn transient_sdk_errors_are_retried_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let opts = "messages=3000&seed=9&transient_rate=0.3";
    let run = run_once(&db, opts, &[1, 2], 250);
    assert!(
        Stats::get(&run.stats.transient_errors) > 0,
        "the emulator must have failed some calls"
    );
    assert_eq!(stored_msgids(&db), good_msgids(&archive(opts)));
}

/// The dead-letter reason a message with these faults must get (decode checks key, base64,
/// DecryptData, then JSON, in that order).
fn expected_reason(f: &Faults) -> Option<DeadReason> {
    if f.missing_key {
        Some(DeadReason::UnknownKeyVersion)
    } else if f.corrupt_key {
        Some(DeadReason::CorruptBase64)
    } else if f.corrupt_msg {
        Some(DeadReason::SdkDecrypt)
    } else if f.bad_json {
        Some(DeadReason::BrokenJson)
    } else {
        None
    }
}

#[test]
fn each_bad_input_class_lands_in_dead_letters_with_its_reason_and_the_rest_is_stored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let opts = "messages=2000&seed=4&missing_key_every=50&corrupt_key_every=53&corrupt_msg_every=59&bad_json_every=61&control_chars_every=43";
    let run = run_once(&db, opts, &[1, 2], 300);
    let a = archive(opts);
    let expected: HashMap<u64, DeadReason> = a
        .iter()
        .filter_map(|m| expected_reason(&m.faults).map(|r| (m.seq, r)))
        .collect();
    let letters = run
        .store
        .dead_letters(&DeadLetterQuery {
            pending_only: true,
            limit: 10_000,
            ..Default::default()
        })
        .expect("list");
    let got: HashMap<u64, DeadReason> = letters
        .iter()
        .map(|d| (d.letter.seq, d.letter.reason))
        .collect();
    assert_eq!(got, expected);
    for reason in [
        DeadReason::UnknownKeyVersion,
        DeadReason::CorruptBase64,
        DeadReason::SdkDecrypt,
        DeadReason::BrokenJson,
    ] {
        assert!(
            got.values().any(|r| *r == reason),
            "no {reason:?} dead letter"
        );
    }
    let d = &letters[0].letter;
    assert!(
        !d.encrypt_random_key.is_empty() && !d.encrypt_chat_msg.is_empty(),
        "the payload is kept"
    );
    assert_eq!(
        stored_msgids(&db),
        good_msgids(&a),
        "the rest of every batch is stored"
    );
    assert!(
        a.iter()
            .any(|m| m.faults.control_chars && !m.faults.unreadable()),
        "control characters were exercised"
    );
    assert_eq!(
        run.store.checkpoint(&corp_id(opts)).expect("checkpoint"),
        Some(2000),
        "dead letters never block the checkpoint"
    );
}

#[test]
fn redriving_after_adding_the_missing_key_stores_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let opts = "messages=1000&seed=6&missing_key_every=25";
    let run = run_once(&db, opts, &[1, 2], 1000);
    assert_eq!(run.stats.dead_total(), 40);
    let lib = emulator();
    let still = msgaudit::reprocess::redrive(
        run.store.as_ref(),
        &lib.decryptor(),
        &[corp(opts, &[1, 2])],
        None,
    )
    .expect("redrive");
    assert_eq!(
        (still.resolved, still.still_dead),
        (0, 40),
        "without the key nothing changes"
    );
    let fixed = msgaudit::reprocess::redrive(
        run.store.as_ref(),
        &lib.decryptor(),
        &[corp(opts, &[1, 2, 3])],
        None,
    )
    .expect("redrive");
    assert_eq!((fixed.resolved, fixed.still_dead), (40, 0));
    assert_eq!(stored_msgids(&db).len(), 1000);
    assert!(stored_msgids(&db).values().all(|n| *n == 1));
    let pending = run
        .store
        .dead_letters(&DeadLetterQuery {
            pending_only: true,
            limit: 100,
            ..Default::default()
        })
        .expect("list");
    assert!(pending.is_empty());
}

#[test]
fn a_replayed_pull_is_absorbed_without_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let opts = "messages=1500&seed=2&bad_json_every=100";
    run_once(&db, opts, &[1, 2], 500);
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute("UPDATE we_chat_msg_checkpoint SET seq = 0", [])
        .expect("rewind the checkpoint");
    let replay = run_once(&db, opts, &[1, 2], 500);
    assert_eq!(Stats::get(&replay.stats.stored), 0);
    assert_eq!(Stats::get(&replay.stats.duplicates), 1485);
    assert_eq!(stored_msgids(&db), good_msgids(&archive(opts)));
    let dead: i64 = conn
        .query_row("SELECT COUNT(*) FROM we_chat_msg_dead_letter", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(dead, 15, "dead letters are not doubled either");
}

#[test]
fn shutdown_stops_a_polling_pipeline_with_the_checkpoint_at_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let opts = "messages=20000&seed=3&delay_ms=30";
    let store = Arc::new(SqliteStore::open(&db).expect("open store"));
    let (lib, stats, shutdown) = (emulator(), Arc::new(Stats::default()), Shutdown::new());
    let stopper = {
        let (stats, shutdown) = (stats.clone(), shutdown.clone());
        std::thread::spawn(move || {
            while Stats::get(&stats.stored) < 1000 {
                std::thread::sleep(Duration::from_millis(10));
            }
            shutdown.request();
        })
    };
    let summary = pipeline::run(
        unaudited(&lib, store.clone(), stats.clone(), shutdown),
        &[corp(opts, &[1, 2])],
        &settings(false, 200),
    )
    .expect("pipeline runs");
    stopper.join().expect("stopper");
    assert_eq!(summary.abandoned_batches, 0);
    let checkpoint = store
        .checkpoint(&corp_id(opts))
        .expect("checkpoint")
        .expect("some progress");
    assert!(checkpoint < 20_000, "stopped mid-drain");
    let (max_seq, count) = crate::support::max_seq_and_count(&db);
    assert_eq!(
        (max_seq, count),
        (checkpoint, checkpoint),
        "checkpoint == what is stored"
    );
}

#[test]
fn every_generated_msgtype_parses_into_a_row() {
    let a = archive("messages=4000&seed=12");
    let mut seen = std::collections::BTreeMap::new();
    for m in a.iter() {
        let msg = msgaudit::message::ChatMessage::parse(m.plaintext.as_bytes()).expect("parses");
        let known = !matches!(
            m.msgtype.as_str(),
            "meeting_notification" | "solitaire" | "note"
        );
        assert_eq!(
            known,
            !matches!(msg.body, msgaudit::message::Body::Unknown),
            "{}",
            m.msgtype
        );
        let row = msgaudit::message::MessageRow::from_message("ww", m.seq, m.publickey_ver, &msg);
        assert_eq!(row.msg_type, m.msgtype);
        if m.msgtype == "text" {
            assert!(!row.plain_text.is_empty());
        }
        *seen.entry(m.msgtype.clone()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), wework_finance_archive::all_types().count());
}

#[test]
fn many_corps_in_one_process_each_get_their_own_archive_and_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let store = Arc::new(SqliteStore::open(&db).expect("open store"));
    let lib = emulator();
    let options = [
        "messages=700&seed=101",
        "messages=1300&seed=102&missing_key_every=100",
        "messages=50&seed=103",
    ];
    let corps: Vec<Corp> = options.iter().map(|o| corp(o, &[1, 2])).collect();
    let mut s = settings(true, 200);
    s.pull.pull.workers = 2;
    let stats = Arc::new(Stats::default());
    pipeline::run(
        unaudited(&lib, store.clone(), stats.clone(), Shutdown::new()),
        &corps,
        &s,
    )
    .expect("pipeline runs");
    for o in options {
        let a = archive(o);
        let good = a.iter().filter(|m| !m.faults.unreadable()).count() as u64;
        assert_eq!(
            store.count_messages(Some(&corp_id(o))).expect("count"),
            good,
            "{o}"
        );
        assert_eq!(
            store.checkpoint(&corp_id(o)).expect("checkpoint"),
            Some(a.len()),
            "{o}"
        );
    }
    assert_eq!(stats.dead_total(), 13);
}
