//! SfnCallbacks against a real moto server (`testing::MotoServer`; `cargo test -p keyward-aws
//! --features moto`), on moto's executing Step Functions backend: an unknown token is
//! `TaskGone`, and the token never shows in the error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keyward_aws::sfn::SfnCallbacks;
use keyward_aws::testing::MotoServer;
use keyward_core::ports::{PortError, TaskCallback};

#[tokio::test]
async fn sfn_callback_with_an_unknown_token_fails_without_showing_it() {
    let moto = MotoServer::start();
    // moto's default Step Functions backend accepts any callback; its executing backend (the one the
    // local stack uses) checks the token as AWS does.
    let configured = reqwest::Client::new()
        .post(format!("{}/moto-api/config", moto.endpoint()))
        .json(&serde_json::json!({"stepfunctions": {"execute_state_machine": true}}))
        .send()
        .await
        .unwrap();
    assert!(configured.status().is_success());
    let sfn = SfnCallbacks::new(&moto.sdk_config().await);
    let token = "bogus-token-AQCEAAAAKgAAAAMAAAAAAAAAAZZZ";

    let failure = sfn.fail(token, "ApprovalRejected", "rejected by alice").await.unwrap_err();
    let success = sfn.succeed(token, &serde_json::json!({"approved": []})).await.unwrap_err();

    for err in [failure, success] {
        assert!(matches!(err, PortError::TaskGone { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains(token));
    }
}
