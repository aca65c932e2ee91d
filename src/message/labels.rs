//! What people call each message type, in Chinese as WeCom's own client does: 图片, 语音, 红包….

/// The Chinese label of a msgtype (the msgtype itself when unknown).
pub fn type_label(msgtype: &str) -> &str {
    match msgtype {
        "text" => "文本",
        "image" => "图片",
        "revoke" => "撤回",
        "agree" => "同意会话存档",
        "disagree" => "不同意会话存档",
        "voice" => "语音",
        "video" => "视频",
        "card" => "名片",
        "location" => "位置",
        "emotion" => "表情",
        "file" => "文件",
        "link" => "链接",
        "weapp" => "小程序",
        "chatrecord" => "聊天记录",
        "todo" => "待办",
        "vote" => "投票",
        "collect" => "填表",
        "redpacket" => "红包",
        "external_redpacket" => "互通红包",
        "meeting" => "会议邀请",
        "docmsg" => "在线文档",
        "markdown" => "MarkDown",
        "news" => "图文",
        "calendar" => "日程",
        "mixed" => "图文混排",
        "meeting_voice_call" => "音频存档",
        "voip_doc_share" => "音频共享文档",
        "sphfeed" => "视频号",
        "voiptext" => "音视频通话",
        "qydiskfile" => "微盘文件",
        "switch" => "切换企业",
        "meeting_notification" => "会议通知",
        "note" => "笔记",
        "info" => "消息",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_type_has_a_chinese_label() {
        for t in [
            "text",
            "image",
            "revoke",
            "agree",
            "disagree",
            "voice",
            "video",
            "card",
            "location",
            "emotion",
            "file",
            "link",
            "weapp",
            "chatrecord",
            "todo",
            "vote",
            "collect",
            "redpacket",
            "meeting",
            "docmsg",
            "markdown",
            "news",
            "calendar",
            "mixed",
            "meeting_voice_call",
            "voip_doc_share",
            "external_redpacket",
            "sphfeed",
            "voiptext",
            "qydiskfile",
        ] {
            assert_ne!(type_label(t), t, "{t}");
        }
        assert_eq!(type_label("brand_new"), "brand_new");
    }
}
