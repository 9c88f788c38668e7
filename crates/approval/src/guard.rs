//! What every Function URL request must pass before it is routed, so that a refusal reads nothing,
//! parses nothing and decides nothing:
//!
//! - a body of at most [`MAX_BODY_BYTES`] (413);
//! - a POST other than Slack's comes from the approval page itself (403): its `Sec-Fetch-Site` is
//!   `same-origin` (or the browser sends no fetch metadata at all), and its `Origin`, when there is
//!   one, is the approval function's own — or `null` from a browser whose `Sec-Fetch-Site` said
//!   `same-origin`: the pages' `Referrer-Policy: no-referrer` makes a browser send `Origin: null`
//!   with a form post (Fetch standard, "append a request `Origin` header"). A page on another site can then not make an approver's
//!   browser post a decision (cross-site request forgery), whatever the form carries. Slack's
//!   `POST /slack/actions` comes from Slack's servers, not a browser, and carries its own proof (the
//!   signature), so it is exempt.
//!
//! The function's own origin is that of `KEYWARD_APPROVAL_BASE_URL` when it is set (the local
//! stack), else that of the request's `Host`: the template cannot give the function its own URL
//! (the URL is made from the function, a cycle), and a browser always sends the Host it connects to.

use lambda_http::http::{HeaderMap, Method, StatusCode, Uri, header};
use lambda_http::{Body, Request, Response};

use crate::response::plain;

/// The largest body accepted. The biggest legitimate one is the confirm page's form approving every
/// key of the largest plan: `MAX_DEACTIVATIONS_PER_RUN` allows 10,000 keys, each `key=`, the
/// 12-digit account, `%3A` (the `:` a browser encodes), a 20-character access key id and a `&`
/// (40 bytes), 400,000 bytes with the token and the decision. A Slack click is smaller: its payload
/// carries keyward's own message, whose lists stop at 25 lines
/// (`keyward_core::message::SLACK_LIST_LINES`), a few tens of KiB once URL-encoded.
pub(crate) const MAX_BODY_BYTES: usize = 512 * 1024;

/// The path Slack posts its buttons to, after the leading run of `/` (see `handler`).
const SLACK_ACTIONS: &str = "slack/actions";
/// The fetch-metadata headers a browser sends with every request (`Sec-Fetch-*`).
const FETCH_METADATA: [&str; 4] = ["sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user"];

/// The refusal of a request that must not be routed, or `None` when it may be. `approval_base_url`
/// is `KEYWARD_APPROVAL_BASE_URL`, when set.
pub(crate) fn refuse(request: &Request, approval_base_url: Option<&str>) -> Option<Response<Body>> {
    if request.body().len() > MAX_BODY_BYTES {
        tracing::warn!(bytes = request.body().len(), "request refused: body over the limit");
        let text = format!("Refused: the request body is over {} KiB. Nothing was decided.", MAX_BODY_BYTES / 1024);
        return Some(plain(StatusCode::PAYLOAD_TOO_LARGE, &text));
    }
    let from_slack = request.uri().path().trim_start_matches('/') == SLACK_ACTIONS;
    if request.method() == Method::POST
        && !from_slack
        && let Err(why) = same_origin(request.headers(), approval_base_url)
    {
        tracing::warn!(refusal = why, "request refused: not posted by the approval page");
        let text = format!("Refused: {why}. Decisions are made on the approval page itself. Nothing was decided.");
        return Some(plain(StatusCode::FORBIDDEN, &text));
    }
    None
}

/// Whether a POST comes from a page of this function, as the browser tells: `Err` names why not.
fn same_origin(headers: &HeaderMap, approval_base_url: Option<&str>) -> Result<(), &'static str> {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    let fetch_metadata = FETCH_METADATA.iter().any(|name| headers.contains_key(*name));
    let same_site = text("sec-fetch-site") == Some("same-origin");
    if fetch_metadata && !same_site {
        return Err("the browser says this request comes from another site (Sec-Fetch-Site)");
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else { return Ok(()) };
    if origin == "null" && same_site {
        return Ok(());
    }
    let own = match approval_base_url {
        Some(base) => origin_of(base),
        None => text(header::HOST.as_str()).map(|host| format!("https://{host}")),
    };
    match own {
        Some(own) if origin.eq_ignore_ascii_case(&own) => Ok(()),
        _ => Err("the request comes from another origin (Origin)"),
    }
}

/// `scheme://authority` of `url`, the way a browser writes an `Origin`.
fn origin_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_of_a_base_url_is_its_scheme_and_authority() {
        assert_eq!(
            origin_of("https://abc.lambda-url.eu-west-1.on.aws/").unwrap(),
            "https://abc.lambda-url.eu-west-1.on.aws"
        );
        assert_eq!(origin_of("http://127.0.0.1:9180/lambda-url/approval").unwrap(), "http://127.0.0.1:9180");
        assert_eq!(origin_of("not a url"), None);
    }
}
