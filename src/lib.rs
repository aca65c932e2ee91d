//! msgaudit: pulls WeCom chat archives through the vendor's finance SDK, decrypts and parses every
//! message, stores it, and audits it.
//!
//! Module map, lowest layer first (`ARCHITECTURE.md` has the picture and the imports that must
//! never exist, which a test enforces):
//! - [`runtime`]: the process's one shutdown token and the counters every long-running part shares.
//! - [`message`]: the typed message model, lenient parsing, visible text, the stored row, the
//!   reasons a message becomes a dead letter.
//! - [`audit`]: PURE sensitive-word strategies and behaviours: normalisation, matching, scopes,
//!   hits as values and the rows they are kept as.
//! - [`sdk`]: the safe wrapper over `libWeWorkFinanceSdk_C.so` (loading, sessions, decryption,
//!   media, private keys).
//! - [`spool`]: the durable on-disk queue of pulled batches between the pullers and the decode
//!   stage (the store can be slow or down without pulling stopping).
//! - [`store`]: one trait per concern (ingest, rules, hits, outbox, access) and the SQLite and
//!   ClickHouse backends, file for file.
//! - [`pipeline`]: pull → spool → decrypt+parse + live audit → store → checkpoint.
//! - [`alert`]: the outbox's values and the sender that posts alerts to robots and auditors.
//! - [`config`]: the TOML configuration, raw and validated, one file per section.
//! - [`coordinator`]: several daemons over one store — the etcd client and how they share corps.
//! - [`reprocess`]: re-audit stored messages and re-drive dead letters (engines beside the
//!   pipeline).
//! - [`web`]: the auditors' API and page (reads the store).
//! - [`daemon`]: builds and runs a daemon from a `Config` (run, demo and bench use it), `/metrics`.
//! - [`preflight`]: `msgaudit check`: every part a `Config` names tried once, changing nothing.
//! - [`timefmt`], [`secret`]: UTC timestamps; a string that never shows itself and is wiped on drop.
//! - [`emulator`]: finding (and building) the bundled SDK emulator for demo, bench and tests.
//! - [`bench`](mod@bench): the end-to-end throughput harness behind `msgaudit bench`.
//! - [`cli`]: the command line, which parses and prints (the binary is a thin shell over it).

pub mod alert;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod config;
pub mod coordinator;
pub mod daemon;
pub mod emulator;
pub mod media;
pub mod message;
pub mod names;
pub mod pipeline;
pub mod preflight;
pub mod reprocess;
pub mod runtime;
pub mod sdk;
pub mod secret;
pub mod spool;
pub mod store;
pub mod timefmt;
pub mod web;
pub mod wecom;
