"""IAM as strict as AWS where moto 5.2.5 is lenient (docs/local-stack.md, "As strict as AWS"):

1. Tags: CreateUser's and TagUser's tags are checked as AWS checks them (the IAM `Tag` type's length
   and pattern, no `aws:` prefix, at most 50 per user); a request that breaks a rule is refused with
   `ValidationError` (duplicates `InvalidInput`, TagUser beyond 50 tags `LimitExceeded`) and changes
   nothing.
2. Paging: ListUsers, ListAccessKeys, ListUserTags and ListMFADevices answer at most `MaxItems` (1 to
   1000, default 100) items, and at most `page_items` even when `MaxItems` asks for more (IAM "might
   return fewer than the MaxItems number of results even when there are more results available"),
   with `IsTruncated` and an opaque, signed `Marker`; a marker this emulator did not hand out for the
   same listing is refused with `ValidationError`.
3. Read lag: for `read_lag` seconds after UpdateAccessKey, ListAccessKeys and the credential report
   still show a key's previous status, as IAM's eventual consistency may.
4. The credential report takes `report_delay` seconds to generate: GenerateCredentialReport answers
   STARTED, then INPROGRESS, then COMPLETE; GetCredentialReport fails with ReportNotPresent before any
   generation, ReportInProgress (HTTP 404) during one, ReportExpired once the report is four hours
   old. The report is a snapshot of the account when its generation started, and a report younger
   than four hours is reused, not regenerated. Each account has its own report, as in IAM, where the
   credential report is of the account the caller is in (an organisation's members never share one).

`IamStrict.install` patches moto's IamResponse (and User.to_csv) at the emulator's start, never on
disk; each `# type: ignore[method-assign]` marks one such replaced method."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from moto.core.responses import ActionResult
from moto.iam import models as iam_models
from moto.iam import responses as iam_responses
from moto.iam.exceptions import (
    DuplicateTags,
    IAMException,
    LimitExceededException,
    ReportNotPresentException,
    ValidationError,
)

from keyward_local.emulator.faults import HookError

T = TypeVar("T")

#: The IAM `Tag` type's limits (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Tag.html).
KEY_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"
VALUE_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
MAX_TAGS = 50
TAG_PUNCTUATION = frozenset("_.:/=+-@")

DEFAULT_MAX_ITEMS = 100
MAX_MAX_ITEMS = 1000

#: A credential report is reused for four hours, then regenerated (IAM User Guide, credential reports).
REPORT_LIFETIME_SECONDS = 4 * 3600

#: The longest read lag or report delay the knobs take (the local stack checks the same bound at `up`).
MAX_KNOB_SECONDS = 3600

#: The credential report's columns that say whether access key 1 and key 2 are active, counted from the
#: end (a user name may contain a comma; the 20 columns after name and arn are fixed).
ACTIVE_COLUMNS = (-14, -9)


class ReportInProgress(IAMException):
    """GetCredentialReport while the report is generated (IAM answers HTTP 404)."""

    code = "ReportInProgress"


class ReportExpired(IAMException):
    """GetCredentialReport of a report older than four hours (HTTP 410)."""

    code = "ReportExpired"


def tag_text_allowed(text: str) -> bool:
    """Whether every character of `text` is in AWS's class [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]."""
    # Python's `re` has no \p{..} classes: each character is checked by its Unicode general category
    # instead, L* (letters), Z* (separators: spaces) and N* (numbers), plus the listed ASCII.
    return all(c in TAG_PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in text)


def tag_problems(tags: Sequence[dict[str, Any]]) -> list[str]:
    """What AWS's validation says of these tags, one phrase per broken constraint (empty: valid)."""
    problems: list[str] = []
    if len(tags) > MAX_TAGS:
        problems.append(
            f"Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_TAGS}"
        )
    for index, tag in enumerate(tags, start=1):
        key, value = tag.get("Key"), tag.get("Value")
        at = f"Value at 'tags.{index}.member.key' failed to satisfy constraint: Member must"
        if key is None:
            problems.append(f"{at} not be null")
        elif not 1 <= len(key) <= MAX_KEY_LENGTH:
            bound = "greater than or equal to 1" if not key else f"less than or equal to {MAX_KEY_LENGTH}"
            problems.append(f"{at} have length {bound}")
        elif not tag_text_allowed(key):
            problems.append(f"{at} satisfy regular expression pattern: {KEY_PATTERN}")
        elif key.lower().startswith("aws:"):
            problems.append(f"{at} not begin with aws: (the prefix is reserved for AWS use)")
        at = f"Value at 'tags.{index}.member.value' failed to satisfy constraint: Member must"
        if value is None:
            problems.append(f"{at} not be null")
        elif len(value) > MAX_VALUE_LENGTH:
            problems.append(f"{at} have length less than or equal to {MAX_VALUE_LENGTH}")
        elif not tag_text_allowed(value):
            problems.append(f"{at} satisfy regular expression pattern: {VALUE_PATTERN}")
    return problems


