//! msgaudit: pulls WeCom chat archives through the vendor's finance SDK, decrypts and parses every
//! message, stores it, and audits it.
//!
//! Module map:
//! - [`sdk`]: the safe wrapper over `libWeWorkFinanceSdk_C.so` (loading, sessions, decryption,
//!   media, private keys).
//! - [`message`]: the typed message model, lenient parsing, visible text, the stored row.
//! - [`pipeline`]: pull → decrypt+parse (+ audit) → store → checkpoint, with graceful shutdown.
//! - [`audit`]: sensitive-word strategies and behaviours: normalisation, matching, scopes, hits.
//! - [`alert`]: what alerts to auditors say and how often a robot may be posted to (in progress).
//! - [`spool`]: the durable on-disk queue of pulled batches between the pullers and the decode
//!   stage (the store can be slow or down without pulling stopping).
//! - [`store`]: the `Store` trait and its SQLite and ClickHouse backends, migrations.
//! - [`config`]: the TOML configuration, raw and validated.
//! - [`reprocess`]: re-audit stored messages and re-drive dead letters (engines beside the
//!   pipeline).
//! - [`timefmt`]: UTC timestamps for display and command-line filters.
//! - [`secret`]: a string that never shows itself in logs and is wiped on drop.
//! - [`emulator`]: finding (and building) the bundled SDK emulator for demo, bench and tests.
//! - [`bench`]: the end-to-end throughput harness behind `msgaudit bench`.
//! - [`cli`]: the command line (the binary is a thin shell over it).

pub mod alert;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod emulator;
pub mod message;
pub mod pipeline;
pub mod reprocess;
pub mod runtime;
pub mod sdk;
pub mod secret;
pub mod spool;
pub mod store;
pub mod timefmt;
pub mod web;
