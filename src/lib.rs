//! msgaudit: pulls WeCom chat archives through the vendor's finance SDK, decrypts and parses every
//! message, stores it, and audits it.
//!
//! Module map:
//! - [`sdk`]: the safe wrapper over `libWeWorkFinanceSdk_C.so` (loading, sessions, decryption,
//!   media, private keys).
//! - [`secret`]: a string that never shows itself in logs and is wiped on drop.
//! - [`cli`]: the command line (the binary is a thin shell over it).
//! - [`emulator`]: finding (and building) the bundled SDK emulator for demo, bench and tests.
//! - [`drain`]: a whole-archive pull used by `msgaudit demo` until the pipeline lands.

pub mod cli;
pub mod config;
pub mod drain;
pub mod emulator;
pub mod message;
pub mod sdk;
pub mod secret;
pub mod store;
