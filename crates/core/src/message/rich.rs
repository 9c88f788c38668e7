//! The one intermediate form of a message: lines ([`Rich`]) made of spans ([`Span`]), grouped into
//! parts ([`Part`]). Both renderings are read from it, and every span is sanitised when it is built.

use serde_json::Value;

use super::sanitize::{clip, defang, escape, is_embeddable_url, sanitize};

/// A piece of a line. Every constructor strips control characters, so no span can break a line.
#[derive(Debug, Clone)]
enum Span {
    /// Text as is (escaped in Slack).
    Plain(String),
    /// Emphasis (bold in Slack); only for keyward's own words.
    Bold(String),
    /// An identifier: a user name, a key id, a tag value. Monospace in Slack, so `_` or `*` in a
    /// name does not format; defanged in the text (see [`defang`]).
    Code(String),
    /// Free text someone other than keyward wrote (a tag's reason, an error from AWS): escaped in
    /// Slack, defanged in the text.
    Quoted(String),
    /// keyward's own location of a run report (`s3://…`): monospace in Slack, as is in the text,
    /// where it is copied into a command.
    Location(String),
    /// A link: the URL in the text, `<url|label>` in Slack when the URL is safe to embed.
    Link { url: String, label: String },
}

/// One line, as spans.
#[derive(Debug, Clone, Default)]
pub(super) struct Rich(Vec<Span>);

impl Rich {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Appends text as is.
    pub(super) fn text(mut self, s: impl AsRef<str>) -> Self {
        self.0.push(Span::Plain(sanitize(s.as_ref())));
        self
    }

    /// Appends emphasis: keyward's own words only.
    pub(super) fn bold(mut self, s: impl AsRef<str>) -> Self {
        self.0.push(Span::Bold(sanitize(s.as_ref())));
        self
    }

    /// Appends an identifier, clipped to `max_chars`.
    pub(super) fn code(mut self, s: &str, max_chars: usize) -> Self {
        self.0.push(Span::Code(clip(&sanitize(s), max_chars)));
        self
    }

    /// Appends free text someone other than keyward wrote, clipped to `max_chars`.
    pub(super) fn quote(mut self, s: &str, max_chars: usize) -> Self {
        self.0.push(Span::Quoted(clip(&sanitize(s), max_chars)));
        self
    }

    /// Appends keyward's location of a run object (the run report, the journal), clipped to `max_chars`.
    pub(super) fn location(mut self, s: &str, max_chars: usize) -> Self {
        self.0.push(Span::Location(clip(&sanitize(s), max_chars)));
        self
    }

    /// Appends a link labelled `label`.
    pub(super) fn link(mut self, url: &str, label: &str) -> Self {
        self.0.push(Span::Link { url: sanitize(url), label: sanitize(label) });
        self
    }

    /// Appends the spans of `other`.
    pub(super) fn push(mut self, other: Rich) -> Self {
        self.0.extend(other.0);
        self
    }

    /// The line as plain text (the e-mail).
    pub(super) fn plain(&self) -> String {
        let mut out = String::new();
        for span in &self.0 {
            match span {
                Span::Plain(s) | Span::Bold(s) | Span::Location(s) => out.push_str(s),
                Span::Code(s) | Span::Quoted(s) => out.push_str(&defang(s)),
                Span::Link { url, .. } => out.push_str(url),
            }
        }
        out
    }

    /// The line as Slack mrkdwn, escaped.
    pub(super) fn mrkdwn(&self) -> String {
        let mut out = String::new();
        for span in &self.0 {
            match span {
                Span::Plain(s) | Span::Quoted(s) => out.push_str(&escape(s)),
                Span::Bold(s) if s.trim().is_empty() => out.push_str(&escape(s)),
                Span::Bold(s) => {
                    out.push('*');
                    out.push_str(&escape(s));
                    out.push('*');
                }
                Span::Code(s) | Span::Location(s) if s.is_empty() => out.push_str("\"\""),
                Span::Code(s) | Span::Location(s) => {
                    out.push('`');
                    out.push_str(&escape(&s.replace('`', "'")));
                    out.push('`');
                }
                Span::Link { url, label } if is_embeddable_url(url) => {
                    out.push('<');
                    out.push_str(url);
                    out.push('|');
                    out.push_str(&escape(&label.replace('|', "/")));
                    out.push('>');
                }
                Span::Link { url, .. } => {
                    out.push('`');
                    out.push_str(&escape(&url.replace('`', "'")));
                    out.push('`');
                }
            }
        }
        out
    }
}

