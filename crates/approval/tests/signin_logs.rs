//! What the sign-in logs: its outcomes and refusals, and never a code, a state, a nonce, a PKCE
//! verifier, a cookie value, a token or the client secret. A test binary of its own: tracing caches
//! which call sites a subscriber wants per process, so a scoped subscriber sees every line only when
//! no other test runs beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use support::provider::{self, Forgery, Login};
use support::signin::*;
use support::*;

/// Where the captured log lines go.
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_code_state_nonce_verifier_cookie_token_or_secret_is_logged() {
    let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || Captured(writer.clone()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (w, fake) = oidc_world("alice@example.com").await;
    // A refused sign-in and a stranger log their reasons, and still nothing secret.
    sign_in(&w, &fake, alice(), Forgery::WrongNonce).await;
    sign_in(&w, &fake, Login::new("00u-mallory", "mallory@example.com"), Forgery::None).await;
    let started = start(&w, &approval_path()).await;
    let query = provider::query_of(&started.location);
    let pending: Vec<String> = w.deps.tokens.items.lock().unwrap().values().map(|(v, _)| v.clone()).collect();
    let verifier = pending
        .iter()
        .map(|v| serde_json::from_str::<serde_json::Value>(v).unwrap())
        .find_map(|v| v["verifier"].as_str().map(str::to_owned))
        .unwrap();
    let code = fake.authorize(&started.location, alice(), Forgery::None);
    let back = callback(&w, &code, &started.state, std::slice::from_ref(&started.login)).await;
    let session = cookie_pair(&back, "keyward_session");
    let decided = w.send(post(std::slice::from_ref(&session), &form(&good_token(), "approve", &[ALICE_KEY]))).await;
    assert_eq!(decided.status(), 200);

    let logged = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("sign-in refused") && logged.contains("session opened"), "{logged}");
    let login_secret = started.login.trim_start_matches("keyward_login=").split('.').next().unwrap().to_owned();
    let session_value = session.trim_start_matches("keyward_session=").to_owned();
    for secret in [
        started.state.as_str(),
        query["nonce"].as_str(),
        verifier.as_str(),
        code.as_str(),
        login_secret.as_str(),
        session_value.as_str(),
        ID,
        provider::CLIENT_SECRET,
        "ACCESSTOKENVALUE",
    ] {
        assert!(!logged.contains(secret), "{secret} was logged:\n{logged}");
    }
}
