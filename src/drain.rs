//! A whole-archive pull: `GetChatData` from a seq until the archive is exhausted, every message's
//! random key RSA-decrypted and its body passed through `DecryptData`, with transient SDK errors
//! retried. `msgaudit demo` and `msgaudit drain` run it; the storing pipeline replaces it later.
//! Decryption of each batch is split across threads with `std::thread::scope`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::sdk::{Decryptor, EncryptedMessage, KeyRing, SdkError, Session};

/// How to pull.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// Start after this seq (0 = from the beginning).
    pub from_seq: u64,
    /// Messages per `GetChatData` call (1..=1000).
    pub limit: u32,
    /// Timeout handed to the SDK per call.
    pub timeout: Duration,
    /// Consecutive transient failures tolerated before giving up.
    pub max_retries: u32,
    /// First back-off after a transient failure; doubles, capped at 30 s.
    pub backoff: Duration,
    /// Decryption threads per batch.
    pub threads: usize,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            from_seq: 0,
            limit: 1000,
            timeout: Duration::from_secs(10),
            max_retries: 8,
            backoff: Duration::from_millis(100),
            threads: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// What a drain did so far.
#[derive(Debug, Clone, Default)]
pub struct DrainReport {
    pub pulled: u64,
    pub decrypted: u64,
    /// Messages that could not be decrypted, by reason.
    pub failures: BTreeMap<String, u64>,
    pub last_seq: u64,
    pub calls: u64,
    pub retried: u64,
    pub elapsed: Duration,
}

impl DrainReport {
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    pub fn messages_per_sec(&self) -> f64 {
        self.pulled as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The drain stopped on a non-transient SDK error, or on too many transient ones in a row.
#[derive(Debug, thiserror::Error)]
#[error("pull stopped after seq {last_seq}: {source}")]
pub struct DrainError {
    pub last_seq: u64,
    #[source]
    pub source: SdkError,
    pub report: Box<DrainReport>,
}

/// Why one message could not be decrypted, in words fit for a summary line.
fn decrypt_one(
    keys: &KeyRing,
    decryptor: &Decryptor,
    m: &EncryptedMessage,
) -> Result<Vec<u8>, String> {
    let key = keys
        .decrypt_random_key(m.publickey_ver, &m.encrypt_random_key)
        .map_err(|e| match e {
            crate::sdk::KeyError::UnknownVersion { version } => {
                format!("no key for publickey_ver {version}")
            }
            crate::sdk::KeyError::Base64 { .. } => {
                "corrupt base64 in encrypt_random_key".to_owned()
            }
            other => other.to_string(),
        })?;
    decryptor
        .decrypt_data(&key, &m.encrypt_chat_msg)
        .map_err(|e| match e.code() {
            Some(code) => format!(
                "DecryptData code {code} ({})",
                crate::sdk::code::describe(code as i32)
            ),
            None => e.to_string(),
        })
}

/// Pulls everything after `options.from_seq`, calling `progress` after each batch.
pub fn drain(
    session: &mut Session,
    keys: &KeyRing,
    decryptor: &Decryptor,
    options: &DrainOptions,
    progress: &mut dyn FnMut(&DrainReport),
) -> Result<DrainReport, DrainError> {
    let started = Instant::now();
    let mut report = DrainReport {
        last_seq: options.from_seq,
        ..DrainReport::default()
    };
    let mut failures_in_row = 0;
    loop {
        report.calls += 1;
        let batch = match session.get_chat_data(report.last_seq, options.limit, options.timeout) {
            Ok(batch) => {
                failures_in_row = 0;
                batch
            }
            Err(e) if e.is_transient() && failures_in_row < options.max_retries => {
                failures_in_row += 1;
                report.retried += 1;
                let wait = options
                    .backoff
                    .saturating_mul(1 << (failures_in_row - 1).min(16));
                std::thread::sleep(wait.min(Duration::from_secs(30)));
                continue;
            }
            Err(source) => {
                report.elapsed = started.elapsed();
                return Err(DrainError {
                    last_seq: report.last_seq,
                    source,
                    report: Box::new(report),
                });
            }
        };
        let threads = options.threads.max(1);
        let per_thread = batch.messages.len().div_ceil(threads).max(1);
        let outcomes: Vec<Result<Vec<u8>, String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = batch
                .messages
                .chunks(per_thread)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|m| decrypt_one(keys, decryptor, m))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| {
                    w.join()
                        .unwrap_or_else(|_| vec![Err("decryption thread panicked".to_owned())])
                })
                .collect()
        });
        for outcome in outcomes {
            match outcome {
                Ok(_) => report.decrypted += 1,
                Err(reason) => *report.failures.entry(reason).or_default() += 1,
            }
        }
        report.pulled += batch.len() as u64;
        if let Some(last) = batch.last_seq() {
            report.last_seq = report.last_seq.max(last);
        }
        report.elapsed = started.elapsed();
        progress(&report);
        if batch.len() < options.limit as usize {
            return Ok(report);
        }
    }
}
