//! Decrypt + parse: RSA (per key version) → `DecryptData` → typed message → row; or a dead letter
//! with the reason. [`decode_message`] is the pure step (also used to re-drive dead letters);
//! [`run_decode_stage`] is the stage: one thread taking pulled batches in order, each batch split over
//! a rayon pool, then the audit hook, then on to the writer.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use rayon::prelude::*;

use super::audit::AuditStage;
use super::{DecodedBatch, PulledBatch};
use crate::message::DeadReason;
use crate::message::{ChatMessage, MessageRow, ParseError};
use crate::runtime::Stats;
use crate::sdk::{Decryptor, EncryptedMessage, KeyError, KeyRing, RsaBackend};
use crate::store::{DeadLetter, StoreBatch};

/// Decodes one encrypted message of `corp_id` (its random key recovered with OpenSSL).
pub fn decode_message(
    corp_id: &str,
    keys: &KeyRing,
    decryptor: &Decryptor,
    m: &EncryptedMessage,
) -> Result<MessageRow, Box<DeadLetter>> {
    let key = keys.decrypt_random_key(m.publickey_ver, &m.encrypt_random_key);
    decode_with_key(corp_id, decryptor, m, key)
}

/// Decodes one encrypted message whose random key has been recovered (or failed to be).
pub fn decode_with_key(
    corp_id: &str,
    decryptor: &Decryptor,
    m: &EncryptedMessage,
    key: Result<crate::sdk::RandomKey, KeyError>,
) -> Result<MessageRow, Box<DeadLetter>> {
    let dead = |reason: DeadReason, detail: String| {
        Box::new(DeadLetter {
            corp_id: corp_id.to_owned(),
            seq: m.seq,
            msg_id: m.msgid.clone(),
            publickey_ver: m.publickey_ver,
            encrypt_random_key: m.encrypt_random_key.clone(),
            encrypt_chat_msg: m.encrypt_chat_msg.clone(),
            reason,
            detail,
        })
    };
    let key = key.map_err(|e| {
        let reason = match e {
            KeyError::UnknownVersion { .. } => DeadReason::UnknownKeyVersion,
            KeyError::Base64 { .. } => DeadReason::CorruptBase64,
            _ => DeadReason::RsaDecrypt,
        };
        dead(reason, e.to_string())
    })?;
    let plaintext = decryptor
        .decrypt_data(&key, &m.encrypt_chat_msg)
        .map_err(|e| dead(DeadReason::SdkDecrypt, e.to_string()))?;
    let message = ChatMessage::parse(&plaintext).map_err(|e| {
        let reason = match e {
            ParseError::Json(_) => DeadReason::BrokenJson,
            ParseError::NotAnObject | ParseError::NoMsgId => DeadReason::InvalidMessage,
        };
        dead(reason, e.to_string())
    })?;
    Ok(MessageRow::from_message(
        corp_id,
        m.seq,
        m.publickey_ver,
        &message,
    ))
}

/// Decodes a whole batch on the pool: the random keys first, all together (so the RSA backend
/// can take them eight at a time), then `DecryptData` and parsing; rows and dead letters keep seq
/// order.
pub fn decode_batch(
    pool: &rayon::ThreadPool,
    decryptor: &Decryptor,
    rsa: &RsaBackend,
    batch: PulledBatch,
) -> DecodedBatch {
    decode_batch_timed(pool, decryptor, rsa, batch).0
}

/// [`decode_batch`], and the time its RSA part took.
pub fn decode_batch_timed(
    pool: &rayon::ThreadPool,
    decryptor: &Decryptor,
    rsa: &RsaBackend,
    batch: PulledBatch,
) -> (DecodedBatch, std::time::Duration) {
    let (corp, spool, from_seq) = (batch.corp, batch.spool, batch.from_seq);
    let mut rsa_time = std::time::Duration::ZERO;
    let outcomes: Vec<Result<MessageRow, Box<DeadLetter>>> = pool.install(|| {
        let items: Vec<(u32, &str)> = batch
            .messages
            .iter()
            .map(|m| (m.publickey_ver, m.encrypt_random_key.as_str()))
            .collect();
        let rsa_started = Instant::now();
        let keys = corp.keys().decrypt_random_keys(rsa, &items);
        rsa_time = rsa_started.elapsed();
        batch
            .messages
            .par_iter()
            .zip(keys)
            .with_min_len(8)
            .map(|(m, key)| decode_with_key(&corp.corp_id, decryptor, m, key))
            .collect()
    });
    let mut store = StoreBatch {
        corp_id: corp.corp_id.clone(),
        messages: Vec::with_capacity(outcomes.len()),
        checkpoint: batch.checkpoint,
        ..StoreBatch::default()
    };
    for o in outcomes {
        match o {
            Ok(row) => store.messages.push(row),
            Err(dead) => store.dead_letters.push(*dead),
        }
    }
    (
        DecodedBatch {
            corp,
            store,
            spool,
            from_seq,
        },
        rsa_time,
    )
}

/// The decode stage: runs until the pullers hang up, then drains what is queued and returns.
pub fn run_decode_stage(
    pool: Arc<rayon::ThreadPool>,
    decryptor: Decryptor,
    rsa: RsaBackend,
    audit: Arc<dyn AuditStage>,
    stats: Arc<Stats>,
    input: Receiver<PulledBatch>,
    output: Sender<DecodedBatch>,
) {
    for batch in input {
        let started = Instant::now();
        let n = batch.messages.len() as u64;
        let (mut decoded, rsa_time) = decode_batch_timed(&pool, &decryptor, &rsa, batch);
        Stats::add_time(&stats.rsa_nanos, rsa_time);
        let audit_started = Instant::now();
        pool.install(|| audit.audit(&mut decoded));
        Stats::add_time(&stats.audit_nanos, audit_started.elapsed());
        Stats::add_time(&stats.decode_nanos, started.elapsed());
        Stats::add(&stats.decoded, n);
        if output.send(decoded).is_err() {
            tracing::error!("the writer stopped; decoded batches can no longer be stored");
            return;
        }
    }
}
