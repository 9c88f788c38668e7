//! The browser side of the OpenID sign-in (docs/architecture.md, "Approval"): the login that
//! starts at the confirm page, the callback that ends it, and the session that lets one person
//! decide one approval.
//!
//! - [`start`]: a fresh `state`, `nonce` and PKCE verifier, kept server-side under
//!   `oidc-state#<sha256(state)>` with the approval id's hash and the hash of a random login
//!   cookie, which binds the state to this browser. The cookie also carries the approval id back to
//!   the callback, so the id never goes to the provider and is never stored. 302 to the provider.
//! - [`callback`]: takes the state (single use) and refuses an unknown, used, expired or foreign
//!   one, then has `oidc` exchange the code and verify the ID token; a person in `APPROVERS` gets
//!   a session, `session#<sha256(cookie)>` holding who they are and the approval id's hash, and a
//!   302 back to the confirm page.
//! - [`signed_in`]: the person of this request's session, if it is live and for this approval.
//!
//! Cookies are HttpOnly, SameSite=Lax, Secure on https, scoped to the base URL's path. A code, a
//! token, a state, a nonce, a verifier or a cookie value is never logged; logs carry an id-hash
//! prefix.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use keyward_core::approval_id::ApprovalId;
use keyward_core::config::{Config, ConfigError, OidcSettings, Secret, vars};
use keyward_core::form::decode_form_urlencoded;
use keyward_core::ports::{Creation, Randomness, TokenStore};
use keyward_core::secrets::KeywardSecrets;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::oidc::{Exchange, Person, Provider, ProviderClient};
use crate::refusal::{Refusal, respond};
use crate::response::html;

/// The path of the provider's redirect back, under the base URL.
pub const CALLBACK_PATH: &str = "/oidc/callback";
/// The cookie that binds a sign-in in progress to the browser that started it.
pub const LOGIN_COOKIE: &str = "keyward_login";
/// The cookie of a signed-in approver's session.
pub const SESSION_COOKIE: &str = "keyward_session";
/// How long a sign-in may take, from the confirm page to the callback.
pub const LOGIN_TTL: TimeDelta = TimeDelta::minutes(10);
/// How long a session lets its approver decide.
pub const SESSION_TTL: TimeDelta = TimeDelta::minutes(15);

const STATE_KIND: &str = "oidc-state";
const SESSION_KIND: &str = "session";

/// The sign-in's configuration, resolved once at init by [`SignInSettings::from_config`].
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// The provider and the approvers under `APPROVER_AUTH=oidc`; `None` under `link`.
    pub oidc: Option<OidcSettings>,
    /// `oidc_client_secret` of keyward's secret; present whenever `oidc` is.
    pub client_secret: Option<Secret>,
    /// `KEYWARD_APPROVAL_BASE_URL`, when set (the local stack). A deployed function cannot be given
    /// its own URL (the template would reference the function from itself), so without it the base
    /// is the Function URL the request came to: `https://{requestContext.domainName}`.
    pub base_url: Option<String>,
}

impl SignInSettings {
    /// The sign-in settings of `config` and keyward's secret: under `oidc`, an error naming the
    /// missing variable, or the missing `oidc_client_secret` key.
    pub fn from_config(config: &Config, secrets: &KeywardSecrets) -> Result<SignInSettings, ConfigError> {
        let oidc = config.oidc_sign_in()?;
        if oidc.is_some() && secrets.oidc_client_secret.is_none() {
            return Err(ConfigError::Missing {
                variable: vars::SECRET_ARN,
                expected: "APPROVER_AUTH=oidc needs keyward's secret with the key oidc_client_secret (the client secret \
                           the OpenID provider gave keyward)",
            });
        }
        Ok(SignInSettings {
            oidc,
            client_secret: secrets.oidc_client_secret.clone(),
            base_url: config.approval_base_url.clone(),
        })
    }
}

/// The sign-in's ports, built once per instance in main.rs; tests pass fakes and a fake provider.
pub struct SignIn<R, H> {
    /// Where states, nonces, verifiers and cookie values come from.
    pub random: R,
    /// The provider under `oidc`; `None` under `link` (whoever holds the link decides).
    pub provider: Option<Provider<H>>,
    /// See [`SignInSettings::base_url`].
    pub base_url: Option<String>,
}

/// A sign-in in progress, stored under `oidc-state#<sha256(state)>`.
#[derive(Serialize, Deserialize)]
struct PendingSignIn {
    nonce: String,
    verifier: String,
    /// The approval id's hash.
    approval: String,
    /// SHA-256 of the login cookie's secret.
    login: String,
}

