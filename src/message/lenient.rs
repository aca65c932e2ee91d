//! Lenient JSON: the SDK's plaintext may contain raw control characters inside strings, which strict
//! JSON forbids. [`sanitize`] escapes them (`\u00XX`) in one pass and only allocates when it must;
//! everything else about the JSON is left to `serde_json` to judge.

use std::borrow::Cow;

/// Escapes raw control characters (U+0000–U+001F) that appear inside JSON strings.
pub fn sanitize(json: &[u8]) -> Cow<'_, [u8]> {
    let mut in_string = false;
    let mut escaped = false;
    let mut first_bad = None;
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            } else if b < 0x20 {
                first_bad = Some(i);
                break;
            }
        } else if b == b'"' {
            in_string = true;
        }
    }
    let Some(start) = first_bad else {
        return Cow::Borrowed(json);
    };
    let mut out = Vec::with_capacity(json.len() + 16);
    out.extend_from_slice(&json[..start]);
    // Resume the scan at `start`, which is inside a string and not escaped.
    let (mut in_string, mut escaped) = (true, false);
    for &b in &json[start..] {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            } else if b < 0x20 {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                continue;
            }
        } else if b == b'"' {
            in_string = true;
        }
        out.push(b);
    }
    Cow::Owned(out)
}

/// Parses JSON leniently: raw control characters inside strings are tolerated.
pub fn parse_value(json: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_slice(&sanitize(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_json_is_borrowed() {
        assert!(matches!(sanitize(br#"{"a":"b\n"}"#), Cow::Borrowed(_)));
    }

    #[test]
    fn raw_control_characters_inside_strings_are_escaped() {
        let raw = b"{\"content\":\"a\x01b\tc\nd\",\n\"x\":\"\\\"q\x02\"}";
        let v = parse_value(raw).expect("lenient parse");
        assert_eq!(v["content"], "a\u{1}b\tc\nd");
        assert_eq!(v["x"], "\"q\u{2}");
    }

    #[test]
    fn control_characters_outside_strings_stay_whitespace_or_errors() {
        assert!(parse_value(b"{\n\t\"a\":1}").is_ok());
        assert!(parse_value(b"{\"a\":1,\x01}").is_err());
    }

    #[test]
    fn broken_json_is_still_an_error() {
        assert!(parse_value(br#"{"msgid":"x","text":{"content":"tru"#).is_err());
    }
}
