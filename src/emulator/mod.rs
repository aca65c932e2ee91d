//! Finding the bundled SDK emulator (`ffi/emulator`) for the demo, the bench harness and the tests;
//! and a local stand-in of WeCom's directory APIs for the generated archive ([`directory`]).
//!
//! The emulator is a `cdylib` built into the same target directory and profile as the binary that
//! needs it. When this binary runs from the source tree it was built from, the emulator is (re)built
//! with cargo on first use — a no-op when fresh — so `cargo run --release -- demo` on a fresh clone
//! needs nothing else. `MSGAUDIT_EMULATOR=/path/to/libWeWorkFinanceSdk_C.so` overrides the search.

pub mod directory;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::sdk::LIBRARY_FILE_NAME;

/// The emulator could not be found or built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot run cargo to build the SDK emulator: {0}")]
    Cargo(String),
    #[error("building the SDK emulator failed ({0}); run `cargo build --release` to see why")]
    Build(String),
    #[error(
        "the SDK emulator {} is missing: run `cargo build --release` in the source tree, or point \
         MSGAUDIT_EMULATOR (or --sdk) at a libWeWorkFinanceSdk_C.so", .0.display()
    )]
    Missing(PathBuf),
}

/// The source tree this crate was built from.
pub fn source_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target profile directory of the running binary (`…/target/release` for both
/// `target/release/msgaudit`, `target/release/deps/<test>` and `target/release/examples/<x>`).
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let dir = if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.parent()?
    } else {
        dir
    };
    Some(dir.to_path_buf())
}

/// Path of the emulator library, built if needed (once per process).
pub fn bundled_emulator() -> Result<PathBuf, EmulatorError> {
    static FOUND: OnceLock<Result<PathBuf, EmulatorError>> = OnceLock::new();
    FOUND.get_or_init(find_or_build).clone()
}

fn find_or_build() -> Result<PathBuf, EmulatorError> {
    if let Some(p) = std::env::var_os("MSGAUDIT_EMULATOR") {
        return Ok(PathBuf::from(p));
    }
    let dir =
        profile_dir().ok_or_else(|| EmulatorError::Missing(PathBuf::from(LIBRARY_FILE_NAME)))?;
    let candidate = dir.join(LIBRARY_FILE_NAME);
    let buildable = source_dir().join("ffi/emulator/Cargo.toml").exists();
    let under_cargo = std::env::var_os("CARGO").is_some();
    if buildable && (under_cargo || !candidate.exists()) {
        tracing::info!(path = %candidate.display(), "building the SDK emulator with cargo");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(source_dir())
            .args(["build", "--quiet", "-p", "wework-finance-emulator"]);
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                cmd.arg("--release");
            }
            Some(profile) => {
                cmd.args(["--profile", profile]);
            }
        }
        if let Some(target) = dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd
            .status()
            .map_err(|e| EmulatorError::Cargo(e.to_string()))?;
        if !status.success() {
            return Err(EmulatorError::Build(status.to_string()));
        }
    }
    if candidate.exists() {
        Ok(candidate)
    } else {
        Err(EmulatorError::Missing(candidate))
    }
}

/// A test-only key file of the bundled fixtures (`fixtures/keys/v{version}_private.pem`).
pub fn fixture_key(version: u32) -> PathBuf {
    source_dir().join(format!("fixtures/keys/v{version}_private.pem"))
}