impl fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignIn").field("approval", &prefix(&self.approval)).finish_non_exhaustive()
    }
}

/// A session, stored under `session#<sha256(cookie)>`.
#[derive(Serialize, Deserialize)]
struct SessionRecord {
    issuer: String,
    subject: String,
    email: Option<String>,
    /// The approval id's hash: the only approval this session opens.
    approval: String,
}

/// Where the function answers: the base URL (no trailing `/`), the cookies' path, and whether
/// cookies are Secure.
struct Base {
    url: String,
    cookie_path: String,
    secure: bool,
}

impl Base {
    fn of<R, H>(sign_in: &SignIn<R, H>, request: &Request) -> Option<Base> {
        let url = match &sign_in.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => match request.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(context)) => {
                    format!("https://{}", context.domain_name.as_deref().filter(|d| !d.is_empty())?)
                }
                _ => return None,
            },
        };
        let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
        let cookie_path = after_scheme.find('/').map_or("/", |at| &after_scheme[at..]).to_owned();
        Some(Base { secure: url.starts_with("https://"), url, cookie_path })
    }

    fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.url)
    }

    fn cookie(&self, name: &str, value: &str, max_age: TimeDelta) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            self.cookie_path,
            max_age.num_seconds()
        )
    }
}

/// The person whose live session for approval `id` this request carries, if any.
pub(crate) async fn signed_in(
    tokens: &impl TokenStore,
    now: DateTime<Utc>,
    request: &Request,
    id: &ApprovalId,
) -> Result<Option<Person>, Refusal> {
    let Some(cookie) = cookie(request, SESSION_COOKIE) else { return Ok(None) };
    let Some(value) = tokens.get_live(&key(SESSION_KIND, &cookie), now).await? else { return Ok(None) };
    let Ok(session) = serde_json::from_str::<SessionRecord>(&value) else { return Ok(None) };
    if session.approval != id.key_hash() {
        return Ok(None);
    }
    Ok(Some(Person { issuer: session.issuer, subject: session.subject, email: session.email }))
}

/// Starts a sign-in for approval `id`: stores the state and sends the browser to the provider.
pub(crate) async fn start<R: Randomness, H: ProviderClient>(
    tokens: &impl TokenStore,
    sign_in: &SignIn<R, H>,
    provider: &Provider<H>,
    now: DateTime<Utc>,
    request: &Request,
    id: &ApprovalId,
) -> Result<Response<Body>, Refusal> {
    let base = Base::of(sign_in, request).ok_or(Refusal::SignInFailed("the approval function's URL is unknown"))?;
    let fresh = || sign_in.random.bytes32().map(hex::encode);
    let (state, nonce, verifier, login) = (fresh()?, fresh()?, fresh()?, fresh()?);
    let url = provider
        .authorization_url(&base.redirect_uri(), &state, &nonce, &verifier)
        .map_err(|_| Refusal::SignInFailed("the approval function's URL is not valid"))?;
    let pending = PendingSignIn { nonce, verifier, approval: id.key_hash(), login: sha256(&login) };
    let value =
        serde_json::to_string(&pending).map_err(|_| Refusal::SignInFailed("the sign-in could not be stored"))?;
    match tokens.put_new(&key(STATE_KIND, &state), &value, now, now + LOGIN_TTL).await? {
        Creation::Created => {}
        Creation::AlreadyExists => return Err(Refusal::SignInFailed("a fresh state was already in use")),
    }
    tracing::info!(id_hash = prefix(&id.key_hash()), action = "sign-in", outcome = "sent to the provider");
    let login_value = format!("{login}.{}", id.expose_secret());
    Ok(redirect(&url, &[base.cookie(LOGIN_COOKIE, &login_value, LOGIN_TTL)]))
}

/// `GET /oidc/callback`: finishes a sign-in. Never fails: every outcome is a response.
pub async fn callback<R: Randomness, H: ProviderClient>(
    tokens: &impl TokenStore,
    sign_in: &SignIn<R, H>,
    now: DateTime<Utc>,
    request: &Request,
) -> Response<Body> {
    let login = cookie(request, LOGIN_COOKIE);
    let id = login.as_deref().and_then(|v| v.split_once('.')).and_then(|(_, id)| ApprovalId::parse(id).ok());
    let id_hash = id.as_ref().map(ApprovalId::key_hash);
    let id_hash = prefix(id_hash.as_deref().unwrap_or_default());
    match finish(tokens, sign_in, now, request, login.as_deref(), id.as_ref()).await {
        Ok(response) => {
            tracing::info!(id_hash, action = "sign-in", outcome = "session opened");
            response
        }
        Err(refusal) => {
            tracing::info!(
                id_hash,
                action = "sign-in",
                refusal = %refusal,
                status = refusal.status().as_u16(),
                "sign-in refused"
            );
            respond(Err(refusal))
        }
    }
}

