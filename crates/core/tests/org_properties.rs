//! Invariants of the account selection over generated organisations: every discovered account is
//! swept or named as not swept, exactly once; exclusion always wins; only active accounts are
//! swept; the order of discovery does not matter. And of the source identity over generated
//! approvers: always a value STS accepts, the same for the same approver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use keyward_core::decision::Approver;
use keyward_core::identity::{SessionName, SourceIdentity};
use keyward_core::org::{AccountFilter, AccountId, AccountState, NotSwept, OrgAccount, OuId, select};
use proptest::prelude::*;

/// A small pool, so that generated accounts repeat ids and share OUs, and filters hit them.
const OUS: [&str; 4] = ["ou-ab12-aaaaaaaa", "ou-ab12-bbbbbbbb", "ou-ab12-cccccccc", "ou-ab12-dddddddd"];

fn account_id(n: u8) -> String {
    format!("{:012}", 100_000_000_000u64 + u64::from(n))
}

fn arb_account() -> impl Strategy<Value = OrgAccount> {
    (
        0u8..12,
        prop_oneof![Just("ACTIVE"), Just("ACTIVE"), Just("SUSPENDED"), Just("PENDING_CLOSURE"), Just("NEW_STATE")],
        proptest::sample::subsequence(OUS.to_vec(), 0..=3),
    )
        .prop_map(|(n, state, ous)| OrgAccount {
            id: AccountId::parse(&account_id(n)).unwrap(),
            name: format!("account {n}"),
            state: AccountState::from_api(state),
            ous: ous.into_iter().map(|ou| OuId::parse(ou).unwrap()).collect(),
        })
}

fn arb_filter(variable: &'static str) -> impl Strategy<Value = AccountFilter> {
    proptest::collection::vec(
        prop_oneof![(0u8..14).prop_map(account_id), proptest::sample::select(OUS.to_vec()).prop_map(str::to_owned)],
        0..4,
    )
    .prop_map(move |entries| AccountFilter::parse(variable, Some(entries.join(" , "))).unwrap())
}

/// Any text (unicode, spaces, long), or text of STS's own characters, or an e-mail of them.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["(?s).{0,80}", "[A-Za-z0-9_+=,.@-]{0,70}", "[A-Za-z0-9.+_-]{1,60}@[a-z.]{1,20}"]
}

fn arb_approver() -> impl Strategy<Value = Approver> {
    prop_oneof![
        (text(), text(), proptest::option::of(text())).prop_map(|(issuer, subject, email)| {
            Approver::Oidc { issuer, subject, email, source_ip: None, user_agent: None }
        }),
        (text(), text()).prop_map(|(user_id, team_id)| Approver::Slack { user_id, team_id }),
        Just(Approver::Automatic),
        Just(Approver::LinkHolder { source_ip: None, user_agent: None }),
    ]
}

fn accepted_by_sts(text: &str) -> bool {
    (2..=64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
        && !text.starts_with("aws:")
}

proptest! {
    #[test]
    fn every_discovered_account_appears_exactly_once(
        accounts in proptest::collection::vec(arb_account(), 0..20),
        include in arb_filter("ORG_INCLUDE"),
        exclude in arb_filter("ORG_EXCLUDE"),
    ) {
        let discovered: BTreeSet<AccountId> = accounts.iter().map(|a| a.id.clone()).collect();
        let s = select(accounts, &include, &exclude);
        let mut seen: Vec<AccountId> = s.swept.iter().map(|a| a.id.clone()).collect();
        seen.extend(s.not_swept.iter().map(|u| u.account.id.clone()));
        let unique: BTreeSet<AccountId> = seen.iter().cloned().collect();
        prop_assert_eq!(seen.len(), unique.len(), "an account appears twice");
        prop_assert_eq!(unique, discovered, "an account was lost or invented");
    }

    #[test]
    fn only_active_accounts_are_swept_and_exclusion_always_wins(
        accounts in proptest::collection::vec(arb_account(), 0..20),
        include in arb_filter("ORG_INCLUDE"),
        exclude in arb_filter("ORG_EXCLUDE"),
    ) {
        let s = select(accounts, &include, &exclude);
        let names = |f: &AccountFilter, a: &OrgAccount| f.entries().any(|e| {
            e.to_string() == a.id.as_str() || a.ous.iter().any(|ou| e.to_string() == ou.as_str())
        });
        for a in &s.swept {
            prop_assert_eq!(&a.state, &AccountState::Active);
            prop_assert!(!names(&exclude, a), "{} is excluded but swept", a.id);
            prop_assert!(include.is_empty() || names(&include, a), "{} is not included but swept", a.id);
        }
        for u in &s.not_swept {
            let excluded = names(&exclude, &u.account);
            prop_assert_eq!(matches!(u.why, NotSwept::Excluded { .. }), excluded);
        }
    }

    #[test]
    fn the_order_of_discovery_does_not_matter(
        accounts in proptest::collection::vec(arb_account(), 0..20),
        include in arb_filter("ORG_INCLUDE"),
        exclude in arb_filter("ORG_EXCLUDE"),
    ) {
        // Distinct ids only: of one id discovered twice, the first is kept.
        let mut ids = BTreeSet::new();
        let accounts: Vec<OrgAccount> = accounts.into_iter().filter(|a| ids.insert(a.id.clone())).collect();
        let mut reversed = accounts.clone();
        reversed.reverse();
        prop_assert_eq!(select(accounts, &include, &exclude), select(reversed, &include, &exclude));
    }

    #[test]
    fn every_source_identity_is_one_sts_accepts_and_deterministic(approver in arb_approver()) {
        let id = SourceIdentity::of(&approver);
        prop_assert!(accepted_by_sts(id.as_str()), "{:?} from {:?}", id.as_str(), approver);
        prop_assert_eq!(id, SourceIdentity::of(&approver.clone()));
    }

    #[test]
    fn every_session_name_is_one_sts_accepts(function in "[a-z-]{0,20}", execution in "(?s).{0,90}") {
        let name = SessionName::new(&function, &execution);
        prop_assert!(accepted_by_sts(name.as_str()), "{:?}", name.as_str());
    }
}
