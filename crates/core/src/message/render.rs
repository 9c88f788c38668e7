//! The two renderings of a message's parts: plain text for SNS (e-mail) and a Slack Block Kit
//! payload, each truncating lists within its own limits.

use serde_json::{Value, json};

use super::rich::{Group, List, Part, Rich};
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

/// The last line of a group cut short: how many more of its items there are.
fn group_more_line(hidden: usize) -> String {
    format!("… and {hidden} more in this account")
}

/// How many items of each group a list shows within `lines`: each group its fair share, the share
/// a small group does not use going to the others; with more groups than lines, the first groups
/// one each. A single group shows `min(items, lines)`.
fn quotas(groups: &[Group], lines: usize) -> Vec<usize> {
    let mut quota = vec![0; groups.len()];
    let mut left = lines;
    loop {
        let open: Vec<usize> = (0..groups.len()).filter(|&i| quota[i] < groups[i].items.len()).collect();
        if open.is_empty() || left == 0 {
            return quota;
        }
        let share = (left / open.len()).max(1);
        for i in open {
            let add = share.min(groups[i].items.len() - quota[i]).min(left);
            quota[i] += add;
            left -= add;
            if left == 0 {
                break;
            }
        }
    }
}

/// The items of a list rendered by `render` within at most `lines` item lines; when its bytes run
/// out first, rendered again within the lines that fitted, so that each group keeps its share of
/// what fits rather than the first groups taking it all. `render(lines)` gives the rendering, the
/// items shown and whether the bytes ran out. A single group renders as in one pass.
fn fitted(lines: usize, render: impl Fn(usize) -> (String, usize, bool)) -> (String, usize) {
    let mut lines = lines;
    loop {
        let (out, shown, full) = render(lines);
        if !full || shown == 0 || shown >= lines {
            return (out, shown);
        }
        lines = shown;
    }
}

/// Appends a list to the text, within [`TEXT_LIST_LINES`] item lines and the list's bytes. Items
/// of a headed group are indented under its heading.
fn text_list(out: &mut String, list: &List, location: Option<&str>) {
    out.push_str(&list.title);
    out.push_str(":\n");
    if let Some(note) = &list.note {
        out.push_str("  ");
        out.push_str(&note.plain());
        out.push('\n');
    }
    let (items, shown) = fitted(TEXT_LIST_LINES, |lines| text_items(list, lines));
    out.push_str(&items);
    let total = list.len();
    if shown < total {
        out.push_str("  ");
        out.push_str(&more_line(total - shown, location).plain());
        out.push('\n');
    }
}

/// A list's items in the text within `lines` item lines and the list's bytes: the text, the items
/// shown and whether the bytes ran out.
fn text_items(list: &List, lines: usize) -> (String, usize, bool) {
    let mut out = String::new();
    let mut shown = 0;
    for (group, quota) in list.groups.iter().zip(quotas(&list.groups, lines)) {
        if quota == 0 {
            continue;
        }
        let indent = match &group.heading {
            Some(heading) => {
                let line = format!("  {}:\n", heading.plain());
                if out.len() + line.len() > list.max_text_bytes {
                    return (out, shown, true);
                }
                out.push_str(&line);
                "    "
            }
            None => "  ",
        };
        let mut group_shown = 0;
        let mut full = false;
        for item in group.items.iter().take(quota) {
            let line = format!("{indent}- {}\n", item.plain());
            if out.len() + line.len() > list.max_text_bytes {
                full = true;
                break;
            }
            out.push_str(&line);
            group_shown += 1;
        }
        shown += group_shown;
        if group.heading.is_some() && group_shown < group.items.len() {
            out.push_str(&format!("    {}\n", group_more_line(group.items.len() - group_shown)));
        }
        if full {
            return (out, shown, true);
        }
    }
    (out, shown, false)
}

/// A list as one section's mrkdwn, within [`SLACK_LIST_LINES`] item lines and
/// [`SLACK_MAX_TEXT_CHARS`] (measured in bytes, which is never less than characters).
fn slack_list(list: &List, location: Option<&str>) -> String {
    let mut out = format!("*{}*", escape(&list.title));
    if let Some(note) = &list.note {
        out.push('\n');
        out.push_str(&note.mrkdwn());
    }
    let total = list.len();
    // Room kept for the list's last line, and what the items may take.
    let reserve = 1 + more_line(total, location).mrkdwn().len();
    let room = SLACK_MAX_TEXT_CHARS.saturating_sub(out.len() + reserve);
    let (items, shown) = fitted(SLACK_LIST_LINES, |lines| slack_items(list, lines, room));
    out.push_str(&items);
    if shown < total {
        out.push('\n');
        out.push_str(&more_line(total - shown, location).mrkdwn());
    }
    clip_bytes(&out, SLACK_MAX_TEXT_CHARS)
}

/// A list's items as mrkdwn within `lines` item lines and `room` bytes: the mrkdwn, the items
/// shown and whether the bytes ran out.
fn slack_items(list: &List, lines: usize, room: usize) -> (String, usize, bool) {
    let mut out = String::new();
    let mut shown = 0;
    for (group, quota) in list.groups.iter().zip(quotas(&list.groups, lines)) {
        if quota == 0 {
            continue;
        }
        // Room kept for the group's own "… and N more" line, when it has a heading.
        let group_reserve = match &group.heading {
            Some(heading) => {
                let line = format!("\n{}", heading.mrkdwn());
                let group_reserve = 1 + group_more_line(group.items.len()).len();
                if out.len() + line.len() + group_reserve > room {
                    return (out, shown, true);
                }
                out.push_str(&line);
                group_reserve
            }
            None => 0,
        };
        let mut group_shown = 0;
        let mut full = false;
        for item in group.items.iter().take(quota) {
            let line = format!("\n• {}", item.mrkdwn());
            if out.len() + line.len() + group_reserve > room {
                full = true;
                break;
            }
            out.push_str(&line);
            group_shown += 1;
        }
        shown += group_shown;
        if group.heading.is_some() && group_shown < group.items.len() {
            out.push('\n');
            out.push_str(&group_more_line(group.items.len() - group_shown));
        }
        if full {
            return (out, shown, true);
        }
    }
    (out, shown, false)
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
