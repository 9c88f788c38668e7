//! A browser's side of the sign-in, for the sign-in tests: the confirm page's redirect, the
//! provider's login, the callback, and the cookies a browser would send back.

use std::sync::Arc;

use keyward_core::config::{ApproverEntry, Config};
use lambda_http::{Body, Response};

use super::provider::{FakeProvider, Forgery, Login};
use super::*;

pub const ALICE_SUB: &str = "00u-alice";

pub fn approvers(list: &str) -> Vec<ApproverEntry> {
    Config::from_lookup(|name| (name == "APPROVERS").then(|| list.to_owned())).unwrap().approvers
}

pub async fn oidc_world(list: &str) -> (World, Arc<FakeProvider>) {
    oidc_world_with(list, FakeProvider::new(now())).await
}

pub async fn oidc_world_with(list: &str, fake: FakeProvider) -> (World, Arc<FakeProvider>) {
    let fake = Arc::new(fake);
    (World::oidc(fake.clone(), approvers(list)).await, fake)
}

pub fn alice() -> Login {
    Login::new(ALICE_SUB, "Alice@Example.com")
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// The `name=value` a browser sends back for the cookie `name` a response set.
pub fn cookie_pair(response: &Response<Body>, name: &str) -> String {
    let set = set_cookies(response);
    let cookie = set.iter().find(|c| c.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{set:?}"));
    cookie.split(';').next().unwrap().to_owned()
}

/// A browser's sign-in in progress: where the confirm page sent it, and its login cookie.
pub struct Started {
    pub location: String,
    pub state: String,
    pub login: String,
}

pub async fn start(w: &World, path: &str) -> Started {
    let response = w.send(browser("GET", path, "", &[], None)).await;
    assert_eq!(response.status(), 302, "{}", text(&response));
    let location = header(&response, "location").to_owned();
    let state = provider::query_of(&location)["state"].clone();
    Started { location, state, login: cookie_pair(&response, "keyward_login") }
}

pub async fn callback(w: &World, code: &str, state: &str, cookies: &[String]) -> Response<Body> {
    let query = format!("code={code}&state={state}");
    w.send(browser("GET", "/oidc/callback", &query, cookies, None)).await
}

/// Signs `login` in through the whole flow; the callback's response.
pub async fn sign_in(w: &World, fake: &FakeProvider, login: Login, forgery: Forgery) -> Response<Body> {
    let started = start(w, &approval_path()).await;
    let code = fake.authorize(&started.location, login, forgery);
    callback(w, &code, &started.state, &[started.login]).await
}

pub fn post(cookies: &[String], body: &str) -> lambda_http::Request {
    browser("POST", &approval_path(), "", cookies, Some(body))
}

pub fn sessions(w: &World) -> usize {
    w.tokens().iter().filter(|k| k.starts_with("session#")).count()
}
