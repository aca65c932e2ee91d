//! The audit engine: sensitive-word strategies and sensitive behaviours, as `shared/spec/audit.md`
//! defines them.
//!
//! - [`rules`]: the rule set as data (JSON import/export shape, validation);
//! - [`normalize`]: anti-evasion normalisation with a map back to original offsets;
//! - [`pinyin`]: a word's pinyin spellings (`微信` as `weixin`, `微xin`), the matcher's extra patterns;
//! - [`alphabet`]: dense character codes for the matcher's automaton, fused with folding;
//! - [`matcher`]: one Aho-Corasick pass per message over every enabled strategy's words;
//! - [`start_filter`]: which code pairs can begin a word, so the automaton is walked only from there;
//! - [`target_lists`]: what each pattern of the automaton stands for, each list kept once;
//! - [`marked`]: text cut at hit spans into marked pieces (highlights and snippets);
//! - [`scope`]: department subtrees and members resolved once per rules version;
//! - [`lookalike`]: round 2's character classes (every way of writing a digit, every form of a
//!   Latin letter) and the text as the behaviour detectors read it;
//! - [`behaviour`]: the behaviour catalogue (card, red packet, phone, e-mail, ID number, bank card,
//!   recall, QR code, URL, WeChat id, QQ number);
//! - [`auditor`]: a compiled rules version and the per-message audit, hits as values;
//! - [`rows`]: hits as the store keeps them (`we_chat_contact_sensitive_msg`, `we_sensitive_act_hit`).
//!
//! The core is pure: it imports neither the store, the pipeline, the SDK nor the web side (the
//! architecture test holds it to that). The live part — applying it to batches, hits → rows, hot
//! reload — is the pipeline's ([`crate::pipeline::live_audit`]).

pub mod alphabet;
pub mod auditor;
pub mod behaviour;
pub mod lookalike;
pub mod marked;
pub mod matcher;
pub mod normalize;
pub mod pinyin;
pub mod rows;
pub mod rules;
pub mod scope;
pub mod sound;
pub mod start_filter;
pub mod target_lists;

pub use auditor::{ActHit, Auditor, Direction, Hit};
pub use behaviour::Act;
pub use rows::{ActHitRow, HitRow};
pub use rules::{RuleSet, RulesError, Strategy};
