//! The OpenID sign-in on the confirm page (`APPROVER_AUTH=oidc`), end to end through the handler
//! with an in-process provider (`support::provider`): the redirect, the callback, the session, and
//! every way a sign-in must fail without deciding anything or opening a session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ::approval::oidc::{Provider, ProviderError};
use chrono::TimeDelta;
use keyward_core::approval_id::ApprovalId;
use keyward_core::config::{Config, OidcSettings, Secret};
use keyward_core::decision::Approver;
use support::provider::{self, FakeProvider, Forgery, Login, SharedProvider};
use support::signin::*;
use support::*;

#[tokio::test]
async fn an_approver_signs_in_and_decides_and_the_decision_names_them() {
    let (w, fake) = oidc_world("alice@example.com").await;

    // GIVEN the confirm page without a session: it sends the browser to the provider
    let started = start(&w, &approval_path()).await;
    let login_cookie = set_cookies(&w.send(browser("GET", &approval_path(), "", &[], None)).await).remove(0);
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/keyward", "Max-Age=600"] {
        assert!(login_cookie.contains(attribute), "{attribute}: {login_cookie}");
    }

    // WHEN alice signs in there and comes back
    let code = fake.authorize(&started.location, alice(), Forgery::None);
    let back = callback(&w, &code, &started.state, std::slice::from_ref(&started.login)).await;

    // THEN she is sent back to the confirm page with a session, the login cookie cleared
    assert_eq!(back.status(), 302, "{}", text(&back));
    assert_eq!(header(&back, "location"), format!("{BASE_URL}/approvals/{ID}"));
    let cookies = set_cookies(&back);
    let session_cookie = cookies.iter().find(|c| c.starts_with("keyward_session=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/keyward", "Max-Age=900"] {
        assert!(session_cookie.contains(attribute), "{attribute}: {session_cookie}");
    }
    assert!(cookies.iter().any(|c| c.starts_with("keyward_login=;") && c.contains("Max-Age=0")), "{cookies:?}");
    let session = cookie_pair(&back, "keyward_session");

    // AND the page names her
    let page = w.send(browser("GET", &approval_path(), "", std::slice::from_ref(&session), None)).await;
    assert_eq!(page.status(), 200, "{}", text(&page));
    assert!(text(&page).contains("Signed in as <strong>Alice@Example.com</strong>"), "{}", text(&page));
    assert!(!text(&page).contains("Anyone who holds this link"));

    // AND her decision is recorded under her name
    let response = w.send(post(&[session], &form(&good_token(), "approve", &[ALICE_KEY]))).await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    let decision = w.decision();
    assert_eq!(
        decision.decided_by,
        Approver::Oidc {
            issuer: provider::ISSUER.into(),
            subject: ALICE_SUB.into(),
            email: Some("Alice@Example.com".into()),
            source_ip: Some(SOURCE_IP.into()),
            user_agent: Some(USER_AGENT.into()),
        }
    );
    assert_eq!(w.callbacks().len(), 1);
}

#[tokio::test]
async fn the_redirect_carries_every_parameter_and_never_the_approval_id() {
    let (w, _) = oidc_world("alice@example.com").await;
    let started = start(&w, &approval_path()).await;
    let query = provider::query_of(&started.location);
    assert!(started.location.starts_with(&format!("{}?", provider::AUTHORIZATION_ENDPOINT)));
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], provider::CLIENT_ID);
    assert_eq!(query["redirect_uri"], format!("{BASE_URL}/oidc/callback"));
    assert_eq!(query["scope"], "openid email");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43, "a SHA-256, base64url");
    assert!(query["state"].len() >= 32 && query["nonce"].len() >= 32, "{query:?}");
    assert_ne!(query["state"], query["nonce"]);
    // The approval id, and its hash, go nowhere near the provider; the store keeps only its hash.
    let id_hash = id_hash();
    assert!(!started.location.contains(ID) && !started.location.contains(&id_hash), "{}", started.location);
    let stored: Vec<String> = w.deps.tokens.items.lock().unwrap().values().map(|(v, _)| v.clone()).collect();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(ID) && stored[0].contains(&id_hash), "{}", stored[0]);
    assert!(w.tokens()[0].starts_with("oidc-state#") && !w.tokens()[0].contains(&query["state"]));
    // Each visit starts a fresh sign-in.
    let again = start(&w, &approval_path()).await;
    assert_ne!(again.state, started.state);
    // HEAD starts it too, without a body.
    let head = w.send(browser("HEAD", &approval_path(), "", &[], None)).await;
    assert_eq!(head.status(), 302);
    assert!(head.body().is_empty());
}

