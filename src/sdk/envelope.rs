//! The JSON `GetChatData` writes: `{"errcode":0,"errmsg":"ok","chatdata":[…]}`.
//!
//! Parsing is lenient per item: only `seq` is required, because without it a message cannot be placed;
//! a missing `msgid`, key or ciphertext is kept as empty and fails later, in decryption, where it
//! becomes a dead letter with its seq rather than sinking the whole batch.

use serde::Deserialize;

/// One encrypted message as `GetChatData` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EncryptedMessage {
    pub seq: u64,
    #[serde(default)]
    pub msgid: String,
    #[serde(default)]
    pub publickey_ver: u32,
    #[serde(default)]
    pub encrypt_random_key: String,
    #[serde(default)]
    pub encrypt_chat_msg: String,
}

/// The parsed envelope of one `GetChatData` call.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub errcode: i64,
    #[serde(default)]
    pub errmsg: String,
    #[serde(default)]
    pub chatdata: Vec<EncryptedMessage>,
}

/// What an envelope said instead of messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Not the JSON `GetChatData` writes.
    Json(String),
    /// WeCom's `errcode` (48002 and friends arrive with return code 0).
    Api { errcode: i64, errmsg: String },
}

impl Envelope {
    /// Parses `GetChatData`'s output into a batch in seq order.
    pub fn parse(bytes: &[u8]) -> Result<ChatBatch, EnvelopeError> {
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        if envelope.errcode != 0 {
            return Err(EnvelopeError::Api {
                errcode: envelope.errcode,
                errmsg: envelope.errmsg,
            });
        }
        let mut messages = envelope.chatdata;
        messages.sort_by_key(|m| m.seq);
        Ok(ChatBatch { messages })
    }
}

/// One batch of encrypted messages, in seq order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatBatch {
    pub messages: Vec<EncryptedMessage>,
}

impl ChatBatch {
    /// The largest seq in the batch: where the next pull starts.
    pub fn last_seq(&self) -> Option<u64> {
        self.messages.iter().map(|m| m.seq).max()
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_missing_fields_are_kept_for_dead_lettering() {
        let e: Envelope = serde_json::from_str(
            r#"{"errcode":0,"chatdata":[{"seq":3},{"seq":4,"msgid":"m","publickey_ver":2}]}"#,
        )
        .expect("lenient envelope");
        assert_eq!(e.chatdata.len(), 2);
        assert_eq!(e.chatdata[0].msgid, "");
        assert_eq!(e.chatdata[1].publickey_ver, 2);
    }

    #[test]
    fn api_error_envelope_parses() {
        let e: Envelope =
            serde_json::from_str(r#"{"errcode":48002,"errmsg":"api forbidden"}"#).expect("parses");
        assert_eq!((e.errcode, e.chatdata.len()), (48002, 0));
    }
}
