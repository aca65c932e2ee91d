//! Helpers: locating (and, when needed, building) the emulator library, the test keys, and opening
//! sessions on emulated corps.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use msgaudit::sdk::{FinanceLibrary, KeyRing, NetworkOptions, PrivateKey, Session};
use msgaudit::secret::Secret;

/// The source tree.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target profile directory this test binary was built into (…/target/debug).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // …/target/<profile>/deps/integration-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// Path of the emulator `.so`: `$MSGAUDIT_EMULATOR` if set, else built once per process with cargo
/// (a no-op when it is fresh) into the same target directory and profile as this test binary.
pub fn emulator_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("MSGAUDIT_EMULATOR") {
            return PathBuf::from(p);
        }
        let profile = profile_dir();
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(root())
            .args(["build", "--quiet", "-p", "wework-finance-emulator"]);
        if profile.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = profile.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status().expect("run cargo to build the emulator");
        assert!(status.success(), "building the SDK emulator failed");
        profile.join(msgaudit::sdk::LIBRARY_FILE_NAME)
    })
}

/// The emulator, loaded (dlopen returns the same mapping on every call).
pub fn emulator() -> FinanceLibrary {
    FinanceLibrary::load(emulator_path()).expect("load the emulator")
}

pub fn key_path(version: u32) -> PathBuf {
    root().join(format!("fixtures/keys/v{version}_private.pem"))
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
