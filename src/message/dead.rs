//! Why a pulled message could not become a message: the reasons a dead letter is kept, with what an
//! operator should do about each.

/// Why a message became a dead letter. Stored as its `as_str` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadReason {
    /// No private key for the message's `publickey_ver`.
    UnknownKeyVersion,
    /// `encrypt_random_key` is not valid base64.
    CorruptBase64,
    /// The private key does not decrypt `encrypt_random_key`, or the result is not a usable key.
    RsaDecrypt,
    /// `DecryptData` returned an error code.
    SdkDecrypt,
    /// The plaintext is not JSON, even leniently.
    BrokenJson,
    /// The plaintext is JSON but not a message (not an object, no msgid).
    InvalidMessage,
}

impl DeadReason {
    pub const ALL: [DeadReason; 6] = [
        DeadReason::UnknownKeyVersion,
        DeadReason::CorruptBase64,
        DeadReason::RsaDecrypt,
        DeadReason::SdkDecrypt,
        DeadReason::BrokenJson,
        DeadReason::InvalidMessage,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DeadReason::UnknownKeyVersion => "unknown_key_version",
            DeadReason::CorruptBase64 => "corrupt_base64",
            DeadReason::RsaDecrypt => "rsa_decrypt",
            DeadReason::SdkDecrypt => "sdk_decrypt",
            DeadReason::BrokenJson => "broken_json",
            DeadReason::InvalidMessage => "invalid_message",
        }
    }

    pub fn parse(s: &str) -> Option<DeadReason> {
        DeadReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What an operator should do about it.
    pub fn advice(&self) -> &'static str {
        match self {
            DeadReason::UnknownKeyVersion => {
                "add the private key of that publickey_ver to the corp, then `msgaudit dead-letters retry`"
            }
            DeadReason::CorruptBase64 => {
                "the archive served a damaged key; retry later, report to WeCom if it persists"
            }
            DeadReason::RsaDecrypt => {
                "the key file configured for that version is not the corp's key; fix it, then retry"
            }
            DeadReason::SdkDecrypt => {
                "DecryptData refused the message; retry later, report to WeCom if it persists"
            }
            DeadReason::BrokenJson => {
                "the decrypted message is not JSON; kept for inspection, retry after upgrading msgaudit"
            }
            DeadReason::InvalidMessage => {
                "the decrypted JSON is not a message; kept for inspection"
            }
        }
    }
}
