//! The visible-text extractor and row builder over any parsed message (nested chatrecord and
//! mixed items included): never a panic, and the row is valid JSON where it should be.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgaudit::message::{ChatMessage, MessageRow};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ChatMessage::parse(data) {
        let row = MessageRow::from_message("wwfuzz", 1, 1, &m);
        assert!(serde_json::from_str::<serde_json::Value>(&row.contact).is_ok());
        let _ = row.plain_text.len();
    }
});
