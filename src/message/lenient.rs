//! Lenient JSON: the SDK's plaintext may contain raw control characters inside strings, which strict
//! JSON forbids. [`sanitize`] escapes them (`\u00XX`) in one pass and only allocates when it must;
//! everything else about the JSON is left to `serde_json` to judge.

use std::borrow::Cow;

/// Escapes raw control characters (U+0000–U+001F) that appear inside JSON strings.
pub fn sanitize(json: &[u8]) -> Cow<'_, [u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Allocated only at the first control character inside a string.
    let mut out: Option<Vec<u8>> = None;
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in json.iter().enumerate() {
        let raw_control = in_string && !escaped && b < 0x20;
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        }
        if raw_control {
            let o = out.get_or_insert_with(|| {
                let mut v = Vec::with_capacity(json.len() + 16);
                v.extend_from_slice(&json[..i]);
                v
            });
            o.extend_from_slice(b"\\u00");
            o.push(HEX[(b >> 4) as usize]);
            o.push(HEX[(b & 0xf) as usize]);
        } else if let Some(o) = out.as_mut() {
            o.push(b);
        }
    }
    out.map_or(Cow::Borrowed(json), Cow::Owned)
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
