//! WeCom messages after decryption: lenient JSON ([`lenient`]), the typed model ([`ChatMessage`]),
//! the human-visible text ([`visible_text`]) and the stored row ([`MessageRow`]).

mod dead;
pub mod lenient;
mod model;
mod row;
mod text;

pub use dead::DeadReason;
pub use model::{
    Action, Body, ChatMessage, CollectDetail, Media, NestedItem, NewsItem, ParseError,
    is_external_id,
};
pub use row::MessageRow;
pub use text::visible_text;
