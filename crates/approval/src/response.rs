//! The HTTP responses of the approval function: the headers every page carries (a strict content
//! security policy, no caching, no framing, no referrer), plain text for Slack's signature
//! refusals, and an empty 200 for a Slack interaction (Slack's acknowledgement).

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

use crate::page;

/// No script, no outside resource, forms post only to this function, never framed.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn base_response(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// An HTML page with the headers every page carries.
pub(crate) fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut response = base_response(status, "text/html; charset=utf-8", Body::Text(page));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// 405 with the page that says which methods `allow` names, and the `Allow` header.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = html(
        StatusCode::METHOD_NOT_ALLOWED,
        page::notice("Method not allowed", &[format!("This address accepts {allow} only.")], &[]),
    );
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A plain-text answer (to Slack, for a request that is not Slack's).
pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Body> {
    base_response(status, "text/plain; charset=utf-8", Body::Text(text.to_owned()))
}

/// No body: Slack was answered through its `response_url`, or there is nothing to say.
pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
