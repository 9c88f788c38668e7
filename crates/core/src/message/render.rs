//! The two renderings of a message's parts: plain text for SNS (e-mail) and a Slack Block Kit
//! payload, each truncating lists within its own limits.

use serde_json::{Value, json};

use super::rich::{List, Part, Rich};
use super::sanitize::{LOCATION_CHARS, clip, clip_bytes, escape};

/// SNS's message size limit in bytes. The text is cut here as a last resort; lists are bounded so
/// that it never comes to that.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Most lines a list shows in the text before "… and N more".
pub const TEXT_LIST_LINES: usize = 200;
/// Most lines a list shows in Slack before "… and N more".
pub const SLACK_LIST_LINES: usize = 25;
/// Slack's limit on a section's (or any text object's) text, in characters.
pub const SLACK_MAX_TEXT_CHARS: usize = 3000;
/// Slack's limit on blocks per message.
pub const SLACK_MAX_BLOCKS: usize = 50;

/// Most bytes one list takes in the text; with at most eight lists per message this keeps the text
/// under 200 KiB whatever the account holds.
const TEXT_LIST_BYTES: usize = 24 * 1024;
/// Slack's limit on a header's text, in characters.
const SLACK_HEADER_CHARS: usize = 150;

/// The last line of a truncated list: how many more, and where the whole list is.
fn more_line(hidden: usize, location: Option<&str>) -> Rich {
    match location {
        Some(location) => {
            Rich::new().text(format!("… and {hidden} more — see the run report at ")).location(location, LOCATION_CHARS)
        }
        None => Rich::new().text(format!("… and {hidden} more")),
    }
}

/// Renders `parts` under `subject` as the plain text and the Slack payload of one message: `(text,
/// slack)`. A truncated list points at `location` (the run report), when there is one.
pub(super) fn render(subject: &str, parts: &[Part], location: Option<&str>) -> (String, Value) {
    let mut text = String::new();
    text.push_str(subject);
    text.push('\n');
    let mut blocks = vec![json!({
        "type": "header",
        "text": plain_text(&clip(subject, SLACK_HEADER_CHARS)),
    })];
    for part in parts {
        match part {
            Part::Para(lines) => {
                text.push('\n');
                for line in lines {
                    text.push_str(&line.plain());
                    text.push('\n');
                }
                blocks.push(section(&lines.iter().map(Rich::mrkdwn).collect::<Vec<_>>().join("\n")));
            }
            Part::Context(lines) => {
                text.push('\n');
                for line in lines {
                    text.push_str(&line.plain());
                    text.push('\n');
                }
                let mrkdwn =
                    clip_bytes(&lines.iter().map(Rich::mrkdwn).collect::<Vec<_>>().join("\n"), SLACK_MAX_TEXT_CHARS);
                blocks.push(json!({ "type": "context", "elements": [mrkdwn_text(&mrkdwn)] }));
            }
            Part::List(list) => {
                text.push('\n');
                text_list(&mut text, list, location);
                blocks.push(section(&slack_list(list, location)));
            }
            Part::Divider => blocks.push(json!({ "type": "divider" })),
            Part::Buttons(actions) => blocks.push(actions.clone()),
        }
    }
    let text = clip_bytes(&text, MAX_TEXT_BYTES);
    let slack = json!({ "text": escape(subject), "blocks": blocks });
    (text, slack)
}

/// Appends a list to the text, within [`TEXT_LIST_LINES`] lines and [`TEXT_LIST_BYTES`] bytes.
fn text_list(out: &mut String, list: &List, location: Option<&str>) {
    out.push_str(&list.title);
    out.push_str(":\n");
    if let Some(note) = &list.note {
        out.push_str("  ");
        out.push_str(&note.plain());
        out.push('\n');
    }
    let mut used = 0;
    let mut shown = 0;
    for item in list.items.iter().take(TEXT_LIST_LINES) {
        let line = format!("  - {}\n", item.plain());
        if used + line.len() > TEXT_LIST_BYTES {
            break;
        }
        used += line.len();
        out.push_str(&line);
        shown += 1;
    }
    if shown < list.items.len() {
        out.push_str("  ");
        out.push_str(&more_line(list.items.len() - shown, location).plain());
        out.push('\n');
    }
}

/// A list as one section's mrkdwn, within [`SLACK_MAX_TEXT_CHARS`] (measured in bytes, which is
/// never less than characters).
fn slack_list(list: &List, location: Option<&str>) -> String {
    let mut out = format!("*{}*", escape(&list.title));
    if let Some(note) = &list.note {
        out.push('\n');
        out.push_str(&note.mrkdwn());
    }
    let total = list.items.len();
    let reserve = 1 + more_line(total, location).mrkdwn().len();
    let mut shown = 0;
    for item in list.items.iter().take(SLACK_LIST_LINES) {
        let line = format!("\n• {}", item.mrkdwn());
        if out.len() + line.len() + reserve > SLACK_MAX_TEXT_CHARS {
            break;
        }
        out.push_str(&line);
        shown += 1;
    }
    if shown < total {
        out.push('\n');
        out.push_str(&more_line(total - shown, location).mrkdwn());
    }
    clip_bytes(&out, SLACK_MAX_TEXT_CHARS)
}

/// A Slack section block of mrkdwn, clipped to [`SLACK_MAX_TEXT_CHARS`].
fn section(mrkdwn: &str) -> Value {
    json!({ "type": "section", "text": mrkdwn_text(&clip_bytes(mrkdwn, SLACK_MAX_TEXT_CHARS)) })
}

/// A Slack `mrkdwn` object, `verbatim`: Slack then links only what keyward wrote as a link
/// (`<url|label>`). Without it Slack turns anything that looks like a URL, a domain, an e-mail
/// address, `@channel`/`@here` or `#channel` into a link or a mention, user names and tag values
/// included.
fn mrkdwn_text(mrkdwn: &str) -> Value {
    json!({ "type": "mrkdwn", "text": mrkdwn, "verbatim": true })
}

/// A Slack `plain_text` object.
pub(super) fn plain_text(s: &str) -> Value {
    json!({ "type": "plain_text", "text": s })
}
