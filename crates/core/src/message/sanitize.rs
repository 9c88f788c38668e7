//! Making user-controlled strings safe to show: Slack mrkdwn escaping, defanging for the plain text
//! (which mail clients scan for links), the check that a URL can be embedded as a link, stripping control and invisible format characters, and clipping to a length
//! in characters or bytes.

/// Clip lengths for user-controlled strings, in characters.
pub(super) const NAME_CHARS: usize = 128;
pub(super) const VALUE_CHARS: usize = 256;
pub(super) const ERROR_CHARS: usize = 300;
pub(super) const LOCATION_CHARS: usize = 300;

/// Slack's mrkdwn escaping: `&`, `<` and `>` become entities, so no `<!channel>`, `<@U…>` or link
/// can be smuggled in.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` as mail clients link none of it: they turn into links anything that looks like a URL
/// (`https://…`), a domain (`example.com`, `www.x`) or an e-mail address, and a plain-text message
/// has no markup to say otherwise. So `://` becomes `[:]//` and a `.` before a letter `[.]` (every
/// top-level domain starts with one), the way security reports quote a hostile address; nothing
/// else changes (`svc-ci`, `AKIA…`, `203.0.113.7`, `Mozilla/5.0` stay as they are), and the text
/// still reads as the name.
pub(super) fn defang(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '.' && chars.peek().is_some_and(char::is_ascii_alphabetic) {
            out.push_str("[.]");
        } else {
            out.push(c);
        }
    }
    out.replace("://", "[:]//")
}

/// Whether `url` can go inside `<url|label>` as is: http(s), and nothing that could end the link
/// or need escaping.
pub(super) fn is_embeddable_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '|' | '&' | '`'))
}

/// Replaces control characters, the Unicode line and paragraph separators (IAM tag values allow
/// them, as `\p{Z}`: they would start a fake line in a message), and invisible bidirectional or
/// zero-width format characters (which could disguise a name) with a space or `?`.
pub(super) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            c if c.is_control() => ' ',
            '\u{2028}' | '\u{2029}' => ' ',
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' => '?',
            c => c,
        })
        .collect()
}

/// At most `max_chars` characters, ending in `…` when cut.
pub(super) fn clip(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max_bytes` bytes, cut on a character boundary, ending in `…` when cut.
pub(super) fn clip_bytes(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_owned();
    }
    let ellipsis = '…';
    let mut end = max_bytes.saturating_sub(ellipsis.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s[..end].to_owned();
    out.push(ellipsis);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_slack_control_sequences() {
        assert_eq!(escape("<!channel> & <@U1>"), "&lt;!channel&gt; &amp; &lt;@U1&gt;");
    }

    #[test]
    fn defanged_text_holds_no_url_domain_or_address() {
        assert_eq!(defang("https://evil.example/x"), "https[:]//evil[.]example/x");
        assert_eq!(defang("alice@example.com"), "alice@example[.]com");
        assert_eq!(defang("www.evil.example"), "www[.]evil[.]example");
        assert_eq!(defang("svc-ci"), "svc-ci");
        assert_eq!(defang("Retired. Ask Bob."), "Retired. Ask Bob.");
        assert_eq!(defang("203.0.113.7 Mozilla/5.0"), "203.0.113.7 Mozilla/5.0");
    }

    #[test]
    fn sanitize_removes_line_breaks_and_bidi_overrides() {
        assert_eq!(sanitize("a\nb\u{202E}c\td"), "a b?c d");
        // IAM tag values allow the Unicode line and paragraph separators (\p{Z}).
        assert_eq!(sanitize("reason\u{2028}Approved by: CISO\u{2029}x"), "reason Approved by: CISO x");
    }

    #[test]
    fn clipping_respects_char_boundaries() {
        assert_eq!(clip("ééé", 2), "é…");
        assert_eq!(clip_bytes("ééé", 5), "é…");
        assert_eq!(clip_bytes("abc", 3), "abc");
    }
}
