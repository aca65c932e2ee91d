//! Re-driving dead letters: decode each pending dead letter again with the corp's current keys (after
//! the operator added a missing key, say) and record the outcome — stored as a message, or still dead
//! with its new reason. Pages through the pending letters by id, so letters that stay dead are not
//! retried twice in one run.

use std::collections::HashMap;

use crate::pipeline::{Corp, decode_message};
use crate::sdk::{Decryptor, EncryptedMessage};
use crate::store::{DeadLetterQuery, Redrive, SeqCursor, Store, StoreError};

/// What a re-drive did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RedriveReport {
    pub resolved: u64,
    pub still_dead: u64,
    /// Letters of corps that are not configured (left alone).
    pub skipped: u64,
}

/// Re-drives every pending dead letter of the given corps (or of `only` among them).
pub fn redrive(
    store: &dyn Store,
    decryptor: &Decryptor,
    corps: &[Corp],
    only: Option<&str>,
) -> Result<RedriveReport, StoreError> {
    let by_id: HashMap<&str, &Corp> = corps.iter().map(|c| (c.corp_id.as_str(), c)).collect();
    let mut report = RedriveReport::default();
    let mut after = SeqCursor::default();
    loop {
        let page = store.dead_letters(&DeadLetterQuery {
            corp_id: only.map(str::to_owned),
            pending_only: true,
            after,
            limit: 500,
        })?;
        let Some(last) = page.last() else { break };
        after = SeqCursor::after(&last.letter.corp_id, last.letter.seq);
        let mut outcomes = Vec::with_capacity(page.len());
        for d in &page {
            let Some(corp) = by_id.get(d.letter.corp_id.as_str()) else {
                report.skipped += 1;
                continue;
            };
            let m = EncryptedMessage {
                seq: d.letter.seq,
                msgid: d.letter.msg_id.clone(),
                publickey_ver: d.letter.publickey_ver,
                encrypt_random_key: d.letter.encrypt_random_key.clone(),
                encrypt_chat_msg: d.letter.encrypt_chat_msg.clone(),
            };
            match decode_message(&corp.corp_id, &corp.keys, decryptor, &m) {
                Ok(row) => {
                    report.resolved += 1;
                    outcomes.push(Redrive::Resolved {
                        letter: Box::new(d.clone()),
                        row: Box::new(row),
                    });
                }
                Err(dead) => {
                    report.still_dead += 1;
                    outcomes.push(Redrive::StillDead {
                        letter: Box::new(d.clone()),
                        reason: dead.reason,
                        detail: dead.detail,
                    });
                }
            }
        }
        store.record_redrive(&outcomes)?;
    }
    Ok(report)
}
