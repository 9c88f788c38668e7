//! The organisation's accounts: [`OrganizationsAdapter`] implements
//! `keyward_core::ports::Organization` over aws-sdk-organizations, from the management account or
//! from an account the organisation's delegated administrator policy allows to read it.
//!
//! ListAccounts is the set of accounts (id, name and `State`; the retired `Status` is never read,
//! nor `Paths`, which the API reference does not promise for ListAccounts). Where each account
//! sits comes from a walk of the tree from the root: ListRoots, then for the root and each OU one
//! ListChildren of its OUs and one of its accounts. That is 1 + 2 × (OUs + 1) requests (plus one
//! per further page of 20), against one ListParents per account and per OU above it for the other
//! way: for 1,000 accounts in 30 OUs, about 113 requests instead of about 1,030. An account that
//! ListAccounts names but the walk did not meet (moved or created meanwhile) is placed with
//! ListParents, so that none is dropped.
//!
//! Every request is counted by `organizations:Operation`. Paging is a loop of its own, as IAM's is
//! (`iam/paging.rs`): the SDK's paginators stop silently on a repeated token, and here a repeated
//! token is an error. An empty page with a token is not the end: Organizations documents that a
//! List* operation may answer an empty page while more follow.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use aws_config::SdkConfig;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_organizations::operation::list_accounts::ListAccountsOutput;
use aws_sdk_organizations::operation::list_children::ListChildrenOutput;
use aws_sdk_organizations::operation::list_parents::ListParentsOutput;
use aws_sdk_organizations::operation::list_roots::ListRootsOutput;
use aws_sdk_organizations::types::{ChildType, ParentType};
use keyward_core::org::{AccountId, AccountState, OrgAccount, OuId};
use keyward_core::ports::{Organization, PortError};

use crate::error::{describe, sdk_error};

/// The most items Organizations returns per page of these operations.
const PAGE_SIZE: i32 = 20;
/// The deepest an account can sit: Organizations allows five levels of OUs under the root. A
/// ListParents chain longer than this is an answer keyward cannot read, not a loop to follow.
const MAX_DEPTH: usize = 5;
/// The state given to an account listed without one: not active, so never swept, and named.
const NO_STATE: &str = "UNKNOWN";

/// Organizations through the AWS SDK, counted. Clones share the counts.
#[derive(Debug, Clone)]
pub struct OrganizationsAdapter {
    client: Client,
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
}

/// One page of a List* answer: its items, and the token of the next page.
struct Page<T> {
    items: Vec<T>,
    next_token: Option<String>,
}

/// What the walk from the root found: the OUs above each account it met (direct parent first),
/// and the OUs above each OU it met.
#[derive(Default)]
struct Tree {
    accounts: BTreeMap<AccountId, Vec<OuId>>,
    ous: BTreeMap<OuId, Vec<OuId>>,
}

impl OrganizationsAdapter {
    /// An adapter over a client built from `sdk`.
    pub fn new(sdk: &SdkConfig) -> OrganizationsAdapter {
        OrganizationsAdapter::from_client(Client::new(sdk))
    }

