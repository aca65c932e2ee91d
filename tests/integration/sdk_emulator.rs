//! The SDK wrapper against the emulator: draining, every error path, keys, handles and threads.

use std::time::{Duration, Instant};

use msgaudit::sdk::{FinanceLibrary, KeyError, LoadError, NetworkOptions, SdkError, code};
use msgaudit::secret::Secret;

use crate::support::{archive, emulator, emulator_path, keys, session};

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn drains_5000_messages_in_batches_with_seq_continuity_and_exact_plaintext() {
    let lib = emulator();
    let opts = "messages=5000&seed=11";
    let mut s = session(&lib, opts);
    let expected: Vec<_> = archive(opts).iter().collect();
    let (ring, decryptor) = (keys(&[1, 2]), lib.decryptor());
    let mut seq = 0;
    let mut got = Vec::new();
    let mut calls = 0;
    loop {
        let batch = s.get_chat_data(seq, 700, 5 * SECOND).expect("pull");
        calls += 1;
        for m in &batch.messages {
            assert_eq!(m.seq, seq + 1, "seqs must be contiguous");
            seq = m.seq;
            got.push(m.clone());
        }
        if batch.len() < 700 {
            break;
        }
    }
    assert_eq!(
        calls, 8,
        "5000 messages in batches of 700 is 7 full batches and one short one"
    );
    assert_eq!(got.len(), expected.len());
    let mut versions = std::collections::BTreeSet::new();
    for (m, want) in got.iter().zip(&expected) {
        assert_eq!(m.msgid, want.msgid);
        assert_eq!(m.publickey_ver, want.publickey_ver);
        versions.insert(m.publickey_ver);
        let key = ring
            .decrypt_random_key(m.publickey_ver, &m.encrypt_random_key)
            .expect("RSA");
        let plain = decryptor
            .decrypt_data(&key, &m.encrypt_chat_msg)
            .expect("DecryptData");
        assert_eq!(plain, want.plaintext.as_bytes(), "seq {}", m.seq);
    }
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        [1, 2],
        "both key versions in one archive"
    );
}

#[test]
fn a_key_pool_serves_the_same_plaintext_under_a_few_keys_each_still_decrypted() {
    let lib = emulator();
    let opts = "messages=300&seed=4&key_pool=4";
    let batch = session(&lib, opts)
        .get_chat_data(0, 1000, 5 * SECOND)
        .expect("pull");
    let expected: Vec<_> = archive(opts).iter().collect();
    let (ring, decryptor) = (keys(&[1, 2]), lib.decryptor());
    let mut distinct = std::collections::BTreeSet::new();
    for (m, want) in batch.messages.iter().zip(&expected) {
        distinct.insert((m.publickey_ver, m.encrypt_random_key.clone()));
        let key = ring
            .decrypt_random_key(m.publickey_ver, &m.encrypt_random_key)
            .expect("rsa");
        let plain = decryptor
            .decrypt_data(&key, &m.encrypt_chat_msg)
            .expect("decrypt");
        assert_eq!(plain, want.plaintext.as_bytes());
    }
    assert_eq!(batch.messages.len(), 300);
    assert!(
        distinct.len() <= 8,
        "4 keys per version: {}",
        distinct.len()
    );
}

#[test]
fn limit_outside_1_to_1000_is_error_10000_and_not_transient() {
    let lib = emulator();
    let mut s = session(&lib, "messages=10");
    for limit in [0, 1001, 10_000] {
        let e = s
            .get_chat_data(0, limit, SECOND)
            .expect_err("limit refused");
        assert_eq!(e.code(), Some(10_000), "limit {limit}");
        assert!(!e.is_transient());
    }
    // The handle keeps working afterwards.
    assert_eq!(s.get_chat_data(0, 1000, SECOND).expect("pull").len(), 10);
}

