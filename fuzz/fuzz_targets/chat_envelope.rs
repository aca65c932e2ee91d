//! `GetChatData`'s JSON envelope: any bytes parse to a batch in seq order or to an error, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgaudit::sdk::Envelope;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = Envelope::parse(data) {
        assert!(batch.messages.windows(2).all(|w| w[0].seq <= w[1].seq));
    }
});