    /// An adapter over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: Client) -> OrganizationsAdapter {
        OrganizationsAdapter { client, calls: Arc::new(Mutex::new(BTreeMap::new())) }
    }

    /// Counts the request, sends it, and maps a failure.
    async fn send<T, E>(
        &self,
        operation: &'static str,
        request: impl Future<Output = Result<T, SdkError<E>>>,
    ) -> Result<T, PortError>
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            *calls.entry(format!("organizations:{operation}")).or_default() += 1;
        }
        request.await.map_err(|err| call_error(operation, &err))
    }

    /// Every item of `operation`, page after page, until a page has no `NextToken`. A token seen
    /// before is an error: following it would loop, and stopping there would lose the rest.
    async fn all_pages<O, E, T, Fut>(
        &self,
        operation: &'static str,
        request: impl Fn(Option<String>) -> Fut,
        split: impl Fn(O) -> Page<T>,
    ) -> Result<Vec<T>, PortError>
    where
        Fut: Future<Output = Result<O, SdkError<E>>>,
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let page = split(self.send(operation, request(token.clone())).await?);
            items.extend(page.items);
            match page.next_token.filter(|t| !t.is_empty()) {
                None => return Ok(items),
                Some(next) if !seen.insert(next.clone()) => {
                    return Err(invalid(operation, "a page repeated an earlier NextToken"));
                }
                Some(next) => token = Some(next),
            }
        }
    }

    async fn list_accounts(&self) -> Result<Vec<(AccountId, String, AccountState)>, PortError> {
        const OP: &str = "ListAccounts";
        let request = |token| self.client.list_accounts().max_results(PAGE_SIZE).set_next_token(token).send();
        let split =
            |page: ListAccountsOutput| Page { items: page.accounts.unwrap_or_default(), next_token: page.next_token };
        let mut accounts = Vec::new();
        for account in self.all_pages(OP, request, split).await? {
            let id = account_id(OP, account.id.as_deref())?;
            let state = account.state.as_ref().map_or(NO_STATE, |s| s.as_str());
            accounts.push((id, account.name.unwrap_or_default(), AccountState::from_api(state)));
        }
        Ok(accounts)
    }

    async fn children(&self, parent: &str, kind: ChildType) -> Result<Vec<String>, PortError> {
        let request = |token| {
            self.client
                .list_children()
                .parent_id(parent)
                .child_type(kind.clone())
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
        };
        let split = |page: ListChildrenOutput| Page {
            items: page.children.unwrap_or_default().into_iter().filter_map(|c| c.id).collect(),
            next_token: page.next_token,
        };
        self.all_pages("ListChildren", request, split).await
    }

    /// The walk from the root (breadth first): each OU's own chain, each account's chain.
    async fn tree(&self) -> Result<Tree, PortError> {
        let request = |token| self.client.list_roots().max_results(PAGE_SIZE).set_next_token(token).send();
        let split = |page: ListRootsOutput| Page { items: page.roots.unwrap_or_default(), next_token: page.next_token };
        let roots = self.all_pages("ListRoots", request, split).await?;
        let mut tree = Tree::default();
        // (container id, the OUs from it up to the root: empty for the root itself)
        let mut queue: VecDeque<(String, Vec<OuId>)> =
            roots.into_iter().filter_map(|root| root.id).map(|id| (id, Vec::new())).collect();
        while let Some((container, chain)) = queue.pop_front() {
            for id in self.children(&container, ChildType::OrganizationalUnit).await? {
                let ou = ou_id("ListChildren", &id)?;
                let mut below = vec![ou.clone()];
                below.extend(chain.iter().cloned());
                tree.ous.insert(ou, below.clone());
                queue.push_back((id, below));
            }
            for id in self.children(&container, ChildType::Account).await? {
                tree.accounts.insert(account_id("ListChildren", Some(&id))?, chain.clone());
            }
        }
        Ok(tree)
    }

    /// The OUs above `account` by ListParents, for an account the walk did not meet: up to an OU
    /// the walk knows, or to the root.
    async fn chain_by_parents(&self, account: &AccountId, tree: &Tree) -> Result<Vec<OuId>, PortError> {
        const OP: &str = "ListParents";
        let mut chain = Vec::new();
        let mut child = account.as_str().to_owned();
        for _ in 0..=MAX_DEPTH {
            let request = |token| {
                self.client.list_parents().child_id(child.as_str()).max_results(PAGE_SIZE).set_next_token(token).send()
            };
            let split =
                |page: ListParentsOutput| Page { items: page.parents.unwrap_or_default(), next_token: page.next_token };
            let parents = self.all_pages(OP, request, split).await?;
            let [parent] = &parents[..] else {
                return Err(invalid(OP, format!("{child} has {} parents, not one", parents.len())));
            };
            let Some(id) = parent.id.as_deref() else {
                return Err(invalid(OP, format!("the parent of {child} has no Id")));
            };
            if parent.r#type == Some(ParentType::Root) {
                return Ok(chain);
            }
            let ou = ou_id(OP, id)?;
            if let Some(known) = tree.ous.get(&ou) {
                chain.extend(known.iter().cloned());
                return Ok(chain);
            }
            chain.push(ou);
            child = id.to_owned();
        }
        Err(invalid(OP, format!("account {account} is more than {MAX_DEPTH} OUs below the root")))
    }
}

impl Organization for OrganizationsAdapter {
    async fn accounts(&self) -> Result<Vec<OrgAccount>, PortError> {
        let listed = self.list_accounts().await?;
        let tree = self.tree().await?;
        let mut accounts = Vec::with_capacity(listed.len());
        let mut placed = BTreeSet::new();
        for (id, name, state) in listed {
            if !placed.insert(id.clone()) {
                continue;
            }
            let ous = match tree.accounts.get(&id) {
                Some(chain) => chain.clone(),
                None => self.chain_by_parents(&id, &tree).await?,
            };
            accounts.push(OrgAccount { id, name, state, ous });
        }
        Ok(accounts)
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// An Organizations failure as a [`PortError`]: access denied names the permissions keyward needs
/// ([`PortError::OrganizationsDenied`]); an account outside any organisation says so; throttling
/// and the rest as every adapter maps them.
fn call_error<E>(operation: &'static str, err: &SdkError<E>) -> PortError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match err.code() {
        Some("AccessDeniedException" | "AccessDenied") => {
            PortError::OrganizationsDenied { operation, message: describe(err) }
        }
        Some("AWSOrganizationsNotInUseException") => PortError::Failed {
            operation,
            message: format!("{}: this account is not in an organisation", describe(err)),
        },
        _ => sdk_error(operation, err),
    }
}

fn invalid(operation: &'static str, message: impl Into<String>) -> PortError {
    PortError::Failed { operation, message: message.into() }
}

fn account_id(operation: &'static str, id: Option<&str>) -> Result<AccountId, PortError> {
    id.and_then(AccountId::parse)
        .ok_or_else(|| invalid(operation, format!("an account id keyward cannot read: {:?}", id.unwrap_or_default())))
}

fn ou_id(operation: &'static str, id: &str) -> Result<OuId, PortError> {
    OuId::parse(id).ok_or_else(|| invalid(operation, format!("an OU id keyward cannot read: {id:?}")))
}
