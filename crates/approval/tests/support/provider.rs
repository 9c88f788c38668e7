//! An OpenID provider in the test process: the HTTP-client side the approval function's `Provider`
//! talks to, answering discovery, the JWKS and the token endpoint as a real provider does, with ID
//! tokens signed by a test RSA key (`provider_key.pem`, a fixture made for these tests only).
//!
//! The browser's part (the authorization endpoint) is [`FakeProvider::authorize`]: given the
//! redirect the confirm page sent, it issues a code for a person. The token endpoint checks the
//! client's credentials (client_secret_basic), the code (single use), the redirect URI and the PKCE
//! verifier against the challenge, and answers `invalid_grant` otherwise. A [`Forgery`] makes it
//! answer with an ID token that a correct relying party must refuse.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use keyward_aws::oidc::ProviderFuture;
use keyward_core::form::decode_form_urlencoded;
use openidconnect::core::{
    CoreHmacKey, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AsyncHttpClient, Audience, EmptyAdditionalClaims, EndUserEmail, HttpRequest, HttpResponse, IssuerUrl, JsonWebKeyId,
    Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ISSUER: &str = "https://idp.example.com";
pub const CLIENT_ID: &str = "keyward-test-client";
pub const CLIENT_SECRET: &str = "CLIENTSECRETVALUE";
pub const AUTHORIZATION_ENDPOINT: &str = "https://idp.example.com/authorize";
const TOKEN_ENDPOINT: &str = "https://idp.example.com/token";
const JWKS_URI: &str = "https://idp.example.com/jwks";
const KEY_PEM: &str = include_str!("provider_key.pem");
const PUBLIC_KEY_PEM: &str = include_str!("provider_key.pub.pem");

/// Who signs in at the provider.
#[derive(Debug, Clone)]
pub struct Login {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

impl Login {
    pub fn new(subject: &str, email: &str) -> Login {
        Login { subject: subject.into(), email: Some(email.into()), email_verified: true }
    }
}

/// An ID token the token endpoint answers with instead of a correct one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// A correct token.
    None,
    /// A correct token whose payload was changed after signing (another subject).
    TamperedPayload,
    /// Signed correctly, for another client.
    WrongAudience,
    /// Signed correctly, naming another issuer.
    WrongIssuer,
    /// Signed correctly, expired an hour ago.
    Expired,
    /// Signed correctly, with another nonce.
    WrongNonce,
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256 keyed by the provider's public key (the RS256/HS256 confusion).
    Hs256WithPublicKey,
    /// HS256 keyed by the client secret, which a confidential client's verifier would accept.
    Hs256WithClientSecret,
}

struct IssuedCode {
    challenge: String,
    nonce: String,
    redirect_uri: String,
    login: Login,
    forgery: Forgery,
}

/// The provider; tests keep it behind an `Arc` ([`SharedProvider`]) to poke it after discovery.
pub struct FakeProvider {
    /// The issuer the discovery document names (normally [`ISSUER`]).
    pub discovered_issuer: String,
    /// `id_token_signing_alg_values_supported`.
    pub algorithms: Vec<&'static str>,
    key: CoreRsaPrivateSigningKey,
    codes: Mutex<BTreeMap<String, IssuedCode>>,
    issued: AtomicUsize,
    /// Token requests received.
    pub token_requests: AtomicUsize,
    /// The clock the provider stamps tokens with.
    pub now: Mutex<DateTime<Utc>>,
}

impl FakeProvider {
    pub fn new(now: DateTime<Utc>) -> FakeProvider {
        FakeProvider {
            discovered_issuer: ISSUER.into(),
            algorithms: vec!["RS256"],
            key: CoreRsaPrivateSigningKey::from_pem(KEY_PEM, Some(JsonWebKeyId::new("test-key".into()))).unwrap(),
            codes: Mutex::new(BTreeMap::new()),
            issued: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            now: Mutex::new(now),
        }
    }

    /// The authorization endpoint: `location` is the redirect the confirm page sent. Returns the
    /// code the provider sends the browser back with (to the query's `redirect_uri`).
    pub fn authorize(&self, location: &str, login: Login, forgery: Forgery) -> String {
        let query = query_of(location);
        assert!(location.starts_with(&format!("{AUTHORIZATION_ENDPOINT}?")), "{location}");
        assert_eq!(query.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(query.get("client_id").map(String::as_str), Some(CLIENT_ID));
        assert_eq!(query.get("code_challenge_method").map(String::as_str), Some("S256"));
        let code = format!("code-{}", self.issued.fetch_add(1, Ordering::SeqCst));
        self.codes.lock().unwrap().insert(
            code.clone(),
            IssuedCode {
                challenge: query["code_challenge"].clone(),
                nonce: query["nonce"].clone(),
                redirect_uri: query["redirect_uri"].clone(),
                login,
                forgery,
            },
        );
        code
    }

    fn answer(&self, request: HttpRequest) -> HttpResponse {
        let uri = request.uri().to_string();
        match uri.as_str() {
            "https://idp.example.com/.well-known/openid-configuration" => json_response(200, &self.discovery()),
            JWKS_URI => {
                let jwks = CoreJsonWebKeySet::new(vec![self.key.as_verification_key()]);
                json_response(200, &serde_json::to_value(jwks).unwrap())
            }
            TOKEN_ENDPOINT => {
                self.token_requests.fetch_add(1, Ordering::SeqCst);
                match self.token(&request) {
                    Ok(body) => json_response(200, &body),
                    Err(error) => json_response(400, &json!({ "error": error })),
                }
            }
            _ => json_response(404, &json!({ "error": "not_found" })),
        }
    }

    fn discovery(&self) -> Value {
        json!({
            "issuer": self.discovered_issuer,
            "authorization_endpoint": AUTHORIZATION_ENDPOINT,
            "token_endpoint": TOKEN_ENDPOINT,
            "jwks_uri": JWKS_URI,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": self.algorithms,
        })
    }

    /// The token endpoint, as a real provider checks a code exchange.
    fn token(&self, request: &HttpRequest) -> Result<Value, &'static str> {
        let expected = format!("Basic {}", base64(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes(), false));
        let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok());
        if authorization != Some(expected.as_str()) {
            return Err("invalid_client");
        }
        let form: BTreeMap<String, String> = decode_form_urlencoded(request.body()).unwrap().into_iter().collect();
        if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return Err("unsupported_grant_type");
        }
        let issued =
            form.get("code").and_then(|code| self.codes.lock().unwrap().remove(code)).ok_or("invalid_grant")?;
        if form.get("redirect_uri") != Some(&issued.redirect_uri) {
            return Err("invalid_grant");
        }
        let verifier = form.get("code_verifier").ok_or("invalid_grant")?;
        if base64(&Sha256::digest(verifier.as_bytes()), true) != issued.challenge {
            return Err("invalid_grant");
        }
        Ok(json!({
            "access_token": "ACCESSTOKENVALUE",
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(&issued),
        }))
    }

    fn id_token(&self, issued: &IssuedCode) -> String {
        let now = *self.now.lock().unwrap();
        let forgery = issued.forgery;
        let issuer = if forgery == Forgery::WrongIssuer { "https://evil.example.com" } else { ISSUER };
        let audience = if forgery == Forgery::WrongAudience { "another-client" } else { CLIENT_ID };
        let (issued_at, expires) = if forgery == Forgery::Expired {
            (now - TimeDelta::hours(2), now - TimeDelta::hours(1))
        } else {
            (now, now + TimeDelta::minutes(5))
        };
        let nonce = if forgery == Forgery::WrongNonce { "another-nonce".to_owned() } else { issued.nonce.clone() };
        let claims = |subject: &str| {
            let mut standard = StandardClaims::new(SubjectIdentifier::new(subject.into()));
            if let Some(email) = &issued.login.email {
                standard = standard
                    .set_email(Some(EndUserEmail::new(email.clone())))
                    .set_email_verified(Some(issued.login.email_verified));
            }
            CoreIdTokenClaims::new(
                IssuerUrl::new(issuer.into()).unwrap(),
                vec![Audience::new(audience.into())],
                expires,
                issued_at,
                standard,
                EmptyAdditionalClaims {},
            )
            .set_nonce(Some(Nonce::new(nonce.clone())))
        };
        let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let hs256 = CoreJwsSigningAlgorithm::HmacSha256;
        let subject = &issued.login.subject;
        match forgery {
            Forgery::TamperedPayload => {
                let signed = CoreIdToken::new(claims(subject), &self.key, rs256, None, None).unwrap().to_string();
                let parts: Vec<&str> = signed.split('.').collect();
                let forged = base64(serde_json::to_string(&claims("00u-someone-else")).unwrap().as_bytes(), true);
                format!("{}.{forged}.{}", parts[0], parts[2])
            }
            Forgery::AlgNone => {
                let header = base64(br#"{"alg":"none","typ":"JWT"}"#, true);
                let payload = base64(serde_json::to_string(&claims(subject)).unwrap().as_bytes(), true);
                format!("{header}.{payload}.")
            }
            Forgery::Hs256WithPublicKey => {
                CoreIdToken::new(claims(subject), &CoreHmacKey::new(PUBLIC_KEY_PEM), hs256, None, None)
                    .unwrap()
                    .to_string()
            }
            Forgery::Hs256WithClientSecret => {
                CoreIdToken::new(claims(subject), &CoreHmacKey::new(CLIENT_SECRET), hs256, None, None)
                    .unwrap()
                    .to_string()
            }
            _ => CoreIdToken::new(claims(subject), &self.key, rs256, None, None).unwrap().to_string(),
        }
    }
}

/// The provider behind an `Arc`, as the approval function's HTTP client.
#[derive(Clone)]
pub struct SharedProvider(pub std::sync::Arc<FakeProvider>);

impl<'c> AsyncHttpClient<'c> for SharedProvider {
    type Error = io::Error;
    type Future = ProviderFuture<'c>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        let response = self.0.answer(request);
        Box::pin(async move { Ok(response) })
    }
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    openidconnect::http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .unwrap()
}

/// The decoded query of `url`.
pub fn query_of(url: &str) -> BTreeMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    decode_form_urlencoded(query.as_bytes()).unwrap().into_iter().collect()
}

/// Base64, URL-safe without padding (`url`) or standard with padding.
fn base64(bytes: &[u8], url: bool) -> String {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}
