"""AWS Organizations as AWS answers it, where moto 5.2.5 answers otherwise (installed at start-up):

- **`State`, not `Status`.** Each `Account` of ListAccounts, ListAccountsForParent and
  DescribeAccount carries `State` (`PENDING_ACTIVATION`, `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`,
  `CLOSED`) and no `Status`: the Organizations API Reference (the `Account` data type) says the
  `Status` parameter "will be retired on September 9, 2026" and to use `State` instead, so code that
  still reads `Status` fails here as it will on AWS. moto answers both. `PUT /_keyward/org-account-state`
  sets an account's state (`hooks`), e.g. SUSPENDED, which moto can reach only by CloseAccount.
- **Pages.** ListAccounts, ListAccountsForParent and ListChildren answer at most `MaxResults` items,
  never more than 20 whatever is asked (the API's `MaxResults` is 1 to 20; 20 when not given), with a
  `NextToken` while more remain; a token the emulator did not hand out for that listing is
  `InvalidInputException`. moto pages ListAccounts by 100 and ListChildren not at all.
- **Only the management account lists the organisation.** From any other account these calls (and
  ListRoots, ListOrganizationalUnitsForParent, ListParents, DescribeOrganizationalUnit) are
  `AccessDeniedException` (inside an organisation; the API Reference: "This operation can be called
  only from the organization's management account or by a member account that is a delegated
  administrator", and the emulator does not model delegated administrators) or
  `AWSOrganizationsNotInUseException` (outside one); moto answers a member account's empty backend.
- **`OrganizationAccountAccessRole` is an administrator.** moto creates the role in each account that
  CreateAccount makes, trusting the management account, but with no permissions; AWS gives it full
  administrator permissions (Organizations User Guide, "Accessing a member account that has a
  management account access role"): here it gets an inline `AdministratorAccess` policy.
- **The resource of each request** (`resource`, for `iam_auth`): ListChildren, ListAccountsForParent
  and ListOrganizationalUnitsForParent are authorised against their parent's ARN (the root's or the
  OU's), DescribeAccount against the account's ARN, and ListAccounts, DescribeOrganization and the
  rest against `*` (Service Authorization Reference, AWS Organizations)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.iam.exceptions import ValidationError
from moto.iam.models import iam_backends
from moto.organizations import models as org_models
from moto.organizations.exceptions import AWSOrganizationsNotInUseException, InvalidInputException
from moto.organizations.responses import OrganizationsResponse

from keyward_local.emulator.faults import HookError
from keyward_local.emulator.iam_strict import Pager

#: The values of the `Account` type's `State` (Organizations API Reference, AccountState).
ACCOUNT_STATES = ("PENDING_ACTIVATION", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE", "CLOSED")
#: The most items a page of ListAccounts, ListAccountsForParent or ListChildren holds.
MAX_RESULTS = 20
#: The role CreateAccount makes in each new account, and the policy AWS gives it.
ACCESS_ROLE = "OrganizationAccountAccessRole"
_ADMINISTRATOR = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
#: Retired Status value of each State, for moto's own code (CloseAccount reads `status`).
_STATUS = {"PENDING_ACTIVATION": "ACTIVE", "ACTIVE": "ACTIVE", "PENDING_CLOSURE": "PENDING_CLOSURE"}

_PAGER = Pager()


class OrganizationsAccessDenied(JsonRESTError):
    """Organizations' AccessDeniedException (HTTP 400, JSON)."""

    code = 400

    def __init__(self) -> None:
        super().__init__(
            "AccessDeniedException",
            "You don't have permissions to access this resource: only the organization's management account "
            "can call this operation",
        )


def account_view(account: org_models.FakeAccount) -> dict[str, Any]:
    """An `Account` as the API answers it now: with `State`, without the retired `Status`."""
    view = account.describe()
    view.pop("Status", None)
    return view


def _management(response: OrganizationsResponse) -> org_models.OrganizationsBackend:
    backend = response.organizations_backend
    if backend.org is not None:
        return backend
    if response.current_account in org_models.organizations_backends.master_accounts:
        raise OrganizationsAccessDenied()
    raise AWSOrganizationsNotInUseException()


def _page(
    response: OrganizationsResponse, items: Sequence[Any], operation: str, scope: str
) -> tuple[list[Any], str | None]:
    """One page of `items` (at most MaxResults, at most 20) and the next page's token."""
    limit = response._get_param("MaxResults")
    if limit is None:
        limit = MAX_RESULTS
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputException(f"MaxResults must be a whole number from 1 to {MAX_RESULTS}, got {limit!r}")
    token = response._get_param("NextToken")
    try:
        return _PAGER.page(items, operation, scope, token, min(limit, MAX_RESULTS))
    except ValidationError:
        raise InvalidInputException("The provided NextToken is not valid.") from None


def _parent(backend: org_models.OrganizationsBackend, parent_id: object) -> str:
    if not isinstance(parent_id, str):
        raise InvalidInputException("ParentId is required")
    return backend.validate_parent_id(parent_id)


def _answer(field: str, items: list[Any], token: str | None) -> str:
    document: dict[str, Any] = {field: items}
    if token is not None:
        document["NextToken"] = token
    return json.dumps(document)