#[test]
fn wrong_secret_returns_0_with_json_errcode_48002() {
    let lib = emulator();
    let corp = "wwtest?messages=5&secret=the-archive-secret";
    let mut good = lib
        .session(
            corp,
            &Secret::new("the-archive-secret"),
            &NetworkOptions::default(),
        )
        .expect("Init");
    assert_eq!(good.get_chat_data(0, 10, SECOND).expect("pull").len(), 5);
    let mut bad = lib
        .session(
            corp,
            &Secret::new("an-app-secret"),
            &NetworkOptions::default(),
        )
        .expect("Init is 0");
    let e = bad.get_chat_data(0, 10, SECOND).expect_err("48002");
    assert!(matches!(e, SdkError::Api { errcode: 48002, .. }), "{e:?}");
    assert!(!e.is_transient());
    let text = e.to_string();
    assert!(
        text.contains("48002") && text.contains("chat-archive secret"),
        "{text}"
    );
    assert!(
        !text.contains("an-app-secret"),
        "the secret must not appear in errors"
    );
}

#[test]
fn transient_failures_are_typed_as_10001_and_10002() {
    let lib = emulator();
    let opts = "messages=3000&transient_rate=0.4&seed=3";
    let mut s = session(&lib, opts);
    let mut codes = std::collections::BTreeSet::new();
    for _ in 0..40 {
        if let Err(e) = s.get_chat_data(0, 10, SECOND) {
            assert!(e.is_transient(), "{e}");
            codes.insert(e.code());
        }
    }
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        [Some(10_001), Some(10_002)]
    );
}

#[test]
fn a_slow_call_honours_the_timeout() {
    let lib = emulator();
    let mut slow = session(&lib, "messages=5&delay_ms=3000");
    let started = Instant::now();
    let e = slow.get_chat_data(0, 10, SECOND).expect_err("times out");
    assert_eq!(e.code(), Some(10_001));
    assert!(e.is_transient());
    let waited = started.elapsed();
    assert!(waited >= SECOND && waited < 3 * SECOND, "waited {waited:?}");
    let mut fine = session(&lib, "messages=5&delay_ms=50");
    assert_eq!(
        fine.get_chat_data(0, 10, SECOND)
            .expect("within timeout")
            .len(),
        5
    );
}

#[test]
fn messages_past_retention_are_10010() {
    let lib = emulator();
    let mut s = session(&lib, "messages=200&expire_before_seq=100");
    let e = s.get_chat_data(0, 100, SECOND).expect_err("expired");
    assert_eq!(e.code(), Some(i64::from(code::DATA_EXPIRED)));
    assert!(!e.is_transient());
    assert!(e.to_string().contains("expired"), "{e}");
    let batch = s.get_chat_data(99, 1000, SECOND).expect("retained part");
    assert_eq!(batch.messages.first().map(|m| m.seq), Some(100));
}

#[test]
fn a_missing_key_version_fails_alone_and_adding_the_key_recovers_it() {
    let lib = emulator();
    let opts = "messages=100&missing_key_every=10";
    let mut s = session(&lib, opts);
    let batch = s.get_chat_data(0, 1000, SECOND).expect("pull");
    let (ring, full, decryptor) = (keys(&[1, 2]), keys(&[1, 2, 3]), lib.decryptor());
    let mut missing = 0;
    for m in &batch.messages {
        match ring.decrypt_random_key(m.publickey_ver, &m.encrypt_random_key) {
            Ok(key) => assert!(decryptor.decrypt_data(&key, &m.encrypt_chat_msg).is_ok()),
            Err(KeyError::UnknownVersion { version: 3 }) => {
                missing += 1;
                let key = full
                    .decrypt_random_key(3, &m.encrypt_random_key)
                    .expect("v3 key");
                assert!(decryptor.decrypt_data(&key, &m.encrypt_chat_msg).is_ok());
            }
            Err(e) => panic!("seq {}: {e}", m.seq),
        }
    }
    assert_eq!(missing, 10);
}