#[tokio::test]
async fn a_stranger_gets_403_and_no_session_and_decides_nothing() {
    let (w, fake) = oidc_world("alice@example.com").await;
    let response = sign_in(&w, &fake, Login::new("00u-mallory", "mallory@example.com"), Forgery::None).await;
    assert_eq!(response.status(), 403, "{}", text(&response));
    assert!(text(&response).contains("mallory@example.com") && text(&response).contains("Nothing was decided"));
    assert!(set_cookies(&response).iter().all(|c| !c.starts_with("keyward_session=")));
    assert_eq!(sessions(&w), 0);
    w.assert_nothing_decided();
}

#[tokio::test]
async fn an_unverified_email_is_not_an_approver() {
    let (w, fake) = oidc_world("alice@example.com").await;
    let login = Login { email_verified: false, ..alice() };
    let response = sign_in(&w, &fake, login, Forgery::None).await;
    assert_eq!(response.status(), 403, "{}", text(&response));
    assert_eq!(sessions(&w), 0);
    w.assert_nothing_decided();
}

#[tokio::test]
async fn a_sub_entry_admits_its_subject_without_an_email() {
    let (w, fake) = oidc_world("bob@example.com, sub:00u-alice").await;
    let login = Login { email: None, ..alice() };
    let back = sign_in(&w, &fake, login, Forgery::None).await;
    assert_eq!(back.status(), 302, "{}", text(&back));
    let session = cookie_pair(&back, "keyward_session");
    let page = w.send(browser("GET", &approval_path(), "", std::slice::from_ref(&session), None)).await;
    assert!(text(&page).contains("Signed in as <strong>sub:00u-alice</strong>"), "{}", text(&page));
    let response = w.send(post(&[session], &form(&good_token(), "reject", &[]))).await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    let decided_by = w.decision().decided_by;
    assert!(matches!(decided_by, Approver::Oidc { ref subject, email: None, .. } if subject == ALICE_SUB));
}

#[tokio::test]
async fn every_forged_id_token_is_refused_without_a_session_or_a_decision() {
    for forgery in [
        Forgery::TamperedPayload,
        Forgery::WrongAudience,
        Forgery::WrongIssuer,
        Forgery::Expired,
        Forgery::WrongNonce,
        Forgery::AlgNone,
        Forgery::Hs256WithPublicKey,
        Forgery::Hs256WithClientSecret,
    ] {
        // The provider even advertises HS256 and none: keyward accepts neither.
        let mut fake = FakeProvider::new(now());
        fake.algorithms = vec!["RS256", "HS256", "none"];
        let (w, fake) = oidc_world_with("alice@example.com", fake).await;
        let response = sign_in(&w, &fake, alice(), forgery).await;
        assert_eq!(response.status(), 400, "{forgery:?}: {}", text(&response));
        assert!(text(&response).contains("Nothing was decided"), "{forgery:?}");
        assert!(set_cookies(&response).iter().all(|c| !c.starts_with("keyward_session=")), "{forgery:?}");
        assert_eq!(sessions(&w), 0, "{forgery:?}");
        assert_eq!(fake.token_requests.load(Ordering::SeqCst), 1, "{forgery:?}");
        let post = w.send(post(&[], &form(&good_token(), "approve", &[ALICE_KEY]))).await;
        assert_eq!(post.status(), 403, "{forgery:?}");
        w.assert_nothing_decided();
    }
}

#[tokio::test]
async fn a_token_expired_within_the_clock_skew_is_accepted_and_one_past_it_is_not() {
    // The provider's clock runs ahead: its token, valid 5 minutes, expired 30 s ago by ours.
    let fake = FakeProvider::new(now() - TimeDelta::minutes(5) - TimeDelta::seconds(30));
    let (w, fake) = oidc_world_with("alice@example.com", fake).await;
    assert_eq!(sign_in(&w, &fake, alice(), Forgery::None).await.status(), 302);
    *fake.now.lock().unwrap() = now() - TimeDelta::minutes(5) - TimeDelta::seconds(61);
    assert_eq!(sign_in(&w, &fake, alice(), Forgery::None).await.status(), 400);
}

#[tokio::test]
async fn a_state_is_single_use() {
    let (w, fake) = oidc_world("alice@example.com").await;
    let started = start(&w, &approval_path()).await;
    let code = fake.authorize(&started.location, alice(), Forgery::None);
    let cookies = [started.login.clone()];
    assert_eq!(callback(&w, &code, &started.state, &cookies).await.status(), 302);
    let replay = callback(&w, &code, &started.state, &cookies).await;
    assert_eq!(replay.status(), 400, "{}", text(&replay));
    assert_eq!(sessions(&w), 1);
    assert_eq!(fake.token_requests.load(Ordering::SeqCst), 1, "a replayed state never reaches the provider");
}