def check_tags(tags: Sequence[dict[str, Any]]) -> None:
    """Raises AWS's error for tags AWS refuses: ValidationError, or InvalidInput for duplicate keys."""
    problems = tag_problems(tags)
    if problems:
        count = len(problems)
        raise ValidationError(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems))
    keys = [str(tag["Key"]).lower() for tag in tags]
    if len(set(keys)) != len(keys):
        raise DuplicateTags()


def max_items(raw: object) -> int:
    """The `MaxItems` parameter: 1 to 1000, default 100; anything else is AWS's ValidationError."""
    if raw is None or raw == "":
        return DEFAULT_MAX_ITEMS
    try:
        value = int(str(raw))
    except ValueError:
        raise ValidationError(
            f"1 validation error detected: Value '{raw}' at 'maxItems' is not a valid integer"
        ) from None
    if not 1 <= value <= MAX_MAX_ITEMS:
        bound = "greater than or equal to 1" if value < 1 else f"less than or equal to {MAX_MAX_ITEMS}"
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    return value


class Pager:
    """Pages of a listing, with markers only this emulator can write: the position, signed with a
    secret drawn at start-up, bound to the operation and what it lists (a user, a path prefix)."""

    def __init__(self, secret: bytes | None = None):
        self.secret = secret or os.urandom(32)

    def _sign(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()[:32]

    def marker(self, operation: str, scope: str, offset: int) -> str:
        """The opaque marker of the page that starts at `offset`."""
        body = json.dumps({"o": operation, "s": scope, "i": offset}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._sign(body)

    def offset(self, operation: str, scope: str, marker: str) -> int:
        """Where the page of `marker` starts; ValidationError for a marker not handed out for this listing."""
        encoded, _, signature = marker.partition(".")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            document = json.loads(body)
        except (binascii.Error, ValueError):
            document = None
        if (
            not isinstance(document, dict)
            or not hmac.compare_digest(signature, self._sign(body))
            or document.get("o") != operation
            or document.get("s") != scope
            or not isinstance(document.get("i"), int)
        ):
            raise ValidationError(
                f"Invalid Marker: it was not returned by an earlier {operation} request of this listing"
            )
        return int(document["i"])

    def page(
        self, items: Sequence[T], operation: str, scope: str, marker: str | None, limit: int
    ) -> tuple[list[T], str | None]:
        """The page of `items` that `marker` (None: the first) points at, and the next page's marker."""
        start = self.offset(operation, scope, marker) if marker else 0
        page = list(items[start : start + limit])
        following = start + limit
        return page, self.marker(operation, scope, following) if following < len(items) else None


class StatusHistory:
    """The status changes of access keys over the last `lag` seconds, so reads can lag behind them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # key id -> [(when, status from then on)], oldest first; the first entry is the status before.
        self.changes: dict[str, list[tuple[float, str]]] = {}

    def record(self, key_id: str, before: str, after: str, now: float, lag: float) -> None:
        """UpdateAccessKey changed `key_id` from `before` to `after` at `now`."""
        with self.lock:
            changes = self.changes.setdefault(key_id, [(float("-inf"), before)])
            changes.append((now, after))
            # Only the last change older than the lag can still be seen: drop the ones before it.
            settled = [i for i, (at, _) in enumerate(changes) if at <= now - lag]
            if settled:
                del changes[: settled[-1]]

    def visible(self, key_id: str, actual: str, now: float, lag: float) -> str:
        """The status a read at `now` sees: the latest one set at least `lag` seconds ago."""
        if lag <= 0:
            return actual
        with self.lock:
            changes = self.changes.get(key_id)
            if not changes:
                return actual
            seen = [status for at, status in changes if at <= now - lag]
            return seen[-1] if seen else changes[0][1]


@dataclass
class Report:
    """One credential report: when its generation started, and the account as it was then."""

    started: float
    content: str


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class IamStrict:
    """The four strictnesses, with their knobs (the read lag and the report delay in seconds, 0
    switching either off; `page_items`, the most items a page holds whatever `MaxItems` asks, 0 for
    `MaxItems` alone) and the clock they read (epoch seconds, so tests can move it)."""

    def __init__(
        self, read_lag: float, report_delay: float, page_items: int = 0, clock: Callable[[], float] = time.time
    ):
        self.read_lag = read_lag
        self.report_delay = report_delay
        self.page_items = page_items
        self.clock = clock
        self.pager = Pager()
        self.history = StatusHistory()
        self.lock = threading.Lock()
        #: Each account's credential report, by account id.
        self.reports: dict[str, Report] = {}

    def settings(self) -> dict[str, float]:
        """The knobs, as GET /_keyward/iam-strict shows them."""
        return {
            "read_lag_seconds": self.read_lag,
            "report_delay_seconds": self.report_delay,
            "page_items": self.page_items,
        }

    def configure(self, document: object) -> dict[str, float]:
        """Changes the knobs a PUT /_keyward/iam-strict body gives; refuses anything else whole."""
        if not isinstance(document, dict) or not document or set(document) - set(self.settings()):
            raise HookError(
                400,
                'give read_lag_seconds, report_delay_seconds and/or page_items: {"report_delay_seconds": 90}',
            )
        for name, value in document.items():
            if name == "page_items":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MAX_ITEMS:
                    raise HookError(400, f"page_items must be a whole number from 0 to {MAX_MAX_ITEMS}, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_KNOB_SECONDS:
                raise HookError(400, f"{name} must be a number of seconds from 0 to {MAX_KNOB_SECONDS}, got {value!r}")
        self.read_lag = float(document.get("read_lag_seconds", self.read_lag))
        self.report_delay = float(document.get("report_delay_seconds", self.report_delay))
        self.page_items = int(document.get("page_items", self.page_items))
        return self.settings()

    def page_limit(self, max_items: int) -> int:
        """How many items the page answered to `max_items` holds at most."""
        return min(max_items, self.page_items) if self.page_items else max_items

    def forget_report(self) -> None:
        """Drops every account's credential report, as in accounts that never generated one."""
        with self.lock:
            self.reports.clear()

    def visible_status(self, key: iam_models.AccessKey) -> str:
        """The status of `key` a read sees now."""
        return self.history.visible(key.access_key_id, key.status, self.clock(), self.read_lag)

    def generate_report(self, backend: iam_models.IAMBackend) -> dict[str, str]:
        """GenerateCredentialReport's answer; starts a generation when there is no report younger than
        four hours."""
        now = self.clock()
        with self.lock:
            report = self.reports.get(backend.account_id)
            if report is None or now - report.started >= REPORT_LIFETIME_SECONDS:
                backend.generate_report()
                self.reports[backend.account_id] = Report(now, backend.get_credential_report())
                return {"State": "STARTED", "Description": "No report exists. Starting a new report generation task"}
            if now - report.started < self.report_delay:
                return {"State": "INPROGRESS", "Description": "Report generation in progress"}
            return {"State": "COMPLETE"}

    def read_report(self, account_id: str) -> dict[str, str]:
        """GetCredentialReport's answer in `account_id`, or its error."""
        now = self.clock()
        with self.lock:
            report = self.reports.get(account_id)
        if report is None:
            raise ReportNotPresentException("Credential report not present. Use GenerateCredentialReport first")
        if now - report.started < self.report_delay:
            raise ReportInProgress("Credential report is still being generated")
        if now - report.started >= REPORT_LIFETIME_SECONDS:
            raise ReportExpired("Credential report has expired. Use GenerateCredentialReport to generate a new one")
        return {"Content": report.content, "ReportFormat": "text/csv", "GeneratedTime": _iso(report.started)}

    def install(self) -> None:
        """Patches moto's IAM responses (and the report's rows) with the four strictnesses."""
        strict = self
        responses = iam_responses.IamResponse
        create_user, tag_user = responses.create_user, responses.tag_user
        list_users, list_user_tags = responses.list_users, responses.list_user_tags
        list_access_keys, list_mfa_devices = responses.list_access_keys, responses.list_mfa_devices
        update_access_key, to_csv = responses.update_access_key, iam_models.User.to_csv

        def checked_create_user(self: iam_responses.IamResponse) -> ActionResult:
            """CreateUser, refused when its tags break AWS's rules."""
            check_tags(self._get_param("Tags", []))
            return create_user(self)

        def checked_tag_user(self: iam_responses.IamResponse) -> ActionResult:
            """TagUser, refused when its tags break AWS's rules or the user would pass 50 tags."""
            tags = self._get_param("Tags", [])
            check_tags(tags)
            user = self.backend.get_user(self._get_param("UserName"))
            existing = {t["Key"].lower() for t in self.backend.tagger.list_tags_for_resource(user.arn)["Tags"]}
            if len(existing | {str(t["Key"]).lower() for t in tags}) > MAX_TAGS:
                raise LimitExceededException(f"Cannot exceed quota for TagsPerUser: {MAX_TAGS}")
            return tag_user(self)

        def paged(
            original: Callable[[iam_responses.IamResponse], ActionResult],
            operation: str,
            field: str,
            scope: Callable[[iam_responses.IamResponse, dict[str, Any]], str],
            sort: Callable[[list[Any]], list[Any]] = list,
        ) -> Callable[[iam_responses.IamResponse], ActionResult]:
            def page(self: iam_responses.IamResponse) -> ActionResult:
                """moto's listing, one page of it, with IsTruncated and Marker."""
                limit = strict.page_limit(max_items(self._get_param("MaxItems")))
                result = original(self)
                content = result.result
                if not isinstance(content, dict):
                    return result
                items = sort(list(content.get(field) or []))
                content[field], marker = strict.pager.page(
                    items, operation, scope(self, content), self._get_param("Marker"), limit
                )
                content["IsTruncated"] = marker is not None
                if marker is not None:
                    content["Marker"] = marker
                else:
                    content.pop("Marker", None)
                return result

            return page

        def lagging_keys(keys: list[Any]) -> list[Any]:
            return [
                {
                    "UserName": k.user_name,
                    "AccessKeyId": k.access_key_id,
                    "Status": strict.visible_status(k),
                    "CreateDate": k.create_date,
                }
                for k in keys
            ]

        def tracked_update_access_key(self: iam_responses.IamResponse) -> ActionResult:
            """UpdateAccessKey, remembered so reads can lag behind it."""
            key_id = self._get_param("AccessKeyId")
            before = _find_key(self.backend, key_id)
            status = before.status if before is not None else None
            result = update_access_key(self)
            after = _find_key(self.backend, key_id)
            if status is not None and after is not None and after.status != status:
                strict.history.record(key_id, status, after.status, strict.clock(), strict.read_lag)
            return result

        def lagging_to_csv(self: iam_models.User) -> str:
            """User.to_csv with each key's status as a read sees it now."""
            fields = to_csv(self).rstrip("\n").split(",")
            for index, column in enumerate(ACTIVE_COLUMNS):
                if index < len(self.access_keys):
                    fields[column] = "true" if strict.visible_status(self.access_keys[index]) == "Active" else "false"
            return ",".join(fields) + "\n"

        def generate(self: iam_responses.IamResponse) -> ActionResult:
            """GenerateCredentialReport: STARTED, INPROGRESS, COMPLETE."""
            return ActionResult(strict.generate_report(self.backend))

        def get(self: iam_responses.IamResponse) -> ActionResult:
            """GetCredentialReport: the snapshot, once generated."""
            return ActionResult(strict.read_report(self.backend.account_id))

        responses.create_user = checked_create_user  # type: ignore[method-assign]
        responses.tag_user = checked_tag_user  # type: ignore[method-assign]
        users_page = paged(list_users, "ListUsers", "Users", lambda r, _: str(r._get_param("PathPrefix") or "/"))
        keys_page = paged(
            list_access_keys, "ListAccessKeys", "AccessKeyMetadata", lambda _, c: str(c.get("UserName")), lagging_keys
        )
        tags_page = paged(list_user_tags, "ListUserTags", "Tags", lambda r, _: str(r._get_param("UserName")), _by_key)
        mfa_page = paged(list_mfa_devices, "ListMFADevices", "MFADevices", lambda r, _: str(r._get_param("UserName")))
        responses.list_users = users_page  # type: ignore[method-assign,assignment]
        responses.list_access_keys = keys_page  # type: ignore[method-assign,assignment]
        responses.list_user_tags = tags_page  # type: ignore[method-assign,assignment]
        responses.list_mfa_devices = mfa_page  # type: ignore[method-assign,assignment]
        responses.update_access_key = tracked_update_access_key  # type: ignore[method-assign]
        responses.generate_credential_report = generate  # type: ignore[method-assign]
        responses.get_credential_report = get  # type: ignore[method-assign]
        iam_models.User.to_csv = lagging_to_csv  # type: ignore[method-assign]


def _by_key(tags: list[Any]) -> list[Any]:
    """ListUserTags lists a user's tags sorted by key (IAM API Reference, ListUserTags)."""
    return sorted(tags, key=lambda t: str(t["Key"]))


def _find_key(backend: iam_models.IAMBackend, key_id: str) -> iam_models.AccessKey | None:
    for user in backend.users.values():
        for key in user.access_keys:
            if key.access_key_id == key_id:
                return key
    return None
