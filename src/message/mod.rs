//! WeCom messages after decryption: lenient JSON ([`lenient`]), the typed model ([`ChatMessage`]),
//! the human-visible text ([`visible_text`]), the stored row ([`MessageRow`]) and the attachments
//! to fetch ([`attachments`]) and the conversation it belongs to ([`Conversation`]).

mod attachment;
mod conversation;
mod dead;
mod labels;
pub mod lenient;
mod model;
mod row;
mod text;

pub use attachment::{Attachment, MediaKind, attachments};
pub use conversation::Conversation;
pub use dead::DeadReason;
pub use labels::type_label;
pub use model::{
    Action, Body, ChatMessage, CollectDetail, Media, NestedItem, NewsItem, ParseError,
    is_external_id,
};
pub use row::{MessageRow, is_external_chat};
pub use text::visible_text;
