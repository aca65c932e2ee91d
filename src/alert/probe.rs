//! A test post to a group robot, so an operator knows its webhook takes msgaudit's posts before
//! the first hit needs it. It goes in the robot's own format (markdown or text) and leaves the
//! outbox alone: no hit is claimed and nothing is recorded as an alert.

use crate::alert::Robot;
use crate::timefmt::format_ms;
use crate::wecom::http::{PostError, RATE_LIMITED, WeComHttp};

/// WeCom's answer to a webhook key it does not know (mistyped, or the robot was removed).
const INVALID_WEBHOOK: i64 = 93000;

/// The JSON of a test post to `robot`, sent from `host` at `at_ms`.
pub fn body(robot: &Robot, host: &str, at_ms: i64) -> serde_json::Value {
    let when = format_ms(at_ms);
    let name = &robot.group_name;
    if robot.msg_type == "text" {
        serde_json::json!({"msgtype": "text", "text": {"content": format!(
            "【msgaudit 测试消息】\n机器人：#{} {name}\n发送自：{host} · {when}\n\
             这条消息确认敏感词告警能送达本群，无需处理。",
            robot.id
        )}})
    } else {
        serde_json::json!({"msgtype": "markdown", "markdown": {"content": format!(
            "**msgaudit 测试消息**\n> 机器人：<font color=\"comment\">#{} {name}</font>\n\
             > 发送自：<font color=\"comment\">{host} · {when}</font>\n\
             这条消息确认敏感词告警能送达本群，无需处理。",
            robot.id
        )}})
    }
}

/// Posts a test message to `robot`'s webhook.
pub fn post(http: &WeComHttp, robot: &Robot, host: &str, at_ms: i64) -> Result<(), PostError> {
    http.post_json(&robot.web_hook_url, &body(robot, host, at_ms))
        .map(drop)
}

/// What an operator can do about a failed test post.
pub fn advice(error: &PostError) -> &'static str {
    match error {
        PostError::WeCom { errcode, .. } if *errcode == INVALID_WEBHOOK => {
            "the webhook key is wrong or the robot was removed from the group: copy the webhook \
             URL again from the group's robot settings, then `msgaudit robots remove` and `add`"
        }
        PostError::WeCom { errcode, .. } if *errcode == RATE_LIMITED => {
            "the robot is at WeCom's limit of about 20 posts a minute: try again in a minute"
        }
        PostError::Timeout(_) | PostError::Network { .. } => {
            "this machine cannot reach the webhook: check DNS, the firewall and any proxy \
             between it and qyapi.weixin.qq.com"
        }
        PostError::Status(_) | PostError::BadAnswer(_) => {
            "something other than WeCom answered: check the webhook URL and any proxy in between"
        }
        PostError::Url(_) => {
            "the stored URL is not a webhook URL: remove the robot and add it again with the URL \
             from the group's robot settings"
        }
        PostError::WeCom { .. } => "see WeCom's error code list for what it means",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn robot(msg_type: &str) -> Robot {
        Robot {
            id: 7,
            group_name: "风控群".into(),
            web_hook_url: "http://127.0.0.1:1/cgi-bin/webhook/send?key=K".into(),
            corp_id: String::new(),
            strategy_ids: Vec::new(),
            msg_type: msg_type.into(),
        }
    }

    #[test]
    fn a_test_post_goes_in_the_robots_own_format_and_names_it() {
        let markdown = body(&robot("markdown"), "audit-1", 0);
        assert_eq!(markdown["msgtype"], "markdown");
        let content = markdown["markdown"]["content"].as_str().unwrap_or_default();
        assert!(
            content.contains("#7 风控群") && content.contains("audit-1"),
            "{content}"
        );
        let text = body(&robot("text"), "audit-1", 0);
        assert_eq!(text["msgtype"], "text");
        let content = text["text"]["content"].as_str().unwrap_or_default();
        assert!(
            content.contains("测试消息") && !content.contains("<font"),
            "{content}"
        );
    }

    #[test]
    fn each_failure_says_what_to_do() {
        let wecom = |errcode| PostError::WeCom {
            errcode,
            errmsg: String::new(),
        };
        assert!(advice(&wecom(93000)).contains("copy the webhook URL again"));
        assert!(advice(&wecom(45009)).contains("try again in a minute"));
        let unreachable = PostError::Network {
            url: "x".into(),
            reason: "refused".into(),
        };
        assert!(advice(&unreachable).contains("cannot reach"));
    }
}
