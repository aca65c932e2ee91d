//! The archive as auditors browse it: conversations (a group, or two people) with their message
//! counts, a conversation's messages paged either way, one message, and search over every
//! message's text, plainly or through the audit normaliser — each narrowed to what a viewer may
//! see (the conversations some member of theirs took part in).

use crate::message::Conversation;

use super::{StoreError, StoredMessage};

/// One conversation of a corp: who, how many messages, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub corp_id: String,
    pub conversation: Conversation,
    pub msg_count: u64,
    /// Epoch ms.
    pub first_msg_time: i64,
    /// Epoch ms.
    pub last_msg_time: i64,
}

/// A position in time order (a message's time, then its msgid).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageCursor {
    pub msg_time: i64,
    pub msg_id: String,
}

/// Whose conversations a viewer may see: every one (None), or those in which one of these ids
/// took part (`Some(empty)` sees nothing).
pub type Visible = Option<Vec<String>>;

/// The conversations one person or group took part in, newest first.
#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    pub corp_id: Option<String>,
    /// A member's or a customer's id: the conversations they took part in.
    pub member: Option<String>,
    /// A group's id: that group's conversation.
    pub room: Option<String>,
    pub visible: Visible,
    /// Only conversations after this one in the listing's order: (last message time, corp, key).
    pub after: Option<(i64, String, String)>,
    pub limit: u32,
}

/// Which way a conversation is paged from a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The newest messages.
    Newest,
    /// Messages strictly before a position, newest of them first taken.
    Before(MessageCursor),
    /// Messages at or before a position (the message itself included).
    AtOrBefore(MessageCursor),
    /// Messages strictly after a position, oldest of them first taken.
    After(MessageCursor),
}

/// One page of a conversation's messages; the result is always oldest first.
#[derive(Debug, Clone)]
pub struct ConversationMessagesQuery {
    pub corp_id: String,
    pub conversation: Conversation,
    pub page: Page,
    pub limit: u32,
}

/// How a search's keyword is matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TextMatch {
    /// The text contains the keyword as typed.
    #[default]
    Plain,
    /// The folded text (the audit normaliser's: width, case, traditional → simplified, separators
    /// dropped) contains the folded keyword, so `私下轉賬` finds `私 下 转 账`.
    Normalised,
}

/// A search over every stored message, newest first. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub corp_id: Option<String>,
    pub text: Option<String>,
    pub text_match: TextMatch,
    /// Sender.
    pub from_id: Option<String>,
    /// One of the receivers.
    pub to_id: Option<String>,
    pub room_id: Option<String>,
    /// Any of these msgtypes.
    pub msg_types: Vec<String>,
    /// Inclusive, epoch ms.
    pub since_ms: Option<i64>,
    /// Exclusive, epoch ms.
    pub until_ms: Option<i64>,
    pub visible: Visible,
    /// Only messages before this position (keyset paging).
    pub before: Option<MessageCursor>,
    pub limit: u32,
}

/// Conversations, their messages and search: what the archive browser reads.
pub trait ArchiveStore: Send + Sync {
    /// Conversations matching a query, by last message time descending (then corp and key).
    fn conversations(
        &self,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// One conversation, if it has messages and `visible` sees it.
    fn conversation(
        &self,
        corp_id: &str,
        conversation: &Conversation,
        visible: &Visible,
    ) -> Result<Option<ConversationSummary>, StoreError>;

    /// One page of a conversation's messages, oldest first (visibility is the caller's: it checks
    /// the conversation first).
    fn conversation_messages(
        &self,
        query: &ConversationMessagesQuery,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// One message, if `visible` sees its conversation (or its sender).
    fn message(
        &self,
        corp_id: &str,
        msg_id: &str,
        visible: &Visible,
    ) -> Result<Option<StoredMessage>, StoreError>;

    /// Messages matching a search, newest first (then msgid descending).
    fn search(&self, query: &SearchQuery) -> Result<Vec<StoredMessage>, StoreError>;

    /// How many conversations a listing finds (its cursor and limit ignored), counting no
    /// further than `cap`.
    fn count_conversations(&self, query: &ConversationQuery, cap: u64) -> Result<u64, StoreError>;

    /// How many messages a search finds (its cursor and limit ignored), counting no further
    /// than `cap`.
    fn count_search(&self, query: &SearchQuery, cap: u64) -> Result<u64, StoreError>;
}
