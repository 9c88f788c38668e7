//! The HTTP client of the OpenID sign-in ([`ProviderHttp`]): openidconnect's `AsyncHttpClient`
//! over the workspace's reqwest client, for the provider's discovery document, its JWKS (both read
//! at init) and its token endpoint (the code exchange).
//!
//! openidconnect is built without its default features, which would bring reqwest 0.12 and a
//! second TLS setup beside the one every other HTTPS call of keyward uses (reqwest 0.13, rustls
//! with aws-lc-rs, the platform's roots): this is the same client as `slack`'s, so the approval
//! binary links one HTTP stack. Redirects are not followed (OAuth 2.0 clients must not: a
//! redirected token request would carry the code and the client's credentials elsewhere), every
//! request has a timeout, and a response body is read up to a bound. A failure names the endpoint's
//! host and what went wrong, never the request's body (the code, the verifier) or its
//! `Authorization` header (the client secret).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

use crate::error::error_chain;

/// The whole-request timeout of one call to the provider.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The largest response body read from the provider: discovery documents and key sets are a few
/// kilobytes, token responses less.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The future [`ProviderHttp`] (and any test double) returns for one request.
pub type ProviderFuture<'c> = Pin<Box<dyn Future<Output = Result<HttpResponse, io::Error>> + Send + 'c>>;

/// The client the sign-in talks to the OpenID provider with; build it once per process.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
}

impl ProviderHttp {
    /// A client with a 5 s timeout that follows no redirect.
    pub fn new() -> Result<ProviderHttp, io::Error> {
        let client =
            reqwest::Client::builder().timeout(TIMEOUT).redirect(reqwest::redirect::Policy::none()).build().map_err(
                |e| io::Error::other(format!("cannot build the HTTP client: {}", error_chain(&e.without_url()))),
            )?;
        Ok(ProviderHttp { client })
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, io::Error> {
        let host = request.uri().host().unwrap_or_default().to_owned();
        let failed = |what: &str, err: reqwest::Error| {
            io::Error::other(format!("{what} at {host}: {}", error_chain(&err.without_url())))
        };
        let request = reqwest::Request::try_from(request).map_err(|e| failed("invalid request", e))?;
        let mut response = self.client.execute(request).await.map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            failed(kind, e)
        })?;
        let mut builder = openidconnect::http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed("reading the response failed", e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(io::Error::other(format!("the response from {host} is over {MAX_BODY_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body).map_err(|e| io::Error::other(format!("invalid response from {host}: {e}")))
    }
}

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = io::Error;
    type Future = ProviderFuture<'c>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_names_the_host_and_not_the_request() {
        let http = ProviderHttp::new().unwrap();
        let request = openidconnect::http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:1/token")
            .header("authorization", "Basic U0VDUkVUVkFMVUU=")
            .body(b"code=CODEVALUE&code_verifier=VERIFIERVALUE".to_vec())
            .unwrap();
        let err = http.call(request).await.unwrap_err().to_string();
        assert!(err.contains("127.0.0.1"), "{err}");
        for secret in ["CODEVALUE", "VERIFIERVALUE", "U0VDUkVUVkFMVUU"] {
            assert!(!err.contains(secret), "{err}");
        }
    }
}