#[test]
fn corrupt_payloads_give_typed_errors_and_control_characters_survive_byte_exact() {
    let lib = emulator();
    let opts = "messages=60&corrupt_key_every=7&corrupt_msg_every=5&control_chars_every=11";
    let mut s = session(&lib, opts);
    let expected: Vec<_> = archive(opts).iter().collect();
    let batch = s.get_chat_data(0, 1000, SECOND).expect("pull");
    let (ring, decryptor) = (keys(&[1, 2]), lib.decryptor());
    let (mut bad_key, mut bad_msg, mut control) = (0, 0, 0);
    for (m, want) in batch.messages.iter().zip(&expected) {
        let key = match ring.decrypt_random_key(m.publickey_ver, &m.encrypt_random_key) {
            Ok(k) => k,
            Err(KeyError::Base64 { .. }) => {
                assert!(want.faults.corrupt_key);
                bad_key += 1;
                continue;
            }
            Err(e) => panic!("seq {}: {e}", m.seq),
        };
        match decryptor.decrypt_data(&key, &m.encrypt_chat_msg) {
            Ok(plain) => {
                assert!(!want.faults.corrupt_msg);
                assert_eq!(plain, want.plaintext.as_bytes());
                if want.faults.control_chars {
                    assert!(plain.contains(&1u8) && plain.contains(&b'\n'));
                    control += 1;
                }
            }
            Err(e) => {
                assert!(want.faults.corrupt_msg, "seq {}: {e}", m.seq);
                assert_eq!(e.code(), Some(i64::from(code::DECRYPT_FAILED)));
                bad_msg += 1;
            }
        }
    }
    let count = |f: fn(&wework_finance_archive::Faults) -> bool| {
        expected.iter().filter(|m| f(&m.faults)).count()
    };
    let want_key = count(|f| f.corrupt_key);
    let want_msg = count(|f| f.corrupt_msg && !f.corrupt_key);
    let want_control = count(|f| f.control_chars && !f.corrupt_msg && !f.corrupt_key);
    assert!(want_key > 0 && want_msg > 0 && want_control > 0);
    assert_eq!(
        (bad_key, bad_msg, control),
        (want_key, want_msg, want_control)
    );
}

#[test]
fn decrypt_data_with_a_made_up_key_is_10008() {
    let lib = emulator();
    let mut s = session(&lib, "messages=1");
    let m = s
        .get_chat_data(0, 1, SECOND)
        .expect("pull")
        .messages
        .remove(0);
    let made_up =
        msgaudit::sdk::RandomKey::new(b"0123456789abcdef0123456789abcdef").expect("printable");
    let e = lib
        .decryptor()
        .decrypt_data(&made_up, &m.encrypt_chat_msg)
        .expect_err("wrong key");
    assert_eq!(e.code(), Some(i64::from(code::BAD_ENCRYPT_KEY)));
    let e = lib
        .decryptor()
        .decrypt_data(&made_up, "a\0b")
        .expect_err("NUL");
    assert!(matches!(
        e,
        SdkError::NulInArgument {
            argument: "encrypt_msg",
            ..
        }
    ));
}

#[test]
fn bad_emulator_options_fail_init_with_10000() {
    let lib = emulator();
    let e = lib
        .session(
            "wwtest?no_such_option=1",
            &Secret::new("s"),
            &NetworkOptions::default(),
        )
        .expect_err("Init refuses");
    assert_eq!(e.code(), Some(10_000));
    let e = lib
        .session("ww\0x", &Secret::new("s"), &NetworkOptions::default())
        .expect_err("NUL");
    assert!(matches!(
        e,
        SdkError::NulInArgument {
            argument: "corpid",
            ..
        }
    ));
}

