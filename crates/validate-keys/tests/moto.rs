//! A run's first half against moto with the real adapters: list-users, check-user for each batch,
//! then validate-keys, with every object going through S3. moto creates keys "now", so the plan
//! here comes from the no-MFA rule: the active key of a console user without MFA. The report is
//! created once: a retry finds its own, and evaluating the same run at another time leaves it as it
//! was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use keyward_aws::iam::IamAdapter;
use keyward_aws::organizations::OrganizationsAdapter;
use keyward_aws::s3::S3Store;
use keyward_aws::sts::MemberAccounts;
use keyward_aws::testing::MotoServer;
use keyward_core::config::Config;
use keyward_core::contracts::{BatchItem, NextStep};
use keyward_core::errors::{self, NamedError};
use keyward_core::policy::{PlanStatus, Rule};
use keyward_core::run_report::RunReport;
use keyward_core::run_store::RunStore;
use serde_json::json;

const BUCKET: &str = "keyward-reports-moto";
const EXEC: &str = "keyward-moto-validate";

#[tokio::test]
async fn run_on_moto_plans_the_key_of_the_console_user_without_mfa() {
    // GIVEN alice (console password, no MFA, one key), bob (one key, MFA), carol (console password,
    // no MFA, no key)
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let s3 = moto.create_report_bucket(BUCKET).await;
    for name in ["alice", "bob", "carol"] {
        iam.create_user().user_name(name).send().await.unwrap();
    }
    for name in ["alice", "carol"] {
        iam.create_login_profile().user_name(name).password("Correct-Horse-9").send().await.unwrap();
    }
    let alice_key = iam.create_access_key().user_name("alice").send().await.unwrap().access_key.unwrap().access_key_id;
    iam.create_access_key().user_name("bob").send().await.unwrap();
    let device = iam.create_virtual_mfa_device().virtual_mfa_device_name("bob-mfa").send().await.unwrap();
    iam.enable_mfa_device()
        .user_name("bob")
        .serial_number(device.virtual_mfa_device.unwrap().serial_number)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    let config = Config { report_bucket: Some(BUCKET.into()), batch_size: 1, ..Config::default() };
    let evaluated_at = Utc::now();
    let runs = || RunStore::new(S3Store::new(&sdk), BUCKET);
    let lister: list_users::handler::Deps<_, _, OrganizationsAdapter, MemberAccounts> = list_users::handler::Deps {
        access: list_users::handler::Access::Own(IamAdapter::new(&sdk, 50.0)),
        runs: runs(),
        settings: list_users::handler::Settings::from_config(&config).unwrap(),
    };
    let checker: check_user::handler::Deps<_, _, MemberAccounts> = check_user::handler::Deps {
        access: check_user::handler::Access::Own(IamAdapter::new(&sdk, 50.0)),
        runs: runs(),
        settings: check_user::handler::Settings::from_config(&config).unwrap(),
    };
    let validator = validate_keys::handler::Deps {
        runs: runs(),
        settings: validate_keys::handler::Settings::from_config(&config).unwrap(),
    };

    // WHEN the run goes list-users → check-user per batch → validate-keys
    let execution_id = format!("arn:aws:states:us-east-1:123456789012:execution:keyward:{EXEC}");
    let started = json!({"execution_name": EXEC, "execution_id": execution_id, "evaluated_at": evaluated_at});
    let list_users::handler::Output::Listed(listed) =
        list_users::handler::handle(&lister, Utc::now(), started).await.unwrap()
    else {
        panic!("list-users did not list the account")
    };
    let object = s3.get_object().bucket(BUCKET).key(&listed.batches_key).send().await.unwrap();
    let batches: Vec<BatchItem> = serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    for batch in batches {
        let item = json!({"run": listed.run, "batch": batch});
        check_user::handler::handle(&checker, Utc::now(), item).await.unwrap();
    }
    let after_map = json!({"listed": listed, "evaluated_at": evaluated_at});
    let out = validate_keys::handler::handle(&validator, Utc::now(), after_map).await.unwrap();

    // THEN the report in S3 plans exactly alice's key, and asks for approval
    assert_eq!(listed.candidates, 2, "alice and carol: console users without MFA");
    assert_eq!((out.status, out.next, out.planned), (PlanStatus::AwaitingApproval, NextStep::RequestApproval, 1));
    let object = s3.get_object().bucket(BUCKET).key(&out.report_key).send().await.unwrap();
    let report: RunReport = serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    let plan: Vec<(&str, &str, &[Rule])> = report
        .evaluation
        .plan
        .keys
        .iter()
        .map(|k| (k.key.user_name.as_str(), k.key.access_key_id.as_str(), k.rules.as_slice()))
        .collect();
    assert_eq!(plan, vec![("alice", alice_key.as_str(), &[Rule::NoMfa][..])]);
    let no_mfa: Vec<&str> = report.evaluation.findings.iter().map(|f| f.user_name.as_str()).collect();
    assert_eq!(no_mfa, ["alice", "carol"]);
    assert_eq!((report.users_listed, report.users_checked), (3, 2));
    assert_eq!(report.evaluated_at(), evaluated_at);
    assert_eq!(
        report.account_id.as_ref().map(|a| a.as_str()),
        Some("123456789012"),
        "the account is carried into the run report"
    );

    assert!(report.api_calls.contains_key("iam:ListUsers") && report.api_calls.contains_key("iam:GetUser"));
    // AND the IAM calls of list-users and check-user together stay within the budget of
    // 3 + ⌈N/1000⌉ + 4·V (docs/architecture.md, "The IAM call budget"; N = 3 users, V = 2
    // candidates): the report's facts spare each candidate its login profile, tags and key
    // last-use reads
    let iam_calls: u64 = report.api_calls.iter().filter(|(op, _)| op.starts_with("iam:")).map(|(_, n)| n).sum();
    assert!(iam_calls <= 3 + 1 + 4 * 2, "{iam_calls} IAM calls: {:?}", report.api_calls);
    for spared in ["iam:GetLoginProfile", "iam:ListUserTags", "iam:GetAccessKeyLastUsed"] {
        assert!(!report.api_calls.contains_key(spared), "{spared}: {:?}", report.api_calls);
    }
    // AND validate-keys acted on nothing: alice's key is still active
    let keys = iam.list_access_keys().user_name("alice").send().await.unwrap();
    assert_eq!(keys.access_key_metadata[0].status.as_ref().map(|s| s.as_str()), Some("Active"));

    // AND a retried invocation finds its own report and succeeds; a second evaluation of the
    // same run at another time (a later execution with the same name) is refused by S3's
    // conditional write, and the report stays the first run's
    let first = s3.get_object().bucket(BUCKET).key(&out.report_key).send().await.unwrap();
    let first = first.body.collect().await.unwrap().into_bytes();
    let retry = json!({"listed": listed, "evaluated_at": evaluated_at});
    validate_keys::handler::handle(&validator, Utc::now(), retry).await.unwrap();
    let again = json!({"listed": listed, "evaluated_at": Utc::now()});
    let err = validate_keys::handler::handle(&validator, Utc::now(), again).await.unwrap_err();
    assert_eq!(err.error_name(), errors::RUN_ALREADY_RECORDED, "{err}");
    assert!(err.to_string().contains(&format!("s3://{BUCKET}/{}", out.report_key)), "{err}");
    let after = s3.get_object().bucket(BUCKET).key(&out.report_key).send().await.unwrap();
    assert_eq!(after.body.collect().await.unwrap().into_bytes(), first);
}