def list_accounts(self: OrganizationsResponse) -> str:
    """ListAccounts: every account of the organisation, in the order they joined, by pages."""
    accounts = [account_view(a) for a in _management(self).accounts]
    page, token = _page(self, accounts, "ListAccounts", "")
    return _answer("Accounts", page, token)


def list_accounts_for_parent(self: OrganizationsResponse) -> str:
    """ListAccountsForParent: the accounts directly under a root or OU, by pages."""
    backend = _management(self)
    parent = _parent(backend, self._get_param("ParentId"))
    accounts = [account_view(a) for a in backend.accounts if a.parent_id == parent]
    page, token = _page(self, accounts, "ListAccountsForParent", parent)
    return _answer("Accounts", page, token)


def list_children(self: OrganizationsResponse) -> str:
    """ListChildren: the accounts or OUs directly under a root or OU, by pages."""
    backend = _management(self)
    parent = _parent(backend, self._get_param("ParentId"))
    child_type = self._get_param("ChildType")
    if child_type not in ("ACCOUNT", "ORGANIZATIONAL_UNIT"):
        raise InvalidInputException("ChildType must be ACCOUNT or ORGANIZATIONAL_UNIT")
    pool: Sequence[Any] = backend.accounts if child_type == "ACCOUNT" else backend.ou
    children = [{"Id": c.id, "Type": child_type} for c in pool if c.parent_id == parent]
    page, token = _page(self, children, "ListChildren", f"{parent}/{child_type}")
    return _answer("Children", page, token)


def describe_account(self: OrganizationsResponse) -> str:
    """DescribeAccount: one account, with `State` and without `Status`."""
    account = _management(self).get_account_by_id(str(self._get_param("AccountId")))
    return json.dumps({"Account": account_view(account)})


#: moto's other reads of the organisation's tree, which AWS answers only to the management account.
_MANAGEMENT_ONLY = (
    "list_roots",
    "list_organizational_units_for_parent",
    "list_parents",
    "describe_organizational_unit",
)


def _management_only(read: Callable[[OrganizationsResponse], str]) -> Callable[[OrganizationsResponse], str]:
    def answer(self: OrganizationsResponse) -> str:
        """moto's read, from the management account only."""
        _management(self)
        return read(self)

    return answer


def resource(self: OrganizationsResponse) -> str:
    """The ARN an Organizations request is authorised against (`*` when it names none, or none known)."""
    backend = self.organizations_backend
    action = self._get_action()
    if backend.org is None:
        return "*"
    if action in ("ListChildren", "ListAccountsForParent", "ListOrganizationalUnitsForParent"):
        parent_id = self._get_param("ParentId")
        parent = next((ou for ou in backend.ou if ou.id == parent_id), None)
        return str(parent.arn) if parent is not None else "*"
    if action == "DescribeAccount":
        account_id = self._get_param("AccountId")
        account = next((a for a in backend.accounts if a.id == account_id), None)
        return str(account.arn) if account is not None else "*"
    return "*"


def set_account_state(document: object) -> dict[str, str]:
    """PUT /_keyward/org-account-state {"account_id", "state"}: one account of the organisation (of
    whichever management account has it) gets that `State`."""
    if not isinstance(document, dict) or set(document) != {"account_id", "state"}:
        raise HookError(400, 'give account_id and state: {"account_id": "123456789012", "state": "SUSPENDED"}')
    account_id, state = document["account_id"], document["state"]
    if state not in ACCOUNT_STATES:
        raise HookError(400, f"state must be one of {', '.join(ACCOUNT_STATES)}, got {state!r}")
    for partitions in list(org_models.organizations_backends.values()):
        for backend in partitions.values():
            account = next((a for a in backend.accounts if a.id == account_id), None)
            if account is not None:
                account.state = state
                account.status = _STATUS.get(state, "SUSPENDED")
                return {"account_id": account.id, "state": account.state}
    raise HookError(404, f"no account {account_id!r} in any organisation")


def install() -> None:
    """Patches moto's Organizations responses, and the access role CreateAccount makes."""
    OrganizationsResponse.list_accounts = list_accounts  # type: ignore[method-assign]
    OrganizationsResponse.list_accounts_for_parent = list_accounts_for_parent  # type: ignore[method-assign]
    OrganizationsResponse.list_children = list_children  # type: ignore[method-assign]
    OrganizationsResponse.describe_account = describe_account  # type: ignore[method-assign]
    for name in _MANAGEMENT_ONLY:
        setattr(OrganizationsResponse, name, _management_only(getattr(OrganizationsResponse, name)))
    create_account = org_models.OrganizationsBackend.create_account

    def administered_create_account(self: org_models.OrganizationsBackend, **kwargs: Any) -> dict[str, Any]:
        """CreateAccount, its access role given the administrator permissions AWS gives it."""
        status = create_account(self, **kwargs)
        account_id = status["CreateAccountStatus"]["AccountId"]
        role_name = kwargs.get("RoleName", ACCESS_ROLE)
        iam_backends[account_id]["aws"].put_role_policy(role_name, "AdministratorAccess", _ADMINISTRATOR)
        return status

    org_models.OrganizationsBackend.create_account = administered_create_account  # type: ignore[method-assign]