#[test]
fn loading_something_that_is_not_the_sdk_names_the_path_and_the_symbol() {
    match FinanceLibrary::load("/nonexistent/libWeWorkFinanceSdk_C.so") {
        Err(LoadError::NotFound { path }) => assert!(path.ends_with("libWeWorkFinanceSdk_C.so")),
        other => panic!("{other:?}"),
    }
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("a libm to load");
    let e = FinanceLibrary::load(libm).expect_err("not a finance SDK");
    assert!(
        matches!(
            e,
            LoadError::MissingSymbol {
                symbol: "NewSdk",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains(libm) && e.to_string().contains("NewSdk"));
    let not_elf = crate::support::root().join("Cargo.toml");
    assert!(matches!(
        FinanceLibrary::load(&not_elf),
        Err(LoadError::Open { .. })
    ));
}

#[test]
fn sessions_move_to_threads_and_decryption_runs_concurrently() {
    let lib = emulator();
    let opts = "messages=400&seed=4";
    let batch = std::thread::scope(|scope| {
        let mut s = session(&lib, opts);
        scope
            .spawn(move || {
                s.get_chat_data(0, 1000, SECOND)
                    .expect("pull on another thread")
            })
            .join()
    })
    .expect("thread");
    let ring = keys(&[1, 2]);
    for decryptor in [lib.decryptor(), lib.decryptor().serialized()] {
        let ok = std::thread::scope(|scope| {
            let workers: Vec<_> = batch
                .messages
                .chunks(100)
                .map(|part| {
                    let (ring, decryptor) = (&ring, &decryptor);
                    scope.spawn(move || {
                        part.iter()
                            .filter(|m| {
                                let key =
                                    ring.decrypt_random_key(m.publickey_ver, &m.encrypt_random_key);
                                key.is_ok_and(|k| {
                                    decryptor.decrypt_data(&k, &m.encrypt_chat_msg).is_ok()
                                })
                            })
                            .count()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("worker"))
                .sum::<usize>()
        });
        assert_eq!(ok, 400);
    }
}

#[test]
fn many_sessions_come_and_go_without_trouble() {
    let lib = emulator();
    for i in 0..50 {
        let mut s = session(&lib, "messages=3");
        if i % 2 == 0 {
            assert_eq!(s.get_chat_data(0, 10, SECOND).expect("pull").len(), 3);
        }
    }
    // The library stays loaded and usable after every session is gone.
    assert!(emulator_path().exists());
    assert_eq!(
        session(&lib, "messages=2")
            .get_chat_data(0, 10, SECOND)
            .expect("pull")
            .len(),
        2
    );
}

#[test]
fn a_corpus_file_is_served_byte_exact_including_raw_control_characters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let corpus = dir.path().join("corpus.jsonl");
    let raw = "{\"msgid\":\"c2\",\"action\":\"send\",\"msgtype\":\"text\",\"text\":{\"content\":\"a\u{1}b\nc\"}}";
    let lines = [
        r#"# two messages and a comment"#.to_owned(),
        r#"{"seq": 10, "publickey_ver": 1, "msg": {"msgid": "c1", "action": "send", "msgtype": "text", "text": {"content": "你好"}}}"#.to_owned(),
        serde_json::json!({"seq": 20, "publickey_ver": 2, "plaintext": raw}).to_string(),
    ];
    std::fs::write(&corpus, lines.join("\n")).expect("write corpus");
    let lib = emulator();
    let mut s = session(&lib, &format!("corpus={}", corpus.display()));
    let batch = s.get_chat_data(0, 100, SECOND).expect("pull");
    let seqs: Vec<_> = batch
        .messages
        .iter()
        .map(|m| (m.seq, m.msgid.as_str(), m.publickey_ver))
        .collect();
    assert_eq!(seqs, [(10, "c1", 1), (20, "c2", 2)]);
    let ring = keys(&[1, 2]);
    let plain: Vec<Vec<u8>> = batch
        .messages
        .iter()
        .map(|m| {
            let key = ring
                .decrypt_random_key(m.publickey_ver, &m.encrypt_random_key)
                .expect("RSA");
            lib.decryptor()
                .decrypt_data(&key, &m.encrypt_chat_msg)
                .expect("DecryptData")
        })
        .collect();
    assert!(String::from_utf8_lossy(&plain[0]).contains("你好"));
    assert_eq!(plain[1], raw.as_bytes());
    assert!(
        s.get_chat_data(20, 100, SECOND).expect("pull").is_empty(),
        "nothing after the last seq"
    );
}
