//! Test messages, so an operator knows alerts get through before the first hit needs them: a post
//! to a group robot in its own format (markdown or text), and an application message from a corp's
//! alert app to an auditor. Both leave the outbox alone: no hit is claimed and nothing is recorded
//! as an alert.

use crate::alert::Robot;
use crate::alert::channel::{Channels, DeliveryError, UNREACHABLE_USER, app_message};
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

/// WeCom's errcodes an alert app's test message meets, with what an operator can do about each.
const APP_ERRORS: [(i64, &str); 8] = [
    (
        40001,
        "WeCom does not take the app's secret: copy it again from 应用管理 → the app → Secret \
         into the file or variable alert_app names",
    ),
    (
        40013,
        "WeCom does not know this corp id: check the corp's corp_id (我的企业 → 企业ID)",
    ),
    (
        60020,
        "WeCom refuses requests from this machine's IP: add its outgoing IP to the app's \
         企业可信IP (应用管理 → the app → 企业可信IP)",
    ),
    (
        40056,
        "agent_id is not this app's AgentId: copy it from 应用管理 → the app",
    ),
    (
        301002,
        "the secret belongs to another app than agent_id: use the secret and AgentId of one app",
    ),
    (
        48002,
        "the app may not call the message API: check the app's permissions in 应用管理",
    ),
    (
        UNREACHABLE_USER,
        "the recipient is not a member of the corp or is outside the app's 可见范围 (visible \
         range): add them to it in 应用管理 → the app, or name a userid from 通讯录",
    ),
    (
        RATE_LIMITED,
        "the app is at WeCom's send limit: try again in a minute",
    ),
];

/// The JSON of a test application message from `agent_id` to `user_id`, sent from `host` at
/// `at_ms`.
pub fn app_body(agent_id: i64, user_id: &str, host: &str, at_ms: i64) -> serde_json::Value {
    let text = format!(
        "【msgaudit 测试消息】\n应用：{agent_id}\n发送自：{host} · {}\n\
         这条消息确认敏感词告警能以应用消息送达你，无需处理。",
        format_ms(at_ms)
    );
    app_message(agent_id, user_id, &text)
}

/// Sends a test application message through `corp_id`'s alert app to `user_id`.
pub fn send_app(
    channels: &mut Channels,
    corp_id: &str,
    agent_id: i64,
    user_id: &str,
    host: &str,
    at_ms: i64,
) -> Result<(), DeliveryError> {
    channels.send_app_message(corp_id, &app_body(agent_id, user_id, host, at_ms))
}

/// What an operator can do about an alert app's failed token or test message.
pub fn app_advice(error: &DeliveryError) -> &'static str {
    match error {
        DeliveryError::Post(PostError::WeCom { errcode, .. }) => APP_ERRORS
            .iter()
            .find(|(code, _)| code == errcode)
            .map_or("see WeCom's error code list for what it means", |(_, a)| a),
        DeliveryError::Post(PostError::Timeout(_) | PostError::Network { .. }) => {
            "this machine cannot reach WeCom's API: check DNS, the firewall and any proxy \
             between it and alerts.api_base"
        }
        DeliveryError::Post(PostError::Status(_) | PostError::BadAnswer(_)) => {
            "something other than WeCom answered: check alerts.api_base and any proxy in between"
        }
        DeliveryError::Post(PostError::Url(_)) => "alerts.api_base is not an http(s) URL",
        DeliveryError::NoApp(_) => "give the corp an alert_app in the config",
        DeliveryError::RobotRemoved(_) => "add the robot again with `msgaudit robots add`",
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

    #[test]
    fn an_app_test_message_names_the_app_and_goes_to_one_person() {
        let body = app_body(1000002, "wangwu", "audit-1", 0);
        assert_eq!(body["touser"], "wangwu");
        assert_eq!(body["agentid"], 1000002);
        let content = body["text"]["content"].as_str().unwrap_or_default();
        assert!(
            content.contains("测试消息")
                && content.contains("1000002")
                && content.contains("audit-1"),
            "{content}"
        );
    }

    #[test]
    fn each_app_failure_says_what_to_do() {
        let wecom = |errcode| {
            DeliveryError::Post(PostError::WeCom {
                errcode,
                errmsg: String::new(),
            })
        };
        assert!(app_advice(&wecom(40001)).contains("secret"));
        assert!(app_advice(&wecom(60020)).contains("企业可信IP"));
        assert!(app_advice(&wecom(81013)).contains("可见范围"));
        assert!(app_advice(&wecom(12345)).contains("error code list"));
        assert!(app_advice(&DeliveryError::NoApp("ww1".into())).contains("alert_app"));
    }
}