/// Most bytes one list takes in the text; with at most eight such lists per message (and the
/// organisation's coverage lists, which are smaller) this keeps the text under 256 KiB whatever
/// the accounts hold, and under 200 KiB in an account's messages.
pub(super) const TEXT_LIST_BYTES: usize = 24 * 1024;

/// A titled list of items; empty lists are left out of messages.
pub(super) struct List {
    pub(super) title: String,
    pub(super) note: Option<Rich>,
    /// The items, in groups: one group without a heading in an account's messages, one per
    /// account in an organisation's.
    pub(super) groups: Vec<Group>,
    /// Most bytes the list takes in the text.
    pub(super) max_text_bytes: usize,
}

impl List {
    /// How many items the list holds, in all its groups.
    pub(super) fn len(&self) -> usize {
        self.groups.iter().map(|g| g.items.len()).sum()
    }
}

/// Items of a list under one heading (`<account id> (<name>)`), or under none.
pub(super) struct Group {
    pub(super) heading: Option<Rich>,
    pub(super) items: Vec<Rich>,
}

/// A part of a message.
pub(super) enum Part {
    /// Lines of prose.
    Para(Vec<Rich>),
    /// Small print (a Slack context block).
    Context(Vec<Rich>),
    /// A list, truncated in each rendering.
    List(List),
    /// A separator (Slack only).
    Divider,
    /// A ready Slack actions block (Slack only; the text carries the link instead).
    Buttons(Value),
}

/// Adds a list titled `title (n)` to `parts`, unless it has no items.
pub(super) fn push_list(parts: &mut Vec<Part>, title: &str, note: Option<Rich>, items: Vec<Rich>) {
    push_groups(parts, title, note, vec![Group { heading: None, items }]);
}

/// Adds a list of grouped items titled `title (n)` to `parts`, unless it has no items.
pub(super) fn push_groups(parts: &mut Vec<Part>, title: &str, note: Option<Rich>, groups: Vec<Group>) {
    push_bounded(parts, title, note, groups, TEXT_LIST_BYTES);
}

/// Adds a list titled `title (n)` that takes at most `max_text_bytes` in the text, unless it has
/// no items.
pub(super) fn push_bounded(
    parts: &mut Vec<Part>,
    title: &str,
    note: Option<Rich>,
    groups: Vec<Group>,
    max_text_bytes: usize,
) {
    let groups: Vec<Group> = groups.into_iter().filter(|g| !g.items.is_empty()).collect();
    let n: usize = groups.iter().map(|g| g.items.len()).sum();
    if n > 0 {
        parts.push(Part::List(List { title: format!("{title} ({n})"), note, groups, max_text_bytes }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::sanitize::NAME_CHARS;

    #[test]
    fn code_spans_cannot_be_closed_by_a_backtick() {
        let line = Rich::new().code("a`b", NAME_CHARS);
        assert_eq!(line.mrkdwn(), "`a'b`");
        assert_eq!(line.plain(), "a`b");
    }

    #[test]
    fn unsafe_links_are_shown_as_code_not_embedded() {
        assert_eq!(Rich::new().link("https://x.example/a", "open").mrkdwn(), "<https://x.example/a|open>");
        assert_eq!(
            Rich::new().link("https://x.example/a|<!here>", "open").mrkdwn(),
            "`https://x.example/a|&lt;!here&gt;`"
        );
        assert_eq!(Rich::new().link("javascript:alert(1)", "open").mrkdwn(), "`javascript:alert(1)`");
    }
}
