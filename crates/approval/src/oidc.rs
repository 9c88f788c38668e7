//! The OpenID Connect side of the sign-in (docs/architecture.md, "Approval"): the provider as
//! discovered at init ([`Provider::discover`]), the authorization request, the code exchange and
//! the ID token's verification, and whether the verified person is in `APPROVERS`.
//!
//! openidconnect does the protocol; this module decides what it may accept. The ID token's
//! signature is checked against the provider's JWKS only, with the algorithms the provider
//! advertises minus `none` and every HMAC one: a token "signed" with HS256 keyed by the provider's
//! public key (or by the client secret) is never accepted, and the verifier is a public client's,
//! which holds no symmetric key at all. `iss`, `aud` (and `azp` as the library applies it), `exp`
//! and `iat` with [`CLOCK_SKEW`], and the `nonce` are checked by the library too. The browser side
//! (state, cookies, sessions) is `session`.

use std::borrow::Cow;
use std::fmt;
use std::io;

use chrono::{DateTime, TimeDelta, Utc};
use keyward_aws::error_chain;
use keyward_aws::oidc::ProviderFuture;
use keyward_core::config::{ApproverEntry, OidcSettings, Secret};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, IssuerUrl,
    JwsSigningAlgorithm, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardErrorResponse, TokenResponse,
};

/// How far the provider's clock may be from ours when `exp` and `iat` are judged.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(60);

/// The oldest ID token accepted, by its `iat`: it was issued by the exchange just made.
const MAX_ID_TOKEN_AGE: TimeDelta = TimeDelta::minutes(5);

/// The HTTP client the provider is reached with: keyward_aws's `ProviderHttp`, or a test's fake
/// provider. Its futures are `Send`, so the handler's is.
pub trait ProviderClient:
    Send + Sync + for<'c> AsyncHttpClient<'c, Error = io::Error, Future = ProviderFuture<'c>>
{
}

impl<T> ProviderClient for T where
    T: Send + Sync + for<'c> AsyncHttpClient<'c, Error = io::Error, Future = ProviderFuture<'c>>
{
}

type Client = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointNotSet>;

/// Why the provider cannot be used: the approval function does not start.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The discovery document or the JWKS could not be read, or the document names another issuer.
    #[error("the OpenID provider's discovery at {issuer} failed: {reason}")]
    Discovery { issuer: String, reason: String },
    /// The discovery document has no `token_endpoint`, which the code flow needs.
    #[error("the OpenID provider {0} advertises no token_endpoint")]
    NoTokenEndpoint(String),
    /// `id_token_signing_alg_values_supported` has no public-key algorithm keyward accepts.
    #[error("the OpenID provider {0} signs ID tokens with no public-key algorithm (none and HMAC are refused)")]
    NoPublicKeyAlgorithm(String),
    /// The JWKS has no key to verify a signature with.
    #[error("the OpenID provider {0} publishes no signing key (its jwks_uri has an empty key set)")]
    NoKey(String),
}

/// Why a sign-in did not produce a verified person: nothing is stored, nothing decided.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The redirect URI is not a URL (a misconfigured base URL).
    #[error("the redirect URI is not valid: {0}")]
    RedirectUri(String),
    /// The token endpoint refused the code (a used or foreign code, a wrong PKCE verifier) or
    /// could not be reached.
    #[error("the code exchange failed: {0}")]
    Exchange(String),
    /// The token response has no ID token.
    #[error("the token response has no ID token")]
    NoIdToken,
    /// The ID token does not verify (signature, algorithm, issuer, audience, time, nonce).
    #[error("the ID token was refused: {0}")]
    IdToken(String),
}

/// A person the provider vouched for, by a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`, only when `email_verified` is true.
    pub email: Option<String>,
}

impl Person {
    /// How pages name the person: the verified e-mail, else `sub:<subject>`.
    pub fn shown(&self) -> String {
        self.email.clone().unwrap_or_else(|| format!("sub:{}", self.subject))
    }
}

/// What the provider needs from the browser's side to finish a sign-in; never logged.
pub struct Exchange<'a> {
    /// The `code` of the callback.
    pub code: &'a str,
    /// The PKCE verifier whose challenge went with the authorization request.
    pub verifier: &'a str,
    /// The nonce the ID token must carry.
    pub nonce: &'a str,
    /// `{base}/oidc/callback`, as in the authorization request.
    pub redirect_uri: &'a str,
}

/// The OpenID provider, discovered once per instance, and who may decide.
pub struct Provider<H> {
    client: Client,
    issuer: IssuerUrl,
    client_id: ClientId,
    jwks: CoreJsonWebKeySet,
    algorithms: Vec<CoreJwsSigningAlgorithm>,
    approvers: Vec<ApproverEntry>,
    http: H,
}

impl<H> fmt::Debug for Provider<H> {
    // The client holds the client secret: only the public facts are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id.as_str())
            .field("algorithms", &self.algorithms)
            .field("approvers", &self.approvers.len())
            .finish_non_exhaustive()
    }
}