#[tokio::test]
async fn a_state_started_in_another_browser_is_refused() {
    let (w, fake) = oidc_world("alice@example.com").await;
    let victim = start(&w, &approval_path()).await;
    let attacker = start(&w, &approval_path()).await;
    let code = fake.authorize(&victim.location, alice(), Forgery::None);
    // The victim's state and code, with the attacker's login cookie, or with none.
    for cookies in [vec![attacker.login.clone()], vec![]] {
        let started_elsewhere = start(&w, &approval_path()).await;
        let code_elsewhere = fake.authorize(&started_elsewhere.location, alice(), Forgery::None);
        let response = callback(&w, &code_elsewhere, &started_elsewhere.state, &cookies).await;
        assert_eq!(response.status(), 400, "{cookies:?}: {}", text(&response));
    }
    let response = callback(&w, &code, &victim.state, &[attacker.login]).await;
    assert_eq!(response.status(), 400, "{}", text(&response));
    assert_eq!(sessions(&w), 0);
    assert_eq!(fake.token_requests.load(Ordering::SeqCst), 0, "a foreign state never reaches the provider");
    w.assert_nothing_decided();
}

#[tokio::test]
async fn an_unknown_or_expired_state_and_a_provider_error_are_refused() {
    let (w, fake) = oidc_world("alice@example.com").await;
    let started = start(&w, &approval_path()).await;
    let code = fake.authorize(&started.location, alice(), Forgery::None);
    let cookies = [started.login.clone()];
    assert_eq!(callback(&w, &code, "not-a-state", &cookies).await.status(), 400);
    let late = browser("GET", "/oidc/callback", &format!("code={code}&state={}", started.state), &cookies, None);
    assert_eq!(w.send_at(late, now() + TimeDelta::minutes(10)).await.status(), 400);
    let again = start(&w, &approval_path()).await;
    let denied =
        browser("GET", "/oidc/callback", &format!("error=access_denied&state={}", again.state), &[again.login], None);
    assert_eq!(w.send(denied).await.status(), 400);
    assert_eq!(sessions(&w), 0);
    assert_eq!(fake.token_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_code_issued_for_another_pkce_challenge_is_refused_by_the_token_endpoint() {
    let (w, fake) = oidc_world("alice@example.com").await;
    let mine = start(&w, &approval_path()).await;
    let other = start(&w, &approval_path()).await;
    // A code obtained with the other flow's challenge, redeemed with this flow's state and verifier.
    let injected = fake.authorize(&other.location, alice(), Forgery::None);
    let response = callback(&w, &injected, &mine.state, &[mine.login]).await;
    assert_eq!(response.status(), 400, "{}", text(&response));
    assert_eq!(fake.token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(sessions(&w), 0);
    w.assert_nothing_decided();
}

#[tokio::test]
async fn a_session_for_one_approval_does_not_open_another() {
    let (w, fake) = oidc_world("alice@example.com").await;
    let other_id = ApprovalId::from_random_bytes([7; 32]);
    w.set_record(keyward_core::ports::ApprovalRecord { id_hash: other_id.key_hash(), ..pending_record() });
    let session = cookie_pair(&sign_in(&w, &fake, alice(), Forgery::None).await, "keyward_session");
    let other_path = format!("/approvals/{}", other_id.expose_secret());
    let page = w.send(browser("GET", &other_path, "", std::slice::from_ref(&session), None)).await;
    assert_eq!(page.status(), 302, "another approval asks for its own sign-in");
    let body = form(&approval_id_form_token(&other_id), "approve", &[ALICE_KEY]);
    let response = w.send(browser("POST", &other_path, "", &[session], Some(&body))).await;
    assert_eq!(response.status(), 403, "{}", text(&response));
    assert_eq!(w.decides(), 0);
    assert!(w.callbacks().is_empty());
}

fn approval_id_form_token(id: &ApprovalId) -> String {
    keyward_core::approval_id::form_token(id, NONCE)
}

#[tokio::test]
async fn a_post_without_a_session_decides_nothing_and_is_never_redirected() {
    let (w, fake) = oidc_world("alice@example.com").await;
    let body = form(&good_token(), "approve", &[ALICE_KEY, BOB_KEY]);
    for cookies in [vec![], vec!["keyward_session=0123456789abcdef".to_owned()]] {
        let response = w.send(post(&cookies, &body)).await;
        assert_eq!(response.status(), 403, "{cookies:?}: {}", text(&response));
        assert!(header(&response, "location").is_empty());
        assert!(text(&response).contains("Nothing was decided"));
    }
    // A session that has expired is no session.
    let session = cookie_pair(&sign_in(&w, &fake, alice(), Forgery::None).await, "keyward_session");
    let late = w.send_at(post(&[session], &body), now() + TimeDelta::minutes(15)).await;
    assert_eq!(late.status(), 403, "{}", text(&late));
    w.assert_nothing_decided();
}

#[tokio::test]
async fn under_link_the_page_says_anyone_holding_the_link_decides() {
    let w = World::new();
    let page = w.send(get(&approval_path())).await;
    assert_eq!(page.status(), 200);
    assert!(text(&page).contains("Anyone who holds this link can decide."), "{}", text(&page));
    let callback = w.send(get("/oidc/callback?code=x&state=y")).await;
    assert_eq!(callback.status(), 400, "no sign-in under link");
}

#[tokio::test]
async fn a_provider_that_names_another_issuer_or_signs_only_with_hmac_is_refused_at_init() {
    let settings = OidcSettings {
        issuer: provider::ISSUER.into(),
        client_id: provider::CLIENT_ID.into(),
        approvers: approvers("alice@example.com"),
    };
    let secret = Secret::new(provider::CLIENT_SECRET);
    let mut other_issuer = FakeProvider::new(now());
    other_issuer.discovered_issuer = format!("{}/", provider::ISSUER);
    let err = Provider::discover(&settings, &secret, SharedProvider(Arc::new(other_issuer))).await.unwrap_err();
    assert!(matches!(err, ProviderError::Discovery { .. }), "{err}");
    let mut hmac_only = FakeProvider::new(now());
    hmac_only.algorithms = vec!["HS256", "none"];
    let err = Provider::discover(&settings, &secret, SharedProvider(Arc::new(hmac_only))).await.unwrap_err();
    assert!(matches!(err, ProviderError::NoPublicKeyAlgorithm(_)), "{err}");
    assert!(!format!("{err} {err:?}").contains(provider::CLIENT_SECRET));
}

#[tokio::test]
async fn without_a_configured_base_the_sign_in_answers_under_the_function_url_it_was_reached_at() {
    let (mut w, _) = oidc_world("alice@example.com").await;
    w.sign_in.base_url = None;
    let response = w.send(browser("GET", &approval_path(), "", &[], None)).await;
    assert_eq!(response.status(), 302);
    let query = provider::query_of(header(&response, "location"));
    assert_eq!(
        query["redirect_uri"],
        "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/oidc/callback"
    );
    let cookie = set_cookies(&response).remove(0);
    assert!(cookie.contains("Path=/;") && cookie.contains("Secure"), "{cookie}");
}

#[test]
fn under_oidc_the_function_does_not_start_without_the_client_secret_or_its_settings() {
    use ::approval::session::SignInSettings;
    use keyward_core::config::ConfigError;
    use keyward_core::secrets::KeywardSecrets;
    let config = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap()
    };
    let oidc = config(&[
        ("OIDC_ISSUER", provider::ISSUER),
        ("OIDC_CLIENT_ID", provider::CLIENT_ID),
        ("APPROVERS", "alice@example.com"),
    ]);
    let with_secret =
        KeywardSecrets { oidc_client_secret: Some(Secret::new(provider::CLIENT_SECRET)), ..Default::default() };
    let settings = SignInSettings::from_config(&oidc, &with_secret).unwrap();
    assert_eq!(settings.oidc.unwrap().issuer, provider::ISSUER);
    assert!(!format!("{:?}", SignInSettings::from_config(&oidc, &with_secret)).contains(provider::CLIENT_SECRET));
    let err = SignInSettings::from_config(&oidc, &KeywardSecrets::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { variable: "KEYWARD_SECRET_ARN", .. }), "{err}");
    assert!(err.to_string().contains("oidc_client_secret"), "{err}");
    let no_approvers = config(&[("OIDC_ISSUER", provider::ISSUER), ("OIDC_CLIENT_ID", provider::CLIENT_ID)]);
    let err = SignInSettings::from_config(&no_approvers, &with_secret).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { variable: "APPROVERS", .. }), "{err}");
    let link = SignInSettings::from_config(&config(&[("APPROVER_AUTH", "link")]), &KeywardSecrets::default()).unwrap();
    assert!(link.oidc.is_none());
}
