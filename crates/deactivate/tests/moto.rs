//! deactivate against a real moto server (`.venv/bin/moto_server`, installed by `scripts/venv`):
//! the real IAM and S3 adapters, a run report in a real bucket, and a decision approving one of a
//! user's two keys (recorded in the in-memory decisions table: its DynamoDB adapter has its own
//! moto test). The claim and the journal are S3 conditional writes on moto; invoked again, it
//! leaves a key re-enabled since Active. A missing moto fails this test; it never skips it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_iam::types::StatusType;
use chrono::{Duration, Utc};
use deactivate::handler::{Deps, Settings, handle};
use keyward_aws::iam::IamAdapter;
use keyward_aws::s3::S3Store;
use keyward_aws::sts::MemberAccounts;
use keyward_aws::testing::MotoServer;
use keyward_core::config::{Config, MfaScope, Mode, NoMfaAction, PolicyConfig, Screening};
use keyward_core::contracts::RunRef;
use keyward_core::decision::{Approver, Decision};
use keyward_core::fakes::FakeApprovals;
use keyward_core::journal::{Journal, KeyState};
use keyward_core::model::{AccessKey, KeyRef, KeyStatus, User};
use keyward_core::policy::{PlanStatus, evaluate};
use keyward_core::ports::{DecisionOutcome, Iam, RecordedDecision};
use keyward_core::run_report::{ActionOutcome, REPORT_SCHEMA_VERSION, RunReport};
use keyward_core::run_store::RunStore;
use serde_json::json;

