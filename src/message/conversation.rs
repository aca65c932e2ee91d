//! Which conversation a message belongs to: a group chat (its `roomid`), or the one-to-one chat of
//! two people (sender and sole receiver, in either direction). The key is stored with each message
//! and names the conversation in the API; both stores compute exactly this (ClickHouse through the
//! same rule written as an SQL expression, see `store/clickhouse/archive.rs`).

use std::fmt;

/// A conversation within one corp.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Conversation {
    /// A group chat.
    Room(String),
    /// A one-to-one chat; the two ids in ascending order.
    Pair(String, String),
}

impl Conversation {
    /// The conversation of a message from `from` to `to` in `room` (empty when not a group):
    /// none for a message that has no sender, or no room and not exactly one receiver.
    pub fn of<'a>(
        from: &str,
        to: impl IntoIterator<Item = &'a str>,
        room: &str,
    ) -> Option<Conversation> {
        if !room.is_empty() {
            return Some(Conversation::Room(room.to_owned()));
        }
        let mut to = to.into_iter();
        let (Some(peer), None) = (to.next(), to.next()) else {
            return None;
        };
        if from.is_empty() || peer.is_empty() {
            return None;
        }
        Some(Conversation::pair(from, peer))
    }

    /// The one-to-one conversation of `a` and `b`, in either order.
    pub fn pair(a: &str, b: &str) -> Conversation {
        if a <= b {
            Conversation::Pair(a.to_owned(), b.to_owned())
        } else {
            Conversation::Pair(b.to_owned(), a.to_owned())
        }
    }

    /// The stored key: `r:ROOMID` or `p:A|B`.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// Reads a stored key back.
    pub fn parse(key: &str) -> Option<Conversation> {
        if let Some(room) = key.strip_prefix("r:").filter(|r| !r.is_empty()) {
            return Some(Conversation::Room(room.to_owned()));
        }
        let (a, b) = key.strip_prefix("p:")?.split_once('|')?;
        (!a.is_empty() && !b.is_empty() && a <= b && !b.contains('|'))
            .then(|| Conversation::Pair(a.to_owned(), b.to_owned()))
    }
}

impl fmt::Display for Conversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conversation::Room(r) => write!(f, "r:{r}"),
            Conversation::Pair(a, b) => write!(f, "p:{a}|{b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_pairs_and_neither() {
        assert_eq!(
            Conversation::of("a", ["b", "c"], "wr1"),
            Some(Conversation::Room("wr1".into()))
        );
        assert_eq!(
            Conversation::of("zhangsan", ["wmX"], ""),
            Conversation::of("wmX", ["zhangsan"], "")
        );
        assert_eq!(
            Conversation::of("zhangsan", ["wmX"], "").map(|c| c.key()),
            Some("p:wmX|zhangsan".into())
        );
        assert_eq!(Conversation::of("a", ["b", "c"], ""), None);
        assert_eq!(Conversation::of("a", [], ""), None);
        assert_eq!(Conversation::of("", ["b"], ""), None);
        assert_eq!(Conversation::of("a", ["b", ""], ""), None);
        assert_eq!(Conversation::of("a", [""], ""), None);
    }

    #[test]
    fn keys_read_back() {
        for c in [
            Conversation::Room("wrOgQh".into()),
            Conversation::pair("lisi", "zhangsan"),
            Conversation::pair("same", "same"),
        ] {
            assert_eq!(Conversation::parse(&c.key()), Some(c));
        }
        for bad in ["", "r:", "p:", "p:a", "p:b|a", "x:a|b", "p:|a", "p:a|b|c"] {
            assert_eq!(Conversation::parse(bad), None, "{bad}");
        }
    }
}
