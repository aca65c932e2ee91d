//! Helpers: locating (and, when needed, building) the emulator library, the test keys, and opening
//! sessions on emulated corps.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use msgaudit::sdk::{FinanceLibrary, KeyRing, NetworkOptions, PrivateKey, Session};
use msgaudit::secret::Secret;

/// The source tree.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the emulator `.so` (built once per process if needed).
pub fn emulator_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| msgaudit::emulator::bundled_emulator().expect("the SDK emulator"))
}

/// The emulator, loaded (dlopen returns the same mapping on every call).
pub fn emulator() -> FinanceLibrary {
    FinanceLibrary::load(emulator_path()).expect("load the emulator")
}

pub fn key_path(version: u32) -> PathBuf {
    msgaudit::emulator::fixture_key(version)
}

/// A key ring with the given test key versions.
pub fn keys(versions: &[u32]) -> KeyRing {
    let mut ring = KeyRing::new();
    for v in versions {
        ring.insert(
            *v,
            PrivateKey::from_file(key_path(*v)).expect("fixture key"),
        );
    }
    ring
}

/// A session on an emulated corp; `options` is the corp id's `?…` suffix.
pub fn session(lib: &FinanceLibrary, options: &str) -> Session {
    lib.session(
        &format!("wwtest?{options}"),
        &Secret::new("test-secret"),
        &NetworkOptions::default(),
    )
    .expect("Init succeeds")
}

/// The archive the emulator serves for the same options.
pub fn archive(options: &str) -> wework_finance_archive::Archive {
    let opts = wework_finance_archive::ArchiveOptions::resolve(&format!("wwtest?{options}"), None)
        .expect("valid options");
    wework_finance_archive::Archive::open(opts).expect("archive opens")
}