const BUCKET: &str = "keyward-reports";
const EXECUTION: &str = "keyward-moto-run";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_one_of_two_keys_deactivates_only_that_key_in_moto() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let iam_client = aws_sdk_iam::Client::new(&sdk);
    let s3_client = moto.create_report_bucket(BUCKET).await;

    // GIVEN a user without MFA and with two active keys in moto
    let created = iam_client.create_user().user_name("dora").send().await.unwrap().user.unwrap();
    let mut key_ids = Vec::new();
    for _ in 0..2 {
        let key = iam_client.create_access_key().user_name("dora").send().await.unwrap().access_key.unwrap();
        key_ids.push(key.access_key_id);
    }
    let (approved, left) = (key_ids[0].clone(), key_ids[1].clone());

    // AND a run report whose plan holds both keys: no-mfa with MFA_SCOPE=all, which still holds
    // live (moto dates every key "now", so age rules would not survive the re-check)
    let evaluated_at = Utc::now() - Duration::hours(1);
    let config = PolicyConfig {
        mode: Mode::Approve,
        mfa_scope: MfaScope::All,
        no_mfa_action: NoMfaAction::DeactivateKeys,
        ..PolicyConfig::default()
    };
    let mirrored = User {
        name: "dora".into(),
        arn: keyward_core::model::UserArn::parse(&created.arn).unwrap(),
        path: created.path,
        created: evaluated_at - Duration::days(400),
        has_console_password: false,
        console_password_source: Default::default(),
        mfa_devices: vec![],
        tags: Default::default(),
        access_keys: key_ids
            .iter()
            .map(|id| AccessKey {
                id: id.clone(),
                status: KeyStatus::Active,
                created: evaluated_at - Duration::days(200),
                last_used: None,
                last_used_source: Default::default(),
            })
            .collect(),
    };
    let evaluation = evaluate(&[mirrored], &config, evaluated_at);
    assert_eq!(evaluation.plan.status, PlanStatus::AwaitingApproval);
    assert_eq!(evaluation.plan.keys.len(), 2);
    let report = RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: EXECUTION.into(),
        account_id: Some(keyward_core::fixtures::account()),
        config,
        screening: Screening::CredentialReport,
        users_listed: 1,
        users_checked: 1,
        users_gone: vec![],
        users_not_evaluated: vec![],
        unreadable_report_rows: vec![],
        report_unavailable: None,
        evaluation,
        decision: None,
        actions: vec![],
        api_calls: Default::default(),
        coverage: None,
    };
    // AND a decision approving only the first key, recorded in the decisions table as the approval
    // function records it before it calls back
    let decision = Decision {
        approved: vec![KeyRef {
            account_id: keyward_core::fixtures::account(),
            user_name: "dora".into(),
            access_key_id: approved.clone(),
        }],
        decided_by: Approver::LinkHolder { source_ip: Some("127.0.0.1".into()), user_agent: None },
        decided_at: Utc::now(),
    };
    let run = RunRef::new(BUCKET, EXECUTION);
    s3_client
        .put_object()
        .bucket(BUCKET)
        .key(run.report_key())
        .body(serde_json::to_vec(&report).unwrap().into())
        .send()
        .await
        .unwrap();

    // WHEN deactivate runs with that decision
    let event = json!({"run": run, "decision": decision});
    let current = Config { report_bucket: Some(BUCKET.into()), policy: report.config.clone(), ..Config::default() };
    let settings = Settings::from_config(&current, None).unwrap();
    let decisions = FakeApprovals::default();
    let recorded = RecordedDecision {
        run: run.clone(),
        approval_id_hash: "ab".repeat(32),
        outcome: DecisionOutcome::Approved,
        decision: decision.clone(),
    };
    decisions.decisions.lock().unwrap().insert(EXECUTION.into(), recorded);
    let deps = Deps {
        iam: IamAdapter::new(&sdk, 50.0),
        members: None::<MemberAccounts>,
        runs: RunStore::new(S3Store::new(&sdk), BUCKET),
        decisions,
        settings,
    };
    let out = handle(&deps, Utc::now(), "req-moto-1".into(), event.clone()).await.unwrap();

    // THEN exactly that key is Inactive in moto, the other still Active
    assert_eq!((out.deactivated, out.skipped, out.failed), (1, 0, 0), "{out:?}");
    let keys = iam_client.list_access_keys().user_name("dora").send().await.unwrap().access_key_metadata;
    let status_of = |id: &str| keys.iter().find(|k| k.access_key_id() == Some(id)).unwrap().status().cloned();
    assert_eq!(status_of(&approved), Some(StatusType::Inactive));
    assert_eq!(status_of(&left), Some(StatusType::Active));

    // AND the report in the bucket records the decision and the action
    let body = s3_client.get_object().bucket(BUCKET).key(run.report_key()).send().await.unwrap().body;
    let stored: RunReport = serde_json::from_slice(&body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(stored.decision, Some(decision));
    assert_eq!(stored.actions.len(), 1);
    assert_eq!(stored.actions[0].key.access_key_id, approved);
    assert_eq!(stored.actions[0].outcome, ActionOutcome::Deactivated);
    assert_eq!(stored.api_calls.get("iam:UpdateAccessKey"), Some(&1));
    let journal = Journal::read(&deps.runs, &run).await.unwrap().unwrap();
    assert!(journal.done.is_some());
    assert_eq!(journal.claim.request_id, "req-moto-1");
    assert_eq!(journal.in_state(KeyState::Changed).len(), 1);

    // WHEN someone re-enables the key, and deactivate is invoked again with the run's decision
    iam_client
        .update_access_key()
        .user_name("dora")
        .access_key_id(&approved)
        .status(StatusType::Active)
        .send()
        .await
        .unwrap();
    let again = handle(&deps, Utc::now(), "req-moto-2".into(), event).await.unwrap();

    // THEN it answers "already executed" with the first outcome, and the key stays Active
    assert!(again.already_executed, "{again:?}");
    assert_eq!((again.deactivated, again.skipped, again.failed), (1, 0, 0));
    let keys = iam_client.list_access_keys().user_name("dora").send().await.unwrap().access_key_metadata;
    let status = keys.iter().find(|k| k.access_key_id() == Some(approved.as_str())).unwrap().status().cloned();
    assert_eq!(status, Some(StatusType::Active), "the re-enabled key stays Active");
    assert_eq!(deps.iam.api_calls().get("iam:UpdateAccessKey"), Some(&1), "no second UpdateAccessKey");
}
