//! Rules import: any text is refused with an error or gives rules that validate, export and build
//! an auditor, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgaudit::audit::{Auditor, RuleSet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rules) = RuleSet::from_json(text) {
        let again = RuleSet::from_json(&rules.to_json()).expect("exported rules import again");
        assert_eq!(again.strategies.len(), rules.strategies.len());
        let _ = Auditor::build(&rules, 1);
    }
});
