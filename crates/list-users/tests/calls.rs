//! list-users' IAM calls through the real IAM adapter over aws-smithy-mocks: screening an account
//! of N users costs at most 3 + ⌈N/1000⌉ IAM calls (docs/architecture.md, "The IAM call budget"), however many users are
//! candidates, because the credential report does the screening.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_iam::Client;
use aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportOutput;
use aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput;
use aws_sdk_iam::operation::list_users::ListUsersOutput;
use aws_sdk_iam::types::{ReportFormatType, ReportStateType};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::Blob;
use keyward_aws::iam::IamAdapter;
use keyward_core::config::Config;
use keyward_core::contracts::Listing;
use keyward_core::fakes::{FakeAccountAccess, FakeOrganization, FakeStore};
use keyward_core::fixtures::*;
use keyward_core::model::User;
use keyward_core::run_store::RunStore;
use list_users::handler::{Access, Deps, Output, Settings, handle};
use serde_json::json;

const BUCKET: &str = "keyward-reports-test";
const EXEC: &str = "keyward-2026-11-21";
const USERS: usize = 2_500;

fn page(users: &[User], next: Option<&str>) -> ListUsersOutput {
    let users = users
        .iter()
        .map(|u| {
            aws_sdk_iam::types::User::builder()
                .user_name(&u.name)
                .user_id(format!("AIDA{}", u.name.len()))
                .arn(u.arn.as_str())
                .path(&u.path)
                .create_date(aws_smithy_types::DateTime::from_secs(u.created.timestamp()))
                .build()
                .unwrap()
        })
        .collect();
    ListUsersOutput::builder()
        .set_users(Some(users))
        .is_truncated(next.is_some())
        .set_marker(next.map(Into::into))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn screening_2500_users_costs_at_most_three_calls_plus_one_per_thousand_users() {
    // GIVEN 2,500 users over three ListUsers pages, every tenth a console user without MFA, and a
    // credential report IAM completes after one poll
    let users: Vec<User> = (0..USERS)
        .map(|i| {
            let u = user(&format!("user-{i:04}"));
            if i % 10 == 0 { no_mfa(u, true) } else { u }
        })
        .collect();
    let pages = [
        (None, &users[..1000], Some("m1")),
        (Some("m1"), &users[1000..2000], Some("m2")),
        (Some("m2"), &users[2000..], None),
    ];
    let mut rules: Vec<_> = pages
        .into_iter()
        .map(|(marker, chunk, next)| {
            let chunk = chunk.to_vec();
            mock!(Client::list_users)
                .match_requests(move |r| r.marker() == marker)
                .then_output(move || page(&chunk, next))
        })
        .collect();
    rules.push(
        mock!(Client::generate_credential_report)
            .sequence()
            .output(|| GenerateCredentialReportOutput::builder().state(ReportStateType::Started).build())
            .output(|| GenerateCredentialReportOutput::builder().state(ReportStateType::Complete).build())
            .build(),
    );
    let csv = credential_report(&users);
    rules.push(mock!(Client::get_credential_report).then_output(move || {
        GetCredentialReportOutput::builder()
            .content(Blob::new(csv.clone()))
            .report_format(ReportFormatType::TextCsv)
            .generated_time(aws_smithy_types::DateTime::from_secs(now().timestamp() - 3_600))
            .build()
    }));
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules.iter().collect::<Vec<_>>());
    let iam = IamAdapter::from_client(client, 10.0);
    let config = Config { report_bucket: Some(BUCKET.into()), ..Config::default() };
    let settings = Settings::from_config(&config).unwrap();
    let deps: Deps<_, _, FakeOrganization, FakeAccountAccess> =
        Deps { access: Access::Own(iam), runs: RunStore::new(FakeStore::default(), BUCKET), settings };

    // WHEN list-users screens the account
    let out = handle(&deps, now(), json!({"execution_name": EXEC, "evaluated_at": now()})).await.unwrap();
    let Output::Listed(out) = out else { panic!("not a listing: {out:?}") };

    // THEN 250 candidates cost 6 IAM calls: 3 ListUsers pages, 2 GenerateCredentialReport, 1
    // GetCredentialReport, within 3 + ⌈2500/1000⌉
    assert_eq!((out.users_listed, out.candidates), (USERS, USERS / 10));
    let listing: Listing =
        serde_json::from_value(deps.runs.store().json(&format!("runs/{EXEC}/listing.json")).unwrap()).unwrap();
    let iam_calls: u64 = listing.api_calls.iter().filter(|(op, _)| op.starts_with("iam:")).map(|(_, n)| n).sum();
    assert_eq!(iam_calls, 6, "{:?}", listing.api_calls);
    assert!(iam_calls <= 3 + USERS.div_ceil(1000) as u64);
}
