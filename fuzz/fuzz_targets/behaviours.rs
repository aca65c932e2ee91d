//! The behaviour detectors over any text (and any link message): never a panic, each behaviour
//! found at most once, and what each finding reports is what its detector claims — a mobile
//! number's digits, an ID number with a valid check character, a bank card number passing Luhn, an
//! e-mail address, a URL not on the allow list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgaudit::audit::behaviour::{Act, detect, is_id_number, luhn, url_allowed};
use msgaudit::message::MessageRow;

fn row(msg_type: &str, text: &str, contact: &str) -> MessageRow {
    MessageRow {
        from_id: "zhangsan".into(),
        to_list: "wmCustomer".into(),
        msg_type: msg_type.into(),
        contact: contact.into(),
        plain_text: text.into(),
        ..MessageRow::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let allow = vec!["corp.example.com".to_owned()];
    // The text as a text message, and as a link message whose JSON is the text itself.
    for r in [row("text", text, ""), row("link", text, text)] {
        let found = detect(&r, &allow);
        for (i, f) in found.iter().enumerate() {
            assert!(
                !found[..i].iter().any(|g| g.act == f.act),
                "{:?} found twice",
                f.act
            );
            let d = f.detail.as_str();
            match f.act {
                Act::Phone => {
                    let digits = d.strip_prefix("86").filter(|_| d.len() == 13).unwrap_or(d);
                    assert!(
                        digits.len() == 11
                            && digits.starts_with('1')
                            && digits.bytes().all(|b| b.is_ascii_digit()),
                        "phone {d:?}"
                    );
                }
                Act::IdNumber => assert!(is_id_number(d), "ID number {d:?}"),
                Act::BankCard => {
                    assert!((16..=19).contains(&d.len()) && luhn(d), "bank card {d:?}")
                }
                Act::Email => assert!(d.contains('@'), "e-mail {d:?}"),
                Act::Url => assert!(!url_allowed(d, &allow), "allowed URL {d:?} reported"),
                _ => {}
            }
        }
        assert_eq!(
            detect(&r, &allow)
                .iter()
                .map(|f| (f.act, f.detail.clone()))
                .collect::<Vec<_>>(),
            found
                .iter()
                .map(|f| (f.act, f.detail.clone()))
                .collect::<Vec<_>>(),
            "the same text, the same findings"
        );
    }
});
