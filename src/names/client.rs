//! WeCom's directory APIs: `externalcontact/get` for an external contact,
//! `externalcontact/groupchat/get` for a customer group and `msgaudit/groupchat/get` for an
//! internal one, with access tokens cached per corp and secret.

use crate::secret::Secret;
use crate::store::{Customer, Group, GroupMember, GroupSource};
use crate::wecom::http::{PostError, WeComHttp};
use crate::wecom::token::AccessTokens;

/// The secrets a corp's lookups use.
#[derive(Debug, Clone)]
pub struct CorpCredentials {
    pub corp_id: String,
    /// 客户联系 secret (or an app's with customer-contact access), for external contacts and
    /// customer groups.
    pub contact_secret: Secret,
    /// The chat-archive secret, for internal groups.
    pub archive_secret: Secret,
}

/// A lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// WeCom answered, and the answer is no (an id it does not know, a secret without access):
    /// recorded, and asked again only at the next refresh.
    #[error("WeCom answered errcode {errcode}: {errmsg}")]
    Refused { errcode: i64, errmsg: String },
    /// Try again at the next pass (network, rate limit, server error).
    #[error("{0}")]
    Transient(PostError),
}

impl From<PostError> for LookupError {
    fn from(e: PostError) -> LookupError {
        match e {
            PostError::WeCom { errcode, errmsg }
                if !(PostError::WeCom {
                    errcode,
                    errmsg: String::new(),
                })
                .is_retryable() =>
            {
                LookupError::Refused { errcode, errmsg }
            }
            e if e.is_retryable() => LookupError::Transient(e),
            PostError::BadAnswer(m) => LookupError::Refused {
                errcode: -2,
                errmsg: m,
            },
            other => LookupError::Transient(other),
        }
    }
}

impl LookupError {
    /// What to do about it, for the row's `lookup_error` and the log.
    pub fn advice(&self) -> &'static str {
        match self {
            LookupError::Refused {
                errcode: 48002 | 60011 | 40001,
                ..
            } => {
                "the secret has no access to this API: set contact_secret_env (客户联系 secret) for the corp"
            }
            LookupError::Refused { .. } => "WeCom does not know this id for the corp",
            LookupError::Transient(_) => "asked again at the next pass",
        }
    }
}

const CONTACTS: &str = "contacts";
const ARCHIVE: &str = "archive";

fn str_of<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(serde_json::Value::as_str).unwrap_or("")
}

fn int_of(v: &serde_json::Value, key: &str) -> i64 {
    v.get(key).and_then(serde_json::Value::as_i64).unwrap_or(0)
}

fn small(v: i64) -> u8 {
    u8::try_from(v).unwrap_or(0)
}

/// Reads an `externalcontact/get` answer.
pub fn customer_from(corp_id: &str, answer: &serde_json::Value, now: i64) -> Customer {
    let c = &answer["external_contact"];
    let follow = answer
        .get("follow_user")
        .and_then(serde_json::Value::as_array)
        .and_then(|f| f.first());
    Customer {
        corp_id: corp_id.to_owned(),
        external_userid: str_of(c, "external_userid").to_owned(),
        customer_name: str_of(c, "name").to_owned(),
        customer_type: small(int_of(c, "type")),
        avatar: str_of(c, "avatar").to_owned(),
        gender: small(int_of(c, "gender")),
        unionid: str_of(c, "unionid").to_owned(),
        corp_name: str_of(c, "corp_name").to_owned(),
        position: str_of(c, "position").to_owned(),
        add_user_id: follow.map(|f| str_of(f, "userid")).unwrap_or("").to_owned(),
        remark_name: follow.map(|f| str_of(f, "remark")).unwrap_or("").to_owned(),
        lookup_error: String::new(),
        update_time: now,
    }
}

/// Reads an `externalcontact/groupchat/get` answer.
pub fn customer_group_from(corp_id: &str, answer: &serde_json::Value, now: i64) -> Group {
    let g = &answer["group_chat"];
    let members = g
        .get("member_list")
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .map(|m| GroupMember {
                    user_id: str_of(m, "userid").to_owned(),
                    member_type: small(int_of(m, "type")),
                    join_time: int_of(m, "join_time").saturating_mul(1000),
                    join_scene: small(int_of(m, "join_scene")),
                    group_nick_name: str_of(m, "group_nickname").to_owned(),
                    name: str_of(m, "name").to_owned(),
                    invitor_user_id: m
                        .get("invitor")
                        .map(|i| str_of(i, "userid"))
                        .unwrap_or("")
                        .to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    Group {
        corp_id: corp_id.to_owned(),
        chat_id: str_of(g, "chat_id").to_owned(),
        group_name: str_of(g, "name").to_owned(),
        owner: str_of(g, "owner").to_owned(),
        notice: str_of(g, "notice").to_owned(),
        add_time: int_of(g, "create_time").saturating_mul(1000),
        source: GroupSource::Customer,
        lookup_error: String::new(),
        update_time: now,
        members,
    }
}

/// Reads a `msgaudit/groupchat/get` answer for `chat_id`.
pub fn internal_group_from(
    corp_id: &str,
    chat_id: &str,
    answer: &serde_json::Value,
    now: i64,
) -> Group {
    let members = answer
        .get("members")
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .map(|m| GroupMember {
                    user_id: str_of(m, "memberid").to_owned(),
                    member_type: if crate::message::is_external_id(str_of(m, "memberid")) {
                        2
                    } else {
                        1
                    },
                    join_time: int_of(m, "jointime").saturating_mul(1000),
                    ..GroupMember::default()
                })
                .collect()
        })
        .unwrap_or_default();
    Group {
        corp_id: corp_id.to_owned(),
        chat_id: chat_id.to_owned(),
        group_name: str_of(answer, "roomname").to_owned(),
        owner: str_of(answer, "creator").to_owned(),
        notice: str_of(answer, "notice").to_owned(),
        add_time: int_of(answer, "room_create_time").saturating_mul(1000),
        source: GroupSource::Internal,
        lookup_error: String::new(),
        update_time: now,
        members,
    }
}

