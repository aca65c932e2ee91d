//! Text cut at hit spans into pieces, each marked or not: what the workspace highlights and what
//! a hit's snippet puts in 【】. Pure, so the audit core and the web side share it.

/// Splits `text` at byte `spans` into `[piece, marked]` pairs (spans sorted, merged, clamped to
/// character boundaries).
pub fn segments(text: &str, spans: &[(usize, usize)]) -> Vec<(String, bool)> {
    let mut spans: Vec<(usize, usize)> = spans
        .iter()
        .map(|&(a, b)| (a.min(text.len()), b.min(text.len())))
        .filter(|(a, b)| a < b && text.is_char_boundary(*a) && text.is_char_boundary(*b))
        .collect();
    spans.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for (a, b) in spans {
        let a = a.max(at);
        if a >= b {
            continue;
        }
        if a > at {
            out.push((text[at..a].to_owned(), false));
        }
        out.push((text[a..b].to_owned(), true));
        at = b;
    }
    if at < text.len() {
        out.push((text[at..].to_owned(), false));
    }
    out
}
