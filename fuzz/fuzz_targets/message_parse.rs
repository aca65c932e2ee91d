//! The decrypted message parser (lenient JSON, every msgtype): any bytes give a typed message or a
//! typed error, never a panic; a message always has its msgid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgaudit::message::ChatMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ChatMessage::parse(data) {
        assert!(!m.msgid.is_empty());
    }
});