/// Percent-encodes a query value.
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Looks ids up in WeCom's directory.
pub struct DirectoryClient {
    http: WeComHttp,
    tokens: AccessTokens,
}

impl DirectoryClient {
    pub fn new(http: WeComHttp, api_base: &str) -> DirectoryClient {
        DirectoryClient {
            http,
            tokens: AccessTokens::new(api_base),
        }
    }

    /// Tokens fetched so far.
    pub fn tokens_fetched(&self) -> u64 {
        self.tokens.fetched
    }

    /// An external contact.
    pub fn customer(
        &mut self,
        corp: &CorpCredentials,
        external_userid: &str,
        now: i64,
    ) -> Result<Customer, LookupError> {
        let base = self.tokens.api_base().to_owned();
        let http = &self.http;
        let answer = self.tokens.with_token(
            http,
            &corp.corp_id,
            CONTACTS,
            &corp.contact_secret,
            |token| {
                http.get_json(&format!(
                    "{base}/cgi-bin/externalcontact/get?access_token={}&external_userid={}",
                    token.expose(),
                    query_value(external_userid)
                ))
            },
        )?;
        let mut c = customer_from(&corp.corp_id, &answer, now);
        c.external_userid = external_userid.to_owned();
        Ok(c)
    }

    /// A group chat: as a customer group, else as an internal group.
    pub fn group(
        &mut self,
        corp: &CorpCredentials,
        chat_id: &str,
        now: i64,
    ) -> Result<Group, LookupError> {
        let base = self.tokens.api_base().to_owned();
        let http = &self.http;
        let body = serde_json::json!({ "chat_id": chat_id, "need_name": 1 });
        let customer = self.tokens.with_token(
            http,
            &corp.corp_id,
            CONTACTS,
            &corp.contact_secret,
            |token| {
                http.post_json(
                    &format!(
                        "{base}/cgi-bin/externalcontact/groupchat/get?access_token={}",
                        token.expose()
                    ),
                    &body,
                )
            },
        );
        match customer.map_err(LookupError::from) {
            Ok(answer) => {
                let mut g = customer_group_from(&corp.corp_id, &answer, now);
                g.chat_id = chat_id.to_owned();
                return Ok(g);
            }
            Err(LookupError::Transient(e)) => return Err(LookupError::Transient(e)),
            // Not a customer group (or no access to them): ask the archive's API.
            Err(LookupError::Refused { .. }) => {}
        }
        let body = serde_json::json!({ "roomid": chat_id });
        let answer = self.tokens.with_token(
            http,
            &corp.corp_id,
            ARCHIVE,
            &corp.archive_secret,
            |token| {
                http.post_json(
                    &format!(
                        "{base}/cgi-bin/msgaudit/groupchat/get?access_token={}",
                        token.expose()
                    ),
                    &body,
                )
            },
        )?;
        Ok(internal_group_from(&corp.corp_id, chat_id, &answer, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_wecom_documents_them() {
        let c = customer_from(
            "ww1",
            &serde_json::json!({"errcode": 0, "external_contact": {"external_userid": "wmA",
                "name": "李四", "type": 2, "gender": 1, "corp_name": "腾讯", "position": "Manager"},
                "follow_user": [{"userid": "rocky", "remark": "李部长"}]}),
            5,
        );
        assert_eq!(
            (
                c.customer_name.as_str(),
                c.customer_type,
                c.add_user_id.as_str(),
                c.remark_name.as_str()
            ),
            ("李四", 2, "rocky", "李部长")
        );
        let g = customer_group_from(
            "ww1",
            &serde_json::json!({"errcode": 0, "group_chat": {"chat_id": "wrA", "name": "销售客服群",
                "owner": "ZhuShan", "create_time": 1572505490, "member_list": [
                    {"userid": "abel", "type": 1, "join_time": 1572505491, "join_scene": 1,
                     "invitor": {"userid": "jack"}, "group_nickname": "客服小张", "name": "张三丰"}]}}),
            5,
        );
        assert_eq!(g.group_name, "销售客服群");
        assert_eq!(g.members[0].invitor_user_id, "jack");
        assert_eq!(g.add_time, 1_572_505_490_000);
        let i = internal_group_from(
            "ww1",
            "wrB",
            &serde_json::json!({"roomname": "蓦然回首", "creator": "ZhangWenChao",
                "room_create_time": 1592361604, "notice": "",
                "members": [{"memberid": "ZhangWenChao", "jointime": 1592361605}], "errcode": 0}),
            5,
        );
        assert_eq!(
            (i.group_name.as_str(), i.source),
            ("蓦然回首", GroupSource::Internal)
        );
        assert_eq!(i.members.len(), 1);
    }
}
