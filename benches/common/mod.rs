//! Shared bench set-up: the emulator loaded through FFI, a session on a generated archive, its first
//! batch of 1,000 messages, and the test keys of versions 1 and 2.

use std::time::Duration;

use msgaudit::emulator::{bundled_emulator, fixture_key};
use msgaudit::sdk::{ChatBatch, FinanceLibrary, KeyRing, NetworkOptions, PrivateKey, Session};
use msgaudit::secret::Secret;

pub struct Fixture {
    /// Not every bench decrypts (the `spool` bench only needs the batch).
    #[allow(dead_code)]
    pub lib: FinanceLibrary,
    /// Still open on the archive (the `sdk_boundary` bench pulls more batches).
    #[allow(dead_code)]
    pub session: Session,
    pub batch: ChatBatch,
    #[allow(dead_code)]
    pub keys: KeyRing,
}

/// The emulator serving a 100,000-message archive (seed 7), with its first batch pulled.
pub fn fixture() -> Fixture {
    let lib = FinanceLibrary::load(bundled_emulator().expect("emulator")).expect("load emulator");
    let mut session = lib
        .session(
            "wwbench?messages=100000&seed=7",
            &Secret::new("s"),
            &NetworkOptions::default(),
        )
        .expect("Init");
    let batch = session
        .get_chat_data(0, 1000, Duration::from_secs(10))
        .expect("pull");
    let mut keys = KeyRing::new();
    for v in [1, 2] {
        keys.insert(
            v,
            PrivateKey::from_file(fixture_key(v)).expect("fixture key"),
        );
    }
    Fixture {
        lib,
        session,
        batch,
        keys,
    }
}
