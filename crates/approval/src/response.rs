//! The HTTP responses of the approval function: the headers every response carries, whoever built
//! it ([`harden`]: HSTS, a strict content security policy, cross-origin isolation, no browser
//! feature, no caching, no sniffing, no framing, no referrer), HTML pages, plain text for Slack's
//! refusals, and an empty 200 for a Slack interaction (Slack's acknowledgement).

use lambda_http::http::{HeaderName, HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

use crate::page;

/// No script, no outside resource, forms post only to this function, never framed.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Two years, the subdomains included: the Function URL is https only, and a browser that once
/// reached it never tries plain http for it again.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";
/// Every powerful feature a page could ask for, granted to no origin: the pages need none.
const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), bluetooth=(), camera=(), clipboard-read=(), \
     clipboard-write=(), display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), \
     hid=(), idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), \
     publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), web-share=(), xr-spatial-tracking=()";

/// The headers of every response, HTML or not: a redirect or a plain-text refusal is as much a
/// page of this origin as the confirm page.
const EVERY_RESPONSE: [(HeaderName, &str); 9] = [
    (header::STRICT_TRANSPORT_SECURITY, STRICT_TRANSPORT_SECURITY),
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
    (HeaderName::from_static("permissions-policy"), PERMISSIONS_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CACHE_CONTROL, "no-store"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// `response` with the headers every response carries ([`EVERY_RESPONSE`]), replacing any of the
/// same name. `handler::handle` applies it to whatever a route answered.
pub(crate) fn harden(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    for (name, value) in EVERY_RESPONSE {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn typed_response(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An HTML page.
pub(crate) fn html(status: StatusCode, page: String) -> Response<Body> {
    typed_response(status, "text/html; charset=utf-8", Body::Text(page))
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

/// A plain-text answer (to Slack, or for a request refused before it is routed).
pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Body> {
    typed_response(status, "text/plain; charset=utf-8", Body::Text(text.to_owned()))
}

/// No body: Slack was answered through its `response_url`, or there is nothing to say.
pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}