impl<H: ProviderClient> Provider<H> {
    /// Reads `{issuer}/.well-known/openid-configuration` and the JWKS it names (openidconnect
    /// refuses a document whose `issuer` is not exactly `settings.issuer`), and keeps what the
    /// sign-in needs.
    pub async fn discover(settings: &OidcSettings, client_secret: &Secret, http: H) -> Result<Self, ProviderError> {
        let failed = |reason: String| ProviderError::Discovery { issuer: settings.issuer.clone(), reason };
        let issuer = IssuerUrl::new(settings.issuer.clone()).map_err(|e| failed(format!("not a URL: {e}")))?;
        let metadata =
            CoreProviderMetadata::discover_async(issuer.clone(), &http).await.map_err(|e| failed(error_chain(&e)))?;
        let token_uri =
            metadata.token_endpoint().cloned().ok_or(ProviderError::NoTokenEndpoint(settings.issuer.clone()))?;
        let algorithms: Vec<CoreJwsSigningAlgorithm> =
            metadata.id_token_signing_alg_values_supported().iter().filter(|a| is_public_key(a)).cloned().collect();
        if algorithms.is_empty() {
            return Err(ProviderError::NoPublicKeyAlgorithm(settings.issuer.clone()));
        }
        if metadata.jwks().keys().is_empty() {
            return Err(ProviderError::NoKey(settings.issuer.clone()));
        }
        let client_id = ClientId::new(settings.client_id.clone());
        let client = CoreClient::new(client_id.clone(), issuer.clone(), metadata.jwks().clone())
            .set_client_secret(ClientSecret::new(client_secret.expose().to_owned()))
            .set_auth_uri(metadata.authorization_endpoint().clone())
            .set_token_uri(token_uri);
        Ok(Provider {
            client,
            issuer,
            client_id,
            jwks: metadata.jwks().clone(),
            algorithms,
            approvers: settings.approvers.clone(),
            http,
        })
    }

    /// The authorization request the browser is sent to: `response_type=code`, `client_id`,
    /// `redirect_uri`, `scope=openid email`, `state`, `nonce` and the S256 PKCE challenge of
    /// `verifier`.
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, SignInError> {
        let redirect = redirect_url(redirect_uri)?;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.to_owned()));
        let (state, nonce) = (state.to_owned(), nonce.to_owned());
        let (url, _, _) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(Scope::new("email".to_owned()))
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(redirect))
            .url();
        Ok(url.to_string())
    }

    /// Exchanges the code at the token endpoint (client_secret_basic, with the PKCE verifier) and
    /// verifies the ID token at `now`.
    pub async fn sign_in(&self, exchange: &Exchange<'_>, now: DateTime<Utc>) -> Result<Person, SignInError> {
        let request = self
            .client
            .exchange_code(AuthorizationCode::new(exchange.code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(exchange.verifier.to_owned()))
            .set_redirect_uri(Cow::Owned(redirect_url(exchange.redirect_uri)?));
        let response = request.request_async(&self.http).await.map_err(|e| SignInError::Exchange(token_error(&e)))?;
        let id_token = response.id_token().ok_or(SignInError::NoIdToken)?;
        let verifier =
            CoreIdTokenVerifier::new_public_client(self.client_id.clone(), self.issuer.clone(), self.jwks.clone())
                .set_allowed_algs(self.algorithms.clone())
                // The library expires a token at `exp` sharp: judging it as of CLOCK_SKEW ago
                // accepts a token that expired less than that ago by the provider's clock.
                .set_time_fn(move || now - CLOCK_SKEW)
                .set_issue_time_verifier_fn(move |issued_at| {
                    if issued_at > now + CLOCK_SKEW {
                        Err(format!("issued in the future ({issued_at})"))
                    } else if issued_at < now - MAX_ID_TOKEN_AGE - CLOCK_SKEW {
                        Err(format!("issued too long ago ({issued_at})"))
                    } else {
                        Ok(())
                    }
                });
        let claims = id_token
            .claims(&verifier, &Nonce::new(exchange.nonce.to_owned()))
            .map_err(|e| SignInError::IdToken(e.to_string()))?;
        let email = claims.email().filter(|_| claims.email_verified() == Some(true)).map(|e| e.as_str().to_owned());
        Ok(Person { issuer: claims.issuer().as_str().to_owned(), subject: claims.subject().as_str().to_owned(), email })
    }

    /// Whether `person` is in `APPROVERS` (by verified e-mail, or by `sub:`).
    pub fn admits(&self, person: &Person) -> bool {
        self.approvers.iter().any(|entry| entry.matches(&person.subject, person.email.as_deref()))
    }
}

/// Whether the ID token may be signed with `alg`: a public-key signature, never `none` or a MAC.
fn is_public_key(alg: &CoreJwsSigningAlgorithm) -> bool {
    *alg != CoreJwsSigningAlgorithm::None && !alg.uses_shared_secret()
}

fn redirect_url(uri: &str) -> Result<RedirectUrl, SignInError> {
    RedirectUrl::new(uri.to_owned()).map_err(|e| SignInError::RedirectUri(e.to_string()))
}

/// The token endpoint's refusal by its OAuth error code, or the transport's failure; never the
/// response body (a parse failure's body could hold a token).
fn token_error(err: &RequestTokenError<io::Error, StandardErrorResponse<CoreErrorResponseType>>) -> String {
    match err {
        RequestTokenError::ServerResponse(response) => {
            format!("the token endpoint answered {}", response.error())
        }
        RequestTokenError::Request(e) => error_chain(e),
        RequestTokenError::Parse(e, _) => format!("the token response is not valid at {}", e.path()),
        RequestTokenError::Other(reason) => reason.clone(),
    }
}