async fn finish<R: Randomness, H: ProviderClient>(
    tokens: &impl TokenStore,
    sign_in: &SignIn<R, H>,
    now: DateTime<Utc>,
    request: &Request,
    login: Option<&str>,
    id: Option<&ApprovalId>,
) -> Result<Response<Body>, Refusal> {
    let Some(provider) = &sign_in.provider else { return Err(Refusal::SignInFailed("sign-in is not enabled")) };
    let query = decode_form_urlencoded(request.uri().query().unwrap_or_default().as_bytes())
        .map_err(|_| Refusal::SignInFailed("the callback's query is not valid"))?;
    if query.iter().any(|(name, _)| name == "error") {
        return Err(Refusal::SignInFailed("the provider did not sign the person in"));
    }
    let (Some(code), Some(state)) = (single(&query, "code"), single(&query, "state")) else {
        return Err(Refusal::SignInFailed("the callback must carry one code and one state"));
    };
    // Taken before anything else is judged: whatever follows, this state cannot be used again.
    let pending = tokens.take(&key(STATE_KIND, state), now).await?;
    let pending = pending
        .and_then(|value| serde_json::from_str::<PendingSignIn>(&value).ok())
        .ok_or(Refusal::SignInFailed("the sign-in is unknown, already used or expired"))?;
    let (Some(login), Some(id)) = (login, id) else {
        return Err(Refusal::SignInFailed("this browser did not start the sign-in"));
    };
    let secret = login.split_once('.').map_or("", |(secret, _)| secret);
    if sha256(secret) != pending.login || id.key_hash() != pending.approval {
        return Err(Refusal::SignInFailed("this browser did not start the sign-in"));
    }
    let base = Base::of(sign_in, request).ok_or(Refusal::SignInFailed("the approval function's URL is unknown"))?;
    let redirect_uri = base.redirect_uri();
    let exchange = Exchange { code, verifier: &pending.verifier, nonce: &pending.nonce, redirect_uri: &redirect_uri };
    let person = provider.sign_in(&exchange, now).await.map_err(Refusal::SignInRejected)?;
    if !provider.admits(&person) {
        return Err(Refusal::NotAnApprover { shown: person.shown() });
    }
    let cookie_value = hex::encode(sign_in.random.bytes32()?);
    let session = SessionRecord {
        issuer: person.issuer,
        subject: person.subject,
        email: person.email,
        approval: pending.approval,
    };
    let value =
        serde_json::to_string(&session).map_err(|_| Refusal::SignInFailed("the session could not be stored"))?;
    match tokens.put_new(&key(SESSION_KIND, &cookie_value), &value, now, now + SESSION_TTL).await? {
        Creation::Created => {}
        Creation::AlreadyExists => return Err(Refusal::SignInFailed("a fresh session was already in use")),
    }
    let page = format!("{}/approvals/{}", base.url, id.expose_secret());
    Ok(redirect(
        &page,
        &[base.cookie(SESSION_COOKIE, &cookie_value, SESSION_TTL), base.cookie(LOGIN_COOKIE, "", TimeDelta::zero())],
    ))
}

/// A 302 to `location`, setting `cookies`, with the headers every page carries.
fn redirect(location: &str, cookies: &[String]) -> Response<Body> {
    let mut response = html(StatusCode::FOUND, crate::page::notice("Signing in", &[], &[]));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The value of cookie `name` in the request's `Cookie` headers (the first, when repeated).
fn cookie(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// The value of the one field `name` of the query; `None` when absent or repeated.
fn single<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    let mut values = query.iter().filter(|(n, _)| n == name);
    match (values.next(), values.next()) {
        (Some((_, value)), None) if !value.is_empty() => Some(value),
        _ => None,
    }
}

fn key(kind: &str, secret: &str) -> String {
    format!("{kind}#{}", sha256(secret))
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn prefix(hash: &str) -> &str {
    hash.get(..8).unwrap_or_default()
}
